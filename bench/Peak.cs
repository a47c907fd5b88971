// The machine's limits (shared/bench/WORKLOADS.md "Machine limit"), so kernel figures can be quoted
// as a fraction of what the CPU can do:
//   FP32 FMA peak: 24 independent Vector512 FMA chains (enough to hide the FMA latency × the two
//     FMA pipes of a Zen 5 / Skylake-X core; fewer chains measure latency, not throughput), on 1
//     and on 2 threads. 2 FLOP per lane per FMA. Vector256 when AVX-512 is absent.
//   Memory bandwidth: STREAM triad a[i] = b[i] + s·c[i] over 3 × 64 MiB (far beyond the caches),
//     counted as 3 × 4 bytes per element (STREAM's convention, no write-allocate), 2 threads.
// Best of several rounds: on a shared machine the best round is the one least disturbed.
// Run: dotnet run -c Release --project bench -- peak
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Denoise.Bench;

public static class Peak
{
    public sealed record Figures(double Gflops1t, double Gflops2t, double TriadGbps);

    public static int Run(string[] args)
    {
        var f = Measure();
        Console.WriteLine($"FP32 FMA peak ({(Vector512.IsHardwareAccelerated ? "Vector512" : "Vector256")}, 24 chains): " +
                          $"1 thread {f.Gflops1t:F1} GFLOP/s, 2 threads {f.Gflops2t:F1} GFLOP/s");
        Console.WriteLine($"memory bandwidth, triad (2 threads): {f.TriadGbps:F1} GB/s");
        return 0;
    }

    public static Figures Measure() => new(FmaPeak(1), FmaPeak(2), Triad(2));

    /// <summary>GFLOP/s of <paramref name="threads"/> threads each running the FMA loop at once; best of 5 rounds.</summary>
    static double FmaPeak(int threads)
    {
        const long iters = 20_000_000; // × 24 FMAs × 16 lanes × 2 = 15 GFLOP per thread per round (≈ 70 ms)
        FmaLoop(1000);                 // JIT and wake the core
        double best = 0;
        for (int round = 0; round < 5; round++)
        {
            using var start = new Barrier(threads + 1);
            var ts = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                ts[t] = new Thread(() => { start.SignalAndWait(); FmaLoop(iters); });
                ts[t].Start();
            }
            start.SignalAndWait();
            long t0 = Stopwatch.GetTimestamp();
            foreach (var th in ts) th.Join();
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
            best = Math.Max(best, threads * iters * 24.0 * lanes * 2 / s / 1e9);
        }
        return best;
    }

    /// <summary>24 independent accumulators, each acc = acc·m + a; returns their sum so nothing is dead code.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static float FmaLoop(long iters)
    {
        if (!Vector512.IsHardwareAccelerated) return FmaLoop256(iters);
        var m = Vector512.Create(0.999999f); var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0,
            c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0,
            c16 = c0, c17 = c0, c18 = c0, c19 = c0, c20 = c0, c21 = c0, c22 = c0, c23 = c0;
        for (long i = 0; i < iters; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a);
            c2 = Vector512.FusedMultiplyAdd(c2, m, a); c3 = Vector512.FusedMultiplyAdd(c3, m, a);
            c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a);
            c8 = Vector512.FusedMultiplyAdd(c8, m, a); c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
            c12 = Vector512.FusedMultiplyAdd(c12, m, a); c13 = Vector512.FusedMultiplyAdd(c13, m, a);
            c14 = Vector512.FusedMultiplyAdd(c14, m, a); c15 = Vector512.FusedMultiplyAdd(c15, m, a);
            c16 = Vector512.FusedMultiplyAdd(c16, m, a); c17 = Vector512.FusedMultiplyAdd(c17, m, a);
            c18 = Vector512.FusedMultiplyAdd(c18, m, a); c19 = Vector512.FusedMultiplyAdd(c19, m, a);
            c20 = Vector512.FusedMultiplyAdd(c20, m, a); c21 = Vector512.FusedMultiplyAdd(c21, m, a);
            c22 = Vector512.FusedMultiplyAdd(c22, m, a); c23 = Vector512.FusedMultiplyAdd(c23, m, a);
        }
        var sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
                + ((c12 + c13) + (c14 + c15)) + ((c16 + c17) + (c18 + c19)) + ((c20 + c21) + (c22 + c23));
        return Vector512.Sum(sum);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static float FmaLoop256(long iters)
    {
        var m = Vector256.Create(0.999999f); var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0,
            c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iters * 2; i++)   // 12 chains × 2 = the same FLOP count as 24 × Vector512 / 2
        {
            c0 = Vector256.FusedMultiplyAdd(c0, m, a); c1 = Vector256.FusedMultiplyAdd(c1, m, a);
            c2 = Vector256.FusedMultiplyAdd(c2, m, a); c3 = Vector256.FusedMultiplyAdd(c3, m, a);
            c4 = Vector256.FusedMultiplyAdd(c4, m, a); c5 = Vector256.FusedMultiplyAdd(c5, m, a);
            c6 = Vector256.FusedMultiplyAdd(c6, m, a); c7 = Vector256.FusedMultiplyAdd(c7, m, a);
            c8 = Vector256.FusedMultiplyAdd(c8, m, a); c9 = Vector256.FusedMultiplyAdd(c9, m, a);
            c10 = Vector256.FusedMultiplyAdd(c10, m, a); c11 = Vector256.FusedMultiplyAdd(c11, m, a);
        }
        var sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
        return Vector256.Sum(sum);
    }

    /// <summary>GB/s of a[i] = b[i] + s·c[i] split over <paramref name="threads"/> threads; best of 5 rounds after a touch pass.</summary>
    static double Triad(int threads)
    {
        const int n = 16 << 20;   // 64 MiB per array
        var a = GC.AllocateUninitializedArray<float>(n);
        var b = new float[n]; var c = new float[n];
        b.AsSpan().Fill(1f); c.AsSpan().Fill(2f); a.AsSpan().Fill(0f);   // touch every page before timing
        double best = 0;
        for (int round = 0; round < 6; round++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int lo = (int)((long)n * t / threads), hi = (int)((long)n * (t + 1) / threads);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(c.AsSpan(lo, hi - lo), 3f, b.AsSpan(lo, hi - lo), a.AsSpan(lo, hi - lo));
            });
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (round > 0) best = Math.Max(best, 3.0 * 4 * n / s / 1e9);   // round 0 is the warm-up
        }
        return best;
    }
}
