// FusedOpsTests.cs — the engine's fused ops on a GPU device take the GPU kernels (kernels/Gpu/Norm,
// kernels/Gpu/Attention) where CPU tensors take the CPU ones: softmax / log-softmax over the last
// axis, F.LayerNorm and F.ScaledDotProductAttention (no mask; causal or not). Checked on ILGPU's CPU
// accelerator and, where present, CUDA (otherwise ignored): forward and first-order gradients match
// the CPU device with zero host fallbacks and the fused kernel loaded; under create-graph the backward
// is built from differentiable ops on both devices, so second-order gradients match too.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedOps
using Denoise.Kernels.Gpu;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

[TestFixture("ilgpu-cpu"), TestFixture("cuda"), NonParallelizable]   // DeviceFallbacks is process-wide
public class FusedOpsTests(string kind)
{
    GpuDevice dev = null!;
    float tolScale = 1f;

    [SetUp]
    public void PickDevice()
    {
        dev = GpuDevices.EngineDevice(kind);
        tolScale = kind == "cuda" ? 20f : 1f;   // CUDA's exp/log ≈ 2 ulp and contracted FMAs (as DevicesTests)
    }

    static Tensor R(int seed, params int[] shape) => GradCheck.Rand(seed, shape);

    void AssertClose(Tensor expected, Tensor actual, float tol, string what)
    {
        Assert.That(actual.Shape.ToArray(), Is.EqualTo(expected.Shape.ToArray()), what + ": shape");
        var e = expected.ToArray(); var a = actual.ToArray();
        for (int i = 0; i < e.Length; i++)
            Assert.That(a[i], Is.EqualTo(e[i]).Within(tolScale * tol * MathF.Max(1f, MathF.Abs(e[i]))), $"{what}[{i}] of {e.Length}");
    }

    /// <summary>
    /// y = f(inputs) and the gradients of Σ w·y (w fixed random weights) agree between the CPU and the
    /// device; the device run falls back to the host nowhere and launched <paramref name="kernel"/>.
    /// With <paramref name="secondOrder"/>, the create-graph gradient g is differentiated again through
    /// Σ g² on both devices and those gradients agree as well.
    /// </summary>
    void GradParity(string what, string kernel, Func<Tensor[], Tensor> f, bool secondOrder, params Tensor[] inputs)
    {
        (Tensor y, Tensor[] grads, Tensor?[] second) Run(Device d)
        {
            var xs = inputs.Select(t => t.To(d).Detach().RequiresGrad_()).ToArray();
            var y = f(xs);
            var w = GradCheck.Rand(99, y.Shape.ToArray()).To(d);
            var loss = (y * w).Sum();
            if (!secondOrder)
            {
                loss.Backward();
                return (y, xs.Select(x => x.Grad!).ToArray(), []);
            }
            var g = Autograd.Grad([loss], xs, createGraph: true);
            var penalty = g.Select(t => (t! * t!).Sum()).Aggregate((a, b) => a + b);
            penalty.Backward();
            return (y, g.Select(t => t!.Detach()).ToArray(), xs.Select(x => x.Grad).ToArray());   // null: Σ g² does not depend on x (β)
        }
        var (ye, ge, se) = Run(Device.Cpu);
        DeviceFallbacks.Reset();
        var (ya, ga, sa) = Run(dev);
        Assert.That(DeviceFallbacks.Total, Is.Zero, what + ": " + DeviceFallbacks.Report());
        Assert.That(dev.KernelCompileMilliseconds.ContainsKey(kernel), Is.True, $"{what}: {kernel} was launched");
        AssertClose(ye, ya, 2e-5f, what);
        for (int i = 0; i < ge.Length; i++)
        {
            Assert.That(ga[i].Device, Is.SameAs(dev), $"{what}: grad {i} device");
            AssertClose(ge[i], ga[i], 3e-5f, $"{what}: grad of input {i}");
        }
        for (int i = 0; i < se.Length; i++)
        {
            Assert.That(sa[i] is null, Is.EqualTo(se[i] is null), $"{what}: second-order grad of input {i} exists on both or neither");
            if (se[i] != null) AssertClose(se[i]!, sa[i]!, 1e-4f, $"{what}: second-order grad of input {i}");
        }
    }

