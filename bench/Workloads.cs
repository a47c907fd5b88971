// The WORKLOADS runner (shared/bench/WORKLOADS.md): times the reference workloads and prints one
// JSON object, key for key comparable with the PyTorch peer's output.
//   dotnet run -c Release --project bench -- workloads               all implemented workloads
//   dotnet run -c Release --project bench -- workloads --only M2,K5  a subset (prefix match on keys)
//   dotnet run -c Release --project bench -- workloads --quick       fewer repetitions, no K1 n ≥ 1024, no K4 T = 1024
//   dotnet run -c Release --project bench -- workloads --threads 1   single-core figures (compare.sh passes it to the peer too)
//   dotnet run -c Release --project bench -- workloads --cpu-time    one thread, thread CPU time (load-robust; the peer has the same flag)
//   dotnet run -c Release --project bench -- workloads --map-threshold 262144   where elementwise maps start using 2 threads
// The header carries the machine's measured limits (Peak.cs): peak_gflops_1t/2t, triad_gbps.
// Every timed region runs inside a TensorScope, as a training loop does, so pooled memory is
// reused; "alloc_kb" is managed KB allocated per iteration on all threads (GC.GetTotalAllocatedBytes, precise),
// "pool_new_kb" the tensor memory per iteration that the pool could not reuse and had to allocate fresh
// (CpuPool misses): both should be ~0 in steady state.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

public static partial class Workloads
{
    sealed record Options(HashSet<string>? Only, bool Quick);

