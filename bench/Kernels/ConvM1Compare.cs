// ConvM1Compare.cs — every convolution of one M1 (UNet-S, B = 64) training step, at kernel level,
// per map (forward, input-grad, weight-grad) and per Conv2d version, interleaved round by round
// in one process. The "step total" line weights each shape by how often M1 uses it, so it is the
// conv part of the M1 step (the op profile of bench `m1 --profile` puts conv at ~85% of the step).
// Rates are GFLOP/s = 2·MACs / time; the machine's 2-core FMA peak is ~445 (docs/MACHINE.md).
// Run: dotnet run -c Release --project bench -- m1conv [--rounds 5] [--threads 1] [--cpu] [--versions V1Chunked,V2Batched] [--shapes 0,18]
// "--versions V4Shaped,Best": Best is the version-less entry points (Conv2d.BestForward/BestInputGrad/BestWeightGrad per shape).
using System.Diagnostics;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

public static class ConvM1Compare
{
    /// <summary>(count in M1, Cin, H, Cout, k, stride, pad): each distinct conv of the M1 UNet at B = 64.</summary>
    static readonly (int Count, int Cin, int H, int Cout, int K, int S, int P)[] Shapes =
    [
        (1, 1, 28, 32, 3, 1, 1),     // stem
        (3, 32, 28, 32, 3, 1, 1),    // down0 conv1, conv2; up0 conv2
        (1, 32, 28, 32, 3, 2, 1),    // downsample 28 → 14
        (1, 32, 14, 64, 3, 1, 1),    // down1 conv1
        (3, 64, 14, 64, 3, 1, 1),    // down1 conv2; up1 conv2; (up1 upsample conv is 28 below)
        (1, 32, 14, 64, 1, 1, 0),    // down1 skip
        (1, 64, 14, 64, 3, 2, 1),    // downsample 14 → 7
        (1, 64, 7, 128, 3, 1, 1),    // down2 conv1
        (6, 128, 7, 128, 3, 1, 1),   // down2 conv2, mid ×4, up2 conv2
        (1, 64, 7, 128, 1, 1, 0),    // down2 skip
        (1, 256, 7, 128, 3, 1, 1),   // up2 conv1
        (1, 256, 7, 128, 1, 1, 0),   // up2 skip
        (1, 128, 14, 128, 3, 1, 1),  // upsample conv at 14
        (1, 192, 14, 64, 3, 1, 1),   // up1 conv1
        (1, 192, 14, 64, 1, 1, 0),   // up1 skip
        (1, 64, 28, 64, 3, 1, 1),    // upsample conv at 28
        (1, 96, 28, 32, 3, 1, 1),    // up0 conv1
        (1, 96, 28, 32, 1, 1, 0),    // up0 skip
        (1, 32, 28, 1, 3, 1, 1),     // head
    ];

    public static int Run(string[] args)
    {
        int Arg(string name, int def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def; }
        int rounds = Arg("--rounds", 5), threads = Arg("--threads", Environment.ProcessorCount);
        WorkerPool.Threads = threads; Gemm.MaxThreads = threads;
        // --cpu: process CPU time instead of wall time (steadier on a loaded machine; with 1 thread it is the work).
        bool cpu = args.Contains("--cpu");
        var proc = Process.GetCurrentProcess();
        double Now() { if (!cpu) return Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency; proc.Refresh(); return proc.TotalProcessorTime.TotalMilliseconds; }
        int vi = Array.IndexOf(args, "--versions");
        var versions = (vi >= 0 ? args[vi + 1] : string.Join(",", Enum.GetNames<Conv2dVersion>().Where(n => n != "V0PerImage")))
            .Split(',').Select(n => n == "Best" ? BestRouted : Enum.Parse<Conv2dVersion>(n)).ToArray();
        const int N = 64;
        var rng = new Random(1);
        var totals = new double[versions.Length, 3];
        string Name(Conv2dVersion v) => v == BestRouted ? "Best (routed)" : v.ToString();
        Console.WriteLine($"{"shape (Cin,H,Cout,k,s)",-26} x  map        " + string.Join("", versions.Select(v => $"{Name(v),26}")));
        // --shapes 0,18: only these rows of Shapes (the step total then covers only them).
        int si = Array.IndexOf(args, "--shapes");
        var only = si >= 0 ? args[si + 1].Split(',').Select(int.Parse).ToHashSet() : null;
        foreach (var (count, cin, h, cout, k, s, pad) in Shapes.Where((_, i) => only == null || only.Contains(i)))
        {
            var p = new Conv2dProblem(N, new Conv2dGeometry(cin, h, h, k, k, s, s, pad, pad), cout);
            float[] x = Fill(p.InputLength, rng), w = Fill(p.WeightLength, rng), y = Fill(p.OutputLength, rng);
            float[] dx = new float[p.InputLength], dw = new float[p.WeightLength], yo = new float[p.OutputLength];
            var maps = new (string Name, Action<Conv2dVersion> Body)[]
            {
                ("forward", v => { if (v == BestRouted) Conv2d.Forward(x, w, yo, p); else Conv2d.Forward(v, x, w, yo, p); }),
                ("input", v => { if (v == BestRouted) Conv2d.InputGrad(y, w, dx, p); else Conv2d.InputGrad(v, y, w, dx, p); }),
                ("weight", v => { if (v == BestRouted) Conv2d.WeightGrad(x, y, dw, p); else Conv2d.WeightGrad(v, x, y, dw, p); }),
            };
            for (int m = 0; m < 3; m++)
            {
                foreach (var v in versions) { maps[m].Body(v); maps[m].Body(v); }
                var ms = versions.Select(_ => new List<double>()).ToArray();
                for (int r = 0; r < rounds; r++)
                    for (int i = 0; i < versions.Length; i++)
                    {
                        double t0 = Now();
                        maps[m].Body(versions[i]);
                        ms[i].Add(Now() - t0);
                    }
                var cells = new List<string>();
                for (int i = 0; i < versions.Length; i++)
                {
                    ms[i].Sort();
                    totals[i, m] += count * ms[i][0];
                    cells.Add($"{ms[i][0],7:F2}/{ms[i][ms[i].Count / 2],7:F2} ms {2.0 * p.Macs / (ms[i][0] * 1e6),5:F0} GF");
                }
                Console.WriteLine($"{$"({cin},{h},{cout},{k},{s})",-26} {count} {maps[m].Name,-8} " + string.Join(" ", cells.Select(c => $"{c,26}")));
            }
        }
        Console.WriteLine("step total (count-weighted min ms): forward / input / weight / all");
        for (int i = 0; i < versions.Length; i++)
            Console.WriteLine($"  {Name(versions[i]),-14} {totals[i, 0],8:F1} {totals[i, 1],8:F1} {totals[i, 2],8:F1} {totals[i, 0] + totals[i, 1] + totals[i, 2],8:F1}");
        return 0;
    }

    /// <summary>Stands for the version-less entry points, which pick a version per shape and map.</summary>
    const Conv2dVersion BestRouted = (Conv2dVersion)(-1);

    static float[] Fill(long n, Random rng)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}
