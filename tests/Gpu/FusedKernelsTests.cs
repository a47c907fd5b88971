// FusedKernelsTests.cs — the GPU row softmax / log-softmax, LayerNorm and flash-attention kernels
// (kernels/Gpu/Norm, kernels/Gpu/Attention) against the CPU reference versions (V0: plain loops in
// double) on ILGPU's CPU accelerator and, where present, CUDA (otherwise ignored with a message).
// Shapes sit on tile edges: one element, rows shorter and longer than a segment, T not a multiple of
// the 8×8 attention tiles the CPU accelerator uses, T = 1, d = 1 and odd d, Tq ≠ Tk, causal and not,
// operands read through offsets and strides as the engine passes head-split views.
// Tolerances: the GPU kernels sum in float trees, the references in double: 2e-5 relative on the CPU
// accelerator; CUDA's exp/log are approximate (≈2 ulp) and ptxas fuses multiply-adds, hence 20× there.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedKernels
using Denoise.Kernels.Cpu;
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using CpuAttention = Denoise.Kernels.Cpu.Attention;
using CpuLayerNorm = Denoise.Kernels.Cpu.LayerNorm;
using CpuSoftmax = Denoise.Kernels.Cpu.Softmax;
using GpuLayerNorm = Denoise.Kernels.Gpu.LayerNorm;
using GpuSoftmax = Denoise.Kernels.Gpu.Softmax;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class FusedKernelsTests
{
    static float Tol(string kind) => kind == GpuDevices.Cuda ? 4e-4f : 2e-5f;

    static void AssertClose(float[] expected, float[] actual, float tol, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tol * MathF.Max(1f, MathF.Abs(expected[i]))), $"{what}[{i}] of {expected.Length}");
    }

    static MemoryBuffer1D<float, Stride1D.Dense> Up(GpuContext gpu, float[] a) => gpu.Accelerator.Allocate1D(a);

    // ───────────────────────────── softmax ─────────────────────────────

    static readonly (int R, int L)[] RowShapes = [(1, 1), (3, 1), (5, 17), (2, 33), (7, 5), (1, 70), (9, 3)];

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void Softmax_ForwardAndBackward_MatchCpuReference(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        foreach (bool log in new[] { false, true })
            foreach (var (R, L) in RowShapes)
            {
                string what = $"{(log ? "log_softmax" : "softmax")} ({R}, {L})";
                var x = GpuDevices.Rand(R * 100 + L, R * L, -3f, 3f);
                var dy = GpuDevices.Rand(R * 100 + L + 1, R * L);
                var y = new float[R * L]; var dx = new float[R * L];
                CpuSoftmax.Forward(NormVersion.V0Reference, x, y, L, log);
                CpuSoftmax.Backward(NormVersion.V0Reference, y, dy, dx, L, log);
                using var gx = Up(gpu, x); using var gdy = Up(gpu, dy);
                using var gy = gpu.Accelerator.Allocate1D<float>(R * L); using var gdx = gpu.Accelerator.Allocate1D<float>(R * L);
                GpuSoftmax.Forward(gpu, gx.View, gy.View, L, log);
                AssertClose(y, gy.GetAsArray1D(), Tol(kind), what + " forward");
                // The backward reads the CPU's y, so it is checked on its own.
                using var gyc = Up(gpu, y);
                GpuSoftmax.Backward(gpu, gyc.View, gdy.View, gdx.View, L, log);
                AssertClose(dx, gdx.GetAsArray1D(), Tol(kind), what + " backward");
            }
    }

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void Softmax_AllMinusInfinityRow_GivesNaN_OtherRowsUntouched(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        float ninf = float.NegativeInfinity;
        var x = new[] { ninf, ninf, ninf, 0f, 1f, ninf };
        using var gx = Up(gpu, x); using var gy = gpu.Accelerator.Allocate1D<float>(6);
        GpuSoftmax.Forward(gpu, gx.View, gy.View, 3, log: false);
        var y = gy.GetAsArray1D();
        Assert.That(y[..3], Has.All.NaN);
        Assert.That(y[3] + y[4], Is.EqualTo(1f).Within(1e-6f));
        Assert.That(y[5], Is.EqualTo(0f));
    }

    [Test]
    public void Softmax_RowsThatDoNotDivideTheView_AreAClearError()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        using var gx = gpu.Accelerator.Allocate1D<float>(10);
        var e = Assert.Throws<ArgumentException>(() => GpuSoftmax.Forward(gpu, gx.View, gx.View, 3, false))!;
        Assert.That(e.Message, Does.Contain("L = 3").And.Contain("10"));
    }

    // ───────────────────────────── LayerNorm ─────────────────────────────

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void LayerNorm_ForwardAndBackward_MatchCpuReference(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        foreach (bool affine in new[] { true, false })
            foreach (var (R, D) in new[] { (1, 1), (3, 7), (9, 17), (5, 33), (2, 64), (13, 2) })
            {
                string what = $"layer_norm ({R}, {D}){(affine ? "" : " no affine")}";
                var x = GpuDevices.Rand(R * 10 + D, R * D, -2f, 3f);
                var dy = GpuDevices.Rand(R * 10 + D + 1, R * D);
                var gamma = affine ? GpuDevices.Rand(D + 2, D, 0.5f, 1.5f) : [];
                var beta = affine ? GpuDevices.Rand(D + 3, D) : [];
                var y = new float[R * D]; var mean = new float[R]; var rstd = new float[R];
                var dx = new float[R * D]; var dg = new float[affine ? D : 0]; var db = new float[affine ? D : 0];
                CpuLayerNorm.Forward(NormVersion.V0Reference, x, gamma, beta, y, mean, rstd, D, 1e-5f);
                CpuLayerNorm.Backward(NormVersion.V0Reference, x, dy, gamma, mean, rstd, dx, dg, db, D);

                using var gx = Up(gpu, x); using var gdy = Up(gpu, dy);
                using var gg = Up(gpu, affine ? gamma : [0f]); using var gb = Up(gpu, affine ? beta : [0f]);
                var gammaView = affine ? gg.View : default; var betaView = affine ? gb.View : default;
                using var gy = gpu.Accelerator.Allocate1D<float>(R * D); using var gdx = gpu.Accelerator.Allocate1D<float>(R * D);
                using var gm = gpu.Accelerator.Allocate1D<float>(R); using var gr = gpu.Accelerator.Allocate1D<float>(R);
                using var gdg = gpu.Accelerator.Allocate1D<float>(D); using var gdb = gpu.Accelerator.Allocate1D<float>(D);
                using var partials = gpu.Accelerator.Allocate1D<float>(GpuLayerNorm.PartialsLength(gpu, R, D));
                GpuLayerNorm.Forward(gpu, gx.View, gammaView, betaView, gy.View, gm.View, gr.View, D, 1e-5f);
                AssertClose(y, gy.GetAsArray1D(), Tol(kind), what + " y");
                AssertClose(mean, gm.GetAsArray1D(), Tol(kind), what + " mean");
                AssertClose(rstd, gr.GetAsArray1D(), Tol(kind), what + " rstd");
                GpuLayerNorm.Backward(gpu, gx.View, gdy.View, gammaView, gm.View, gr.View, gdx.View,
                    affine ? gdg.View : default, affine ? gdb.View : default, partials.View, D);
                AssertClose(dx, gdx.GetAsArray1D(), Tol(kind), what + " dx");
                if (affine)
                {
                    AssertClose(dg, gdg.GetAsArray1D(), Tol(kind), what + " dγ");
                    AssertClose(db, gdb.GetAsArray1D(), Tol(kind), what + " dβ");
                }
            }
    }

    [Test]
    public void LayerNorm_GammaOfTheWrongLength_IsAClearError()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        using var x = gpu.Accelerator.Allocate1D<float>(12); using var g = gpu.Accelerator.Allocate1D<float>(3);
        using var s = gpu.Accelerator.Allocate1D<float>(3);
        var e = Assert.Throws<ArgumentException>(() => GpuLayerNorm.Forward(gpu, x.View, g.View, default, x.View, s.View, s.View, 4, 1e-5f))!;
        Assert.That(e.Message, Does.Contain("γ=3").And.Contain("D = 4"));
    }

    // ───────────────────────────── flash attention ─────────────────────────────

    static readonly (int B, int H, int Tq, int Tk, int D, int Dv, bool Causal)[] AttentionShapes =
    [
        (1, 1, 1, 1, 1, 1, false),      // one of everything
        (1, 1, 1, 1, 1, 1, true),
        (1, 2, 13, 13, 5, 3, false),    // T not a multiple of the 8-row tiles, odd d, Dv ≠ D
        (1, 2, 13, 13, 5, 3, true),
        (2, 1, 17, 9, 4, 4, true),      // Tq > Tk, causal: rows past Tk see every key
        (1, 1, 7, 20, 3, 2, true),      // Tq < Tk, causal: the last keys are seen by no query
        (1, 1, 9, 16, 1, 1, false),     // d = 1
        (1, 1, 16, 16, 8, 8, true),     // exact multiples of the tiles
    ];

    /// <summary>The operand as the engine may pass it: inside a larger buffer, at an offset, rows padded
    /// (StrideT &gt; C) and heads outermost, as a head-split view of a fused projection would be.</summary>
    static (float[] Data, AttentionLayout L) Strided(float[] dense, int B, int H, int T, int C, int seed)
    {
        int pad = 2, offset = 3, strideT = C + pad, strideB = T * strideT, strideH = B * strideB;
        var data = GpuDevices.Rand(seed, offset + H * strideH + 1, -9f, 9f);   // junk between rows must not be read
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++)
                    for (int c = 0; c < C; c++)
                        data[offset + b * strideB + h * strideH + t * strideT + c] = dense[((b * H + h) * T + t) * C + c];
        return (data, new AttentionLayout(offset, strideB, strideH, strideT));
    }

    static FlashLayout Flash(AttentionLayout l) => new((int)l.Offset, (int)l.StrideB, (int)l.StrideH, (int)l.StrideT);

    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void FlashAttention_EveryVersion_ForwardAndBackward_MatchCpuReference(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        int seed = 0;
        foreach (var (B, H, Tq, Tk, D, Dv, causal) in AttentionShapes)
            foreach (bool strided in new[] { false, true })
            {
                seed += 10;
                string what = $"attention B={B} H={H} Tq={Tq} Tk={Tk} D={D} Dv={Dv}{(causal ? " causal" : "")}{(strided ? " strided" : "")}";
                float scale = 1f / MathF.Sqrt(D);
                var s = new AttentionShape(B, H, Tq, Tk, D, Dv, scale, causal);
                var q = GpuDevices.Rand(seed + 1, B * H * Tq * D, -2f, 2f);
                var k = GpuDevices.Rand(seed + 2, B * H * Tk * D, -2f, 2f);
                var v = GpuDevices.Rand(seed + 3, B * H * Tk * Dv);
                var g = GpuDevices.Rand(seed + 4, B * H * Tq * Dv);
                var ql = AttentionLayout.Contiguous(H, Tq, D); var kl = AttentionLayout.Contiguous(H, Tk, D);
                var vl = AttentionLayout.Contiguous(H, Tk, Dv); var gl = AttentionLayout.Contiguous(H, Tq, Dv);
                var o = new float[B * H * Tq * Dv]; var lse = new float[B * H * Tq];
                var dq = new float[q.Length]; var dk = new float[k.Length]; var dv = new float[v.Length];
                CpuAttention.Forward(AttentionVersion.V0Reference, q, ql, k, kl, v, vl, o, lse, s);
                CpuAttention.Backward(AttentionVersion.V0Reference, q, ql, k, kl, v, vl, o, lse, g, gl, dq, dk, dv, s);

                if (strided)
                {
                    (q, ql) = Strided(q, B, H, Tq, D, seed + 5); (k, kl) = Strided(k, B, H, Tk, D, seed + 6);
                    (v, vl) = Strided(v, B, H, Tk, Dv, seed + 7); (g, gl) = Strided(g, B, H, Tq, Dv, seed + 8);
                }
                var args = new FlashArgs(B, H, Tq, Tk, D, Dv, scale, causal, 0, 0, Flash(ql), Flash(kl), Flash(vl), Flash(gl));
                using var gq = Up(gpu, q); using var gk = Up(gpu, k); using var gv = Up(gpu, v); using var gg = Up(gpu, g);
                var acc = gpu.Accelerator;
                using var go = acc.Allocate1D<float>(o.Length); using var glse = acc.Allocate1D<float>(lse.Length);
                using var delta = acc.Allocate1D<float>(lse.Length);
                using var gdq = acc.Allocate1D<float>(dq.Length); using var gdk = acc.Allocate1D<float>(dk.Length); using var gdv = acc.Allocate1D<float>(dv.Length);
                foreach (var version in Enum.GetValues<GpuAttentionVersion>())
                {
                    string wv = $"{version} {what}";
                    FlashAttention.Forward(gpu, version, gq.View, gk.View, gv.View, go.View, glse.View, args);
                    AssertClose(o, go.GetAsArray1D(), Tol(kind), wv + " O");
                    AssertClose(lse, glse.GetAsArray1D(), Tol(kind), wv + " lse");
                    FlashAttention.Backward(gpu, version, gq.View, gk.View, gv.View, go.View, glse.View, gg.View, delta.View, gdq.View, gdk.View, gdv.View, args);
                    AssertClose(dq, gdq.GetAsArray1D(), Tol(kind), wv + " dQ");
                    AssertClose(dk, gdk.GetAsArray1D(), Tol(kind), wv + " dK");
                    AssertClose(dv, gdv.GetAsArray1D(), Tol(kind), wv + " dV");
                }
            }
    }

    [Test]
    public void FlashAttention_AndLayerNormParamGrads_AreBitIdenticalRunToRun()
    {
        // Every output has one writer and every sum a fixed order (no atomics): a rerun gives the same bits.
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        int B = 1, H = 2, T = 19, D = 6;
        var l = FlashLayout.Contiguous(H, T, D);
        var args = new FlashArgs(B, H, T, T, D, D, 0.4f, true, 0, 0, l, l, l, l);
        int n = B * H * T * D;
        using var q = Up(gpu, GpuDevices.Rand(1, n)); using var k = Up(gpu, GpuDevices.Rand(2, n));
        using var v = Up(gpu, GpuDevices.Rand(3, n)); using var g = Up(gpu, GpuDevices.Rand(4, n));
        using var o = gpu.Accelerator.Allocate1D<float>(n); using var lse = gpu.Accelerator.Allocate1D<float>(B * H * T);
        using var delta = gpu.Accelerator.Allocate1D<float>(B * H * T);
        using var dq = gpu.Accelerator.Allocate1D<float>(n); using var dk = gpu.Accelerator.Allocate1D<float>(n); using var dv = gpu.Accelerator.Allocate1D<float>(n);
        float[][] Run()
        {
            FlashAttention.Forward(gpu, q.View, k.View, v.View, o.View, lse.View, args);
            FlashAttention.Backward(gpu, q.View, k.View, v.View, o.View, lse.View, g.View, delta.View, dq.View, dk.View, dv.View, args);
            return [o.GetAsArray1D(), dq.GetAsArray1D(), dk.GetAsArray1D(), dv.GetAsArray1D()];
        }
        var first = Run(); var second = Run();
        for (int i = 0; i < first.Length; i++) Assert.That(second[i], Is.EqualTo(first[i]), $"attention output {i}");

        int R = 11, Dn = 9;
        using var x = Up(gpu, GpuDevices.Rand(5, R * Dn)); using var dy = Up(gpu, GpuDevices.Rand(6, R * Dn));
        using var y = gpu.Accelerator.Allocate1D<float>(R * Dn); using var dx = gpu.Accelerator.Allocate1D<float>(R * Dn);
        using var mean = gpu.Accelerator.Allocate1D<float>(R); using var rstd = gpu.Accelerator.Allocate1D<float>(R);
        using var dg = gpu.Accelerator.Allocate1D<float>(Dn); using var db = gpu.Accelerator.Allocate1D<float>(Dn);
        using var partials = gpu.Accelerator.Allocate1D<float>(GpuLayerNorm.PartialsLength(gpu, R, Dn));
        float[] Grads()
        {
            GpuLayerNorm.Forward(gpu, x.View, default, default, y.View, mean.View, rstd.View, Dn, 1e-5f);
            GpuLayerNorm.Backward(gpu, x.View, dy.View, default, mean.View, rstd.View, dx.View, dg.View, db.View, partials.View, Dn);
            return [.. dx.GetAsArray1D(), .. dg.GetAsArray1D(), .. db.GetAsArray1D()];
        }
        Assert.That(Grads(), Is.EqualTo(Grads()), "layer_norm dx, dγ, dβ");
    }

    [Test]
    public void FlashAttention_TileChoice_FitsSharedMemory_UpToHeadDim256()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        foreach (int d in new[] { 1, 32, 64, 128, 256 })
        {
            Assert.That(FlashAttention.Supports(gpu, d, d), Is.True, $"d = {d}");
            foreach (var pass in Enum.GetValues<FlashAttention.Pass>())
            {
                var t = FlashAttention.Tiles(pass, d, d, cpuAccelerator: false, sharedBytes: 48 * 1024)!.Value;
                int floats = pass switch
                {
                    FlashAttention.Pass.Forward => FlashAttention.ForwardFloats(t.Br, t.Bc, d, d),
                    FlashAttention.Pass.KeyGrads => FlashAttention.KeyGradsFloats(t.Br, t.Bc, d, d),
                    _ => FlashAttention.QueryGradsFloats(t.Br, t.Bc, d, d),
                };
                Assert.That(4 * floats, Is.LessThanOrEqualTo(48 * 1024), $"{pass}, d = {d}, tiles {t}");
            }
        }
        // The choices the kernel header quotes for the WORKLOADS K4 head dims (GPU, 48 KiB).
        Assert.That(FlashAttention.Tiles(FlashAttention.Pass.Forward, 32, 32, false, 48 * 1024), Is.EqualTo(((int, int)?)(64, 32)));
        Assert.That(FlashAttention.Tiles(FlashAttention.Pass.Forward, 64, 64, false, 48 * 1024), Is.EqualTo(((int, int)?)(32, 32)));
        Assert.That(FlashAttention.Tiles(FlashAttention.Pass.Forward, 128, 128, false, 48 * 1024), Is.EqualTo(((int, int)?)(16, 16)));
        Assert.That(FlashAttention.Tiles(FlashAttention.Pass.Forward, 64, 64, true, 48 * 1024), Is.EqualTo(((int, int)?)(8, 8)), "CPU accelerator");
        Assert.That(FlashAttention.Supports(gpu, 0, 4), Is.False, "d = 0 goes to the composed path");
        Assert.That(FlashAttention.Tiles(FlashAttention.Pass.KeyGrads, 4096, 4096, false, 48 * 1024), Is.Null, "nothing fits: the engine composes");
    }

    [Test]
    public void FlashAttention_OperandPastItsBuffer_IsAClearError()
    {
        var gpu = GpuDevices.Get(GpuDevices.IlgpuCpu);
        using var small = gpu.Accelerator.Allocate1D<float>(10);
        using var o = gpu.Accelerator.Allocate1D<float>(2 * 4); using var lse = gpu.Accelerator.Allocate1D<float>(2);
        var l = FlashLayout.Contiguous(1, 2, 4);
        var args = new FlashArgs(1, 1, 2, 3, 4, 4, 0.5f, false, 0, 0, l, FlashLayout.Contiguous(1, 3, 4), FlashLayout.Contiguous(1, 3, 4), l);
        var e = Assert.Throws<ArgumentException>(() => FlashAttention.Forward(gpu, small.View, small.View, small.View, o.View, lse.View, args))!;
        Assert.That(e.Message, Does.Contain("k (1, 1, 3, 4)").And.Contain("buffer of 10"));
    }
}
