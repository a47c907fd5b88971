// OpProfiler — an opt-in, per-op wall-time and memory profile of a training step, cheap enough to
// leave compiled in (one static bool test per recorded op when off).
//
// How time is attributed, without touching the ~40 op call sites: every differentiable op ends
// with Autograd.Record, so on the profiled thread the wall time since the previous Record (or
// since Mark / a Section) is charged to the op now recording — its own forward kernel plus any
// unrecorded helpers it called (Empty, Contiguous copies, validation). Ops composed of other ops
// (Linear = matmul + add) show up as their parts. Backward is charged per tape node in
// Autograd.Run: the node's rule plus the accumulation of its input gradients; Records made inside a
// backward rule are not charged again. Leaf-gradient accumulation and the tape's topological sort
// have their own rows. Anything else (an optimizer step) can be wrapped in Section(name).
// Per row: calls, wall ms, float-pool bytes rented (CpuPool.Floats.RentedBytes; a step's
// temporaries), fresh pool bytes (pool misses: memory first touched in this step), and managed
// bytes allocated on this thread (closures, small arrays; GC.GetAllocatedBytesForCurrentThread).
//
// Single-thread: profile the thread that runs the step (WorkerPool workers never record).
// ThreadCpuTime (Linux): charge the profiled thread's CPU time instead of wall time. On a machine loaded
// far beyond its cores, wall time mostly measures the run queue; with WorkerPool.Threads = 1 the
// thread's CPU time is the work itself (one clock_gettime per Record, ~0.2 µs).
// On a GPU device the report ends with DeviceFallbacks.Report(): the ops that ran on the host for lack of a kernel.
// Usage:   OpProfiler.Enabled = true; OpProfiler.Reset(); … one step …; Console.Write(OpProfiler.Report());
// Bench:   dotnet run -c Release --project bench -- m1 [--profile]      (bench/Kernels/M1Step.cs)
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Denoise.Diagnostics;

public static class OpProfiler
{
    /// <summary>Turns profiling on for the thread that runs the step. Off: Record pays one bool test.</summary>
    public static bool Enabled { get; set; }

    /// <summary>Charge thread CPU time (CLOCK_THREAD_CPUTIME_ID) instead of wall time; Linux only.</summary>
    public static bool ThreadCpuTime { get; set; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGettime(int clock, out Timespec ts);
    struct Timespec { public long Sec, Nsec; }

    /// <summary>Now, in Stopwatch ticks: wall clock, or this thread's CPU clock when <see cref="ThreadCpuTime"/>.</summary>
    static long Now()
    {
        if (!ThreadCpuTime) return Stopwatch.GetTimestamp();
        ClockGettime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var t);
        return (long)((t.Sec * 1_000_000_000L + t.Nsec) * (Stopwatch.Frequency / 1e9));
    }

    public enum Phase { Forward, Backward, Section }

    /// <summary>One row of the profile.</summary>
    public sealed class Entry
    {
        public required string Op { get; init; }
        public required Phase Phase { get; init; }
        public long Calls;
        public long Ticks;
        public long PoolBytes;
        public long FreshBytes;
        public long ManagedBytes;
        public double Ms => Ticks * 1000.0 / Stopwatch.Frequency;
    }

    static readonly Dictionary<(string, Phase), Entry> entries = new();
    static long lastTicks, lastPool, lastFresh, lastManaged;
    static int backwardDepth;

    /// <summary>Clears every row and restarts the forward clock.</summary>
    public static void Reset() { entries.Clear(); Mark(); }

    /// <summary>Restarts the forward clock: time before this is charged to nobody.</summary>
    public static void Mark()
    {
        lastTicks = Now();
        lastPool = CpuPool.Floats.RentedBytes;
        lastFresh = CpuPool.Floats.AllocatedBytes;
        lastManaged = GC.GetAllocatedBytesForCurrentThread();
    }

    public static IReadOnlyCollection<Entry> Entries => entries.Values;

    /// <summary>Called by Autograd.Record: charges the time since the last mark to <paramref name="op"/>'s forward.</summary>
    internal static void OnRecord(string op)
    {
        if (backwardDepth > 0) return;
        Charge(op, Phase.Forward);
    }

    static void Charge(string op, Phase phase)
    {
        long now = Now(), pool = CpuPool.Floats.RentedBytes, fresh = CpuPool.Floats.AllocatedBytes;
        long managed = GC.GetAllocatedBytesForCurrentThread();
        if (!entries.TryGetValue((op, phase), out var e)) entries[(op, phase)] = e = new Entry { Op = op, Phase = phase };
        e.Calls++;
        e.Ticks += now - lastTicks;
        e.PoolBytes += pool - lastPool;
        e.FreshBytes += fresh - lastFresh;
        e.ManagedBytes += managed - lastManaged;
        lastTicks = now; lastPool = pool; lastFresh = fresh; lastManaged = managed;
    }

    /// <summary>Brackets one backward rule (Autograd.Run): Mark at the start, Charge at the end.</summary>
    internal static void BeginBackward() { backwardDepth++; Mark(); }
    internal static void EndBackward(string op) { Charge(op, Phase.Backward); backwardDepth--; }

    /// <summary><c>using (OpProfiler.Section("adamw")) opt.Step();</c> — charges the block to its own row.</summary>
    public static SectionScope Section(string name)
    {
        if (!Enabled) return default;
        Mark();
        return new SectionScope(name);
    }

    public readonly struct SectionScope : IDisposable
    {
        readonly string? name;
        internal SectionScope(string name) { this.name = name; }
        public void Dispose() { if (name != null) { Charge(name, Phase.Section); Mark(); } }
    }

    /// <summary>A table of the top rows by time (all rows when <paramref name="top"/> ≤ 0), per phase and in total.</summary>
    public static string Report(int top = 20, int steps = 1)
    {
        var sb = new StringBuilder();
        double total = entries.Values.Sum(e => e.Ms);
        foreach (var phase in new[] { Phase.Forward, Phase.Backward, Phase.Section })
        {
            var rows = entries.Values.Where(e => e.Phase == phase).OrderByDescending(e => e.Ticks).ToList();
            if (rows.Count == 0) continue;
            double phaseMs = rows.Sum(e => e.Ms);
            sb.AppendLine(CultureInfo.InvariantCulture, $"{phase}: {phaseMs / steps:F1} ms/step ({100 * phaseMs / Math.Max(total, 1e-9):F0}% of profiled time), {rows.Sum(e => e.Calls) / steps} calls/step");
            sb.AppendLine("  op                              calls     ms/step     %   ms/call   pool MB  fresh MB  managed KB");
            foreach (var e in top > 0 ? rows.Take(top) : rows)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"  {e.Op,-30} {e.Calls / steps,6} {e.Ms / steps,11:F2} {100 * e.Ms / Math.Max(total, 1e-9),5:F1} {e.Ms / Math.Max(e.Calls, 1),9:F3} " +
                    $"{e.PoolBytes / 1e6 / steps,9:F1} {e.FreshBytes / 1e6 / steps,9:F1} {e.ManagedBytes / 1e3 / steps,11:F0}");
            if (top > 0 && rows.Count > top)
                sb.AppendLine(CultureInfo.InvariantCulture, $"  … {rows.Count - top} more rows, {rows.Skip(top).Sum(e => e.Ms) / steps:F2} ms/step");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"Profiled total: {total / steps:F1} ms/step");
        if (DeviceFallbacks.Total > 0) sb.Append(DeviceFallbacks.Report());   // GPU ops that ran on the host
        return sb.ToString();
    }
}
