// Conv2d.V6Stem.cs — the input gradient of a single-input-channel 3 × 3 stride-1 convolution (the K2 / M1
// stem, x (N, 1, 28, 28) → 32 channels), as a direct stencil over dx pixels instead of an implicit GEMM.
//
// Why: with Cin = 1 the input-grad GEMM has one row (M = 1). V4's 1 × 128 tile reads one unaligned grid
// vector per FMA out of a 32-channel lowered gy (bench/results/cpu-2026-11-23-conv.md: 2.1 ms of CPU time
// for 29 MFLOP, 14 GFLOP/s). Here each dx row is 16-pixel vectors, and one gy row loaded at the three
// column shifts (kj = 0, 1, 2) feeds the three dx rows it reaches (ki = 0, 1, 2), so a block of 4 dx rows
// costs 6 gy rows × 3 shifts × 2 vectors = 36 loads for 72 FMAs, with the channel's 9 weights held in
// registers. Math, stride 1, dilation 1 (transposed convolution):
//   dx[n, ih, iw] = Σ_co Σ_ki Σ_kj gy[n, co, ih + PH − ki, iw + PW − kj] · w[co, ki, kj]   (gy outside = 0)
// Layout: channels run outermost; each gy channel is first copied into a zero-padded L1 plane (2 rows /
// columns of zeros before, enough after for the last 4-row block and 32-column chunk), so no tap needs a
// bounds test; dx accumulates in an L1 scratch image (rows padded to 4, columns to 32) that is read and
// written once per channel and block, then copied out (bias added first, as the accumulator's start).
// Bits: every dx pixel sums channel by channel, then ki = 2, 1, 0, then kj = 0, 1, 2, whatever the image
// partition, so 1 and 2 threads give the same bits (tests/Kernels/Conv2dTests.cs); they differ from V0's
// GEMM order only by rounding.
// Bench: dotnet run -c Release --project bench -- m1conv --shapes 0 --threads 1 --cpu --versions V4Shaped,V6Stem
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Cpu;

public static unsafe partial class Conv2d
{
    /// <summary>Shapes the stem kernel computes: one input channel, no groups, 3 × 3, stride 1, dilation 1.</summary>
    static bool V6StemFits(in Conv2dProblem p) =>
        V3Supported && p.Groups == 1 && p.Cin == 1 && p.Geo.KH == 3 && p.Geo.KW == 3
        && p.Geo.SH == 1 && p.Geo.SW == 1 && p.Geo.DH == 1 && p.Geo.DW == 1;

    const int StemRows = 4, StemCols = 32;

    static void V6InputGrad(float* gy, float* w, float* bias, float* dx, in Conv2dProblem p)
    {
        if (p.N == 0) return;
        // Images are independent and each pixel's order is fixed, so the part count may follow the threads.
        int parts = Math.Min(p.N, Math.Max(1, WorkerPool.Threads));
        var job = new StemInputGradJob(gy, w, bias, dx, p, parts);
        if (parts == 1) job.Execute(0); else WorkerPool.Run(job, parts);
    }

    [ThreadStatic] static float[]? t_stem;