    [Test]
    public void Softmax_AndLogSoftmax_TakeTheGpuKernels_AndMatchCpu()
    {
        GradParity("softmax (3, 5, 17)", "Softmax.Backward", t => t[0].Softmax(-1), false, R(1, 3, 5, 17) * 3f);
        GradParity("log_softmax (4, 33)", "Softmax.Backward", t => t[0].LogSoftmax(1), false, R(2, 4, 33) * 3f);
        GradParity("softmax over dim 1 of (2, 9, 1)", "Softmax.Forward", t => t[0].Softmax(1), false, R(3, 2, 9, 1));
        GradParity("softmax, second order", "Softmax.Forward", t => t[0].Softmax(-1), true, R(4, 3, 7));
        GradParity("log_softmax, second order", "Softmax.Forward", t => t[0].LogSoftmax(-1), true, R(5, 3, 7));
    }

    [Test]
    public void LayerNorm_TakesTheGpuKernels_AndMatchesCpu()
    {
        GradParity("layer_norm (9, 17), affine", "LayerNorm.ParamPartials", t => F.LayerNorm(t[0], 17, t[1], t[2]), false,
            R(10, 9, 17), R(11, 17), R(12, 17));
        GradParity("layer_norm over (2, 5)", "LayerNorm.Backward", t => F.LayerNorm(t[0], [2, 5], t[1], t[2]), false,
            R(13, 3, 2, 5), R(14, 2, 5), R(15, 2, 5));
        GradParity("layer_norm, no affine", "LayerNorm.Backward", t => F.LayerNorm(t[0], 6), false, R(16, 4, 6));
        GradParity("layer_norm, second order", "LayerNorm.Forward", t => F.LayerNorm(t[0], 5, t[1], t[2]), true,
            R(17, 3, 5), R(18, 5), R(19, 5));
    }

    [Test]
    public void LayerNorm_WeightOnAnotherDevice_IsAClearError()
    {
        var x = R(20, 2, 4).To(dev);
        var e = Assert.Throws<ArgumentException>(() => F.LayerNorm(x, 4, Tensor.Ones(4)))!;
        Assert.That(e.Message, Does.Contain("layer_norm").And.Contain("different devices"));
    }

    [Test]
    public void Attention_TakesTheFlashKernels_AndMatchesCpu()
    {
        Func<Tensor[], Tensor> Sdpa(bool causal) => t => F.ScaledDotProductAttention(t[0], t[1], t[2], isCausal: causal);
        GradParity("attention (2, 2, 13, 5)", "FlashAttention.QueryGrads", Sdpa(false), false, R(30, 2, 2, 13, 5), R(31, 2, 2, 13, 5), R(32, 2, 2, 13, 5));
        GradParity("causal attention, Tq 17 > Tk 9, d 3, dv 2", "FlashAttention.KeyGrads", Sdpa(true), false,
            R(33, 1, 17, 3), R(34, 1, 9, 3), R(35, 1, 9, 2));
        GradParity("attention T = 1, d = 1", "FlashAttention.Forward", Sdpa(true), false, R(36, 3, 1, 1), R(37, 3, 1, 1), R(38, 3, 1, 1));
        GradParity("causal attention, second order (composed backward)", "FlashAttention.Forward", Sdpa(true), true,
            R(39, 2, 6, 3), R(40, 2, 6, 3), R(41, 2, 6, 3));
    }

    [Test]
    public void Attention_OnHeadSplitViewsOfAFusedProjection_ReadsThemInPlace()
    {
        // qkv (B, T, 3, heads, d) permuted to (3, B, heads, T, d), then split: strided views, no copies.
        GradParity("attention on qkv views", "FlashAttention.Forward", t =>
        {
            var qkv = t[0].Reshape(2, 11, 3, 2, 4).Permute(2, 0, 3, 1, 4);
            return F.ScaledDotProductAttention(qkv.Select(0, 0), qkv.Select(0, 1), qkv.Select(0, 2), isCausal: true);
        }, false, R(50, 2, 11, 24));
    }
}