    public static int Run(string[] args)
    {
        HashSet<string>? only = null;
        bool quick = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--only" when i + 1 < args.Length: only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(); break;
                case "--quick": quick = true; break;
                case "--cpu-time": threadCpuClock = true; WorkerPool.Threads = 1; Gemm.MaxThreads = 1; break;
                case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out int t) && t > 0:
                    WorkerPool.Threads = t; Gemm.MaxThreads = t; i++; break;
                case "--map-threshold" when i + 1 < args.Length && int.TryParse(args[i + 1], out int m) && m > 0:
                    Map.ParallelThreshold = m; i++; break;   // elementwise maps split over the pool from this many elements
                default: Console.Error.WriteLine($"workloads: unknown option '{args[i]}'. Use --only K1,M2, --quick, --threads N, --cpu-time and/or --map-threshold N."); return 2;
            }
        }
        var opt = new Options(only, quick);
        var peak = Peak.Measure();   // first, while the machine is otherwise as quiet as it will be
        var results = new JsonObject();
        foreach (var (key, run) in All(opt))
        {
            if (only != null && !only.Any(o => key.StartsWith(o, StringComparison.OrdinalIgnoreCase))) continue;
            Console.Error.WriteLine($"running {key} …");
            // Each workload starts from an empty pool, as in a process of its own: the pool is bounded
            // and keeps what earlier workloads returned, so leftovers of other sizes could otherwise
            // crowd out this workload's buffers (which would then be fresh memory every step).
            CpuPool.Floats.Trim();
            CpuPool.Ints.Trim();
            results[key] = run();
        }
        var doc = new JsonObject
        {
            ["engine"] = "denoise",
            ["device"] = "cpu",
            ["threads"] = Gemm.MaxThreads,
            ["clock"] = threadCpuClock ? "thread_cpu" : "wall",
            ["machine"] = MachineName(),
            ["peak_gflops_1t"] = Math.Round(peak.Gflops1t, 1),
            ["peak_gflops_2t"] = Math.Round(peak.Gflops2t, 1),
            ["triad_gbps"] = Math.Round(peak.TriadGbps, 1),
            ["results"] = results,
        };
        Console.WriteLine(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    static IEnumerable<(string key, Func<JsonObject> run)> All(Options o)
    {
        foreach (var n in o.Quick ? new[] { 256, 512 } : new[] { 256, 512, 1024, 2048 })
            yield return ($"K1/n={n}", () => GemmWorkload(n, o));
        foreach (var w in KernelWorkloads(o)) yield return w;
        yield return ("K5/silu", () => SiluWorkload(o));
        yield return ("K5/rowsum", () => RowSumWorkload(o));
        foreach (var w in ModelWorkloads(o)) yield return w;
    }

    private static partial IEnumerable<(string key, Func<JsonObject> run)> ModelWorkloads(Options o);

    const double WarmupSeconds = 0.5;
    const int MaxWarmupCalls = 400;

    /// <summary>Median / min / max milliseconds of <paramref name="reps"/> timed calls after warm-up, plus managed KB allocated per call.
    /// Warm-up is at least <paramref name="warmup"/> calls and, for fast bodies, goes on until <see cref="WarmupSeconds"/> have
    /// passed (at most <see cref="MaxWarmupCalls"/> calls): .NET's tiered JIT runs each method's first ~30 calls as unoptimised
    /// tier-0 code and promotes it only after 100 ms without new tier-0 compilations, so two warm-up calls of a 0.5 ms kernel
    /// time the JIT, not the kernel (K3 measured 8.8 ms that way, ~0.7 ms in steady state).</summary>
    static (double median, double min, double max, double allocKb, double poolNewKb) Time(Action body, int warmup, int reps)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmup || (warm.Elapsed.TotalSeconds < WarmupSeconds && i < MaxWarmupCalls); i++) body();
        var ms = new double[reps];
        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        long pool0 = Denoise.CpuPool.Floats.AllocatedBytes + Denoise.CpuPool.Ints.AllocatedBytes;
        for (int i = 0; i < reps; i++)
        {
            if (threadCpuClock)
            {
                double c0 = ThreadCpuMs();
                body();
                ms[i] = ThreadCpuMs() - c0;
                continue;
            }
            long t0 = Stopwatch.GetTimestamp();
            body();
            ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        long poolNew = Denoise.CpuPool.Floats.AllocatedBytes + Denoise.CpuPool.Ints.AllocatedBytes - pool0;
        Array.Sort(ms);
        return (ms[reps / 2], ms[0], ms[^1], alloc / 1024.0 / reps, poolNew / 1024.0 / reps);
    }

    // --cpu-time: one thread, timed by the thread's CPU time (as the peer's --cpu-time): on a machine
    // loaded far beyond its cores, wall time mostly measures the run queue.
    static bool threadCpuClock;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGettime(int clock, out Timespec ts);
    struct Timespec { public long Sec, Nsec; }

    static double ThreadCpuMs()
    {
        ClockGettime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var t);
        return t.Sec * 1e3 + t.Nsec / 1e6;
    }

    static JsonObject Result((double median, double min, double max, double allocKb, double poolNewKb) t, double? flops = null)
    {
        var r = new JsonObject { ["ms"] = Math.Round(t.median, 4), ["min_ms"] = Math.Round(t.min, 4), ["max_ms"] = Math.Round(t.max, 4),
            ["alloc_kb"] = Math.Round(t.allocKb, 1), ["pool_new_kb"] = Math.Round(t.poolNewKb, 1) };
        if (flops is double f) r["gflops"] = Math.Round(f / (t.median * 1e6), 2);
        return r;
    }

    static JsonObject GemmWorkload(int n, Options o)
    {
        var a = Tensor.Randn([n, n], new Generator(1));
        var b = Tensor.Randn([n, n], new Generator(2));
        int reps = o.Quick ? 5 : (n >= 2048 ? 10 : 20);
        var t = Time(() => { using var s = TensorScope.Begin(); a.MatMul(b); }, 2, reps);
        return Result(t, 2.0 * n * n * n);
    }

    static JsonObject SiluWorkload(Options o)
    {
        var x = Tensor.Randn([16 << 20], new Generator(3));
        var t = Time(() => { using var s = TensorScope.Begin(); x.SiLU(); }, 2, o.Quick ? 5 : 20);
        var r = Result(t);
        r["gbps"] = Math.Round(2.0 * 4 * x.Numel / (t.median * 1e6), 2); // read + write
        return r;
    }

    static JsonObject RowSumWorkload(Options o)
    {
        var x = Tensor.Randn([4096, 4096], new Generator(4));
        var t = Time(() => { using var s = TensorScope.Begin(); x.Sum(-1); }, 2, o.Quick ? 5 : 20);
        var r = Result(t);
        r["gbps"] = Math.Round(4.0 * x.Numel / (t.median * 1e6), 2);
        return r;
    }

    static string MachineName()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name")) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return Environment.MachineName;
    }
}