    readonly struct StemInputGradJob(float* gy, float* w, float* bias, float* dx, Conv2dProblem p, int parts) : IParallelJob
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int part)
        {
            var g = p.Geo;
            int H = g.H, W = g.W, Hout = g.Hout, Wout = g.Wout;
            int Hr = (H + StemRows - 1) / StemRows * StemRows, Wr = (W + StemCols - 1) / StemCols * StemCols;
            // Padded gy plane: padded row = oh + 2, column = ow + 2; the last block reads up to row
            // Hr − 4 + PH + 5 and column Wr − 32 + PW + 2 + 31.
            int Hp = Math.Max(Hout + 2, Hr + g.PH + 2), Wp = (Math.Max(Wout + 2, Wr + g.PW + 2) + 15) & ~15;
            int planeLen = Hp * Wp, accLen = Hr * Wr;
            if (t_stem == null || t_stem.Length < planeLen + accLen + 16)
                t_stem = GC.AllocateUninitializedArray<float>(planeLen + accLen + 16, pinned: true);
            float* plane = (float*)Unsafe.AsPointer(ref t_stem[0]);
            // 64-byte aligned accumulator rows (Wr is a multiple of 32).
            float* acc = (float*)(((nint)(plane + planeLen) + 63) & ~(nint)63);
            new Span<float>(plane, planeLen).Clear();
            var (n0, count) = WorkerPool.Range(p.N, parts, part);
            float b = bias == null ? 0f : bias[0];
            int P = Hout * Wout;
            for (int n = n0; n < n0 + count; n++)
            {
                new Span<float>(acc, accLen).Fill(b);
                for (int co = 0; co < p.Cout; co++)
                {
                    float* src = gy + ((long)n * p.Cout + co) * P;
                    // Only the interior is rewritten: the zero border stays zero across channels and images.
                    for (int oh = 0; oh < Hout; oh++)
                        new ReadOnlySpan<float>(src + oh * Wout, Wout).CopyTo(new Span<float>(plane + (oh + 2) * Wp + 2, Wout));
                    float* wc = w + co * 9;
                    for (int ih0 = 0; ih0 < Hr; ih0 += StemRows)
                        for (int c0 = 0; c0 < Wr; c0 += StemCols)
                            StemBlock(plane + (ih0 + g.PH) * Wp + c0 + g.PW, Wp, wc, acc + ih0 * Wr + c0, Wr);
                }
                float* d = dx + (long)n * H * W;
                for (int ih = 0; ih < H; ih++)
                    new ReadOnlySpan<float>(acc + ih * Wr, W).CopyTo(new Span<float>(d + ih * W, W));
            }
        }
    }

    /// <summary>4 dx rows × 32 columns += one channel's 3 × 3 taps. g points at padded gy row ih0 + PH,
    /// column c0 + PW (the kj = 2 shift); gy row j of the block (j = 0..5) reaches dx row j − 2 + ki'
    /// with ki' = 2 − ki, so dx row r takes rows r (ki = 2), r + 1 (ki = 1), r + 2 (ki = 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void StemBlock(float* g, int Wp, float* w, float* acc, int Wr)
    {
        var w00 = Vector512.Create(w[0]); var w01 = Vector512.Create(w[1]); var w02 = Vector512.Create(w[2]);
        var w10 = Vector512.Create(w[3]); var w11 = Vector512.Create(w[4]); var w12 = Vector512.Create(w[5]);
        var w20 = Vector512.Create(w[6]); var w21 = Vector512.Create(w[7]); var w22 = Vector512.Create(w[8]);
        var a00 = Vector512.Load(acc); var a01 = Vector512.Load(acc + 16);
        var a10 = Vector512.Load(acc + Wr); var a11 = Vector512.Load(acc + Wr + 16);
        var a20 = Vector512.Load(acc + 2 * Wr); var a21 = Vector512.Load(acc + 2 * Wr + 16);
        var a30 = Vector512.Load(acc + 3 * Wr); var a31 = Vector512.Load(acc + 3 * Wr + 16);
        // Row j: vectors at shifts kj = 0 (column +2), 1 (+1), 2 (+0).
        float* r = g;
        Vector512<float> l0, l1, m0, m1, n0, n1;
        // j = 0: ki = 2 → dx row 0.
        Load6(r, out l0, out l1, out m0, out m1, out n0, out n1);
        Tap3(ref a00, ref a01, w20, w21, w22, l0, l1, m0, m1, n0, n1);
        r += Wp; // j = 1: ki = 2 → row 1; ki = 1 → row 0.
        Load6(r, out l0, out l1, out m0, out m1, out n0, out n1);
        Tap3(ref a00, ref a01, w10, w11, w12, l0, l1, m0, m1, n0, n1);
        Tap3(ref a10, ref a11, w20, w21, w22, l0, l1, m0, m1, n0, n1);
        r += Wp; // j = 2: rows 0 (ki = 0), 1, 2.
        Load6(r, out l0, out l1, out m0, out m1, out n0, out n1);
        Tap3(ref a00, ref a01, w00, w01, w02, l0, l1, m0, m1, n0, n1);
        Tap3(ref a10, ref a11, w10, w11, w12, l0, l1, m0, m1, n0, n1);
        Tap3(ref a20, ref a21, w20, w21, w22, l0, l1, m0, m1, n0, n1);
        r += Wp; // j = 3: rows 1, 2, 3.
        Load6(r, out l0, out l1, out m0, out m1, out n0, out n1);
        Tap3(ref a10, ref a11, w00, w01, w02, l0, l1, m0, m1, n0, n1);
        Tap3(ref a20, ref a21, w10, w11, w12, l0, l1, m0, m1, n0, n1);
        Tap3(ref a30, ref a31, w20, w21, w22, l0, l1, m0, m1, n0, n1);
        r += Wp; // j = 4: rows 2, 3.
        Load6(r, out l0, out l1, out m0, out m1, out n0, out n1);
        Tap3(ref a20, ref a21, w00, w01, w02, l0, l1, m0, m1, n0, n1);
        Tap3(ref a30, ref a31, w10, w11, w12, l0, l1, m0, m1, n0, n1);
        r += Wp; // j = 5: row 3.
        Load6(r, out l0, out l1, out m0, out m1, out n0, out n1);
        Tap3(ref a30, ref a31, w00, w01, w02, l0, l1, m0, m1, n0, n1);
        a00.Store(acc); a01.Store(acc + 16);
        a10.Store(acc + Wr); a11.Store(acc + Wr + 16);
        a20.Store(acc + 2 * Wr); a21.Store(acc + 2 * Wr + 16);
        a30.Store(acc + 3 * Wr); a31.Store(acc + 3 * Wr + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Load6(float* r, out Vector512<float> l0, out Vector512<float> l1, out Vector512<float> m0,
        out Vector512<float> m1, out Vector512<float> n0, out Vector512<float> n1)
    {
        l0 = Vector512.Load(r + 2); l1 = Vector512.Load(r + 18);
        m0 = Vector512.Load(r + 1); m1 = Vector512.Load(r + 17);
        n0 = Vector512.Load(r); n1 = Vector512.Load(r + 16);
    }

    /// <summary>One dx row's 32 columns += one ki's taps kj = 0, 1, 2 (in that order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tap3(ref Vector512<float> a0, ref Vector512<float> a1, Vector512<float> w0, Vector512<float> w1, Vector512<float> w2,
        Vector512<float> l0, Vector512<float> l1, Vector512<float> m0, Vector512<float> m1, Vector512<float> n0, Vector512<float> n1)
    {
        a0 = Vector512.FusedMultiplyAdd(w0, l0, a0); a1 = Vector512.FusedMultiplyAdd(w0, l1, a1);
        a0 = Vector512.FusedMultiplyAdd(w1, m0, a0); a1 = Vector512.FusedMultiplyAdd(w1, m1, a1);
        a0 = Vector512.FusedMultiplyAdd(w2, n0, a0); a1 = Vector512.FusedMultiplyAdd(w2, n1, a1);
    }
}
