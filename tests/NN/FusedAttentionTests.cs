// FusedAttentionTests.cs — F.ScaledDotProductAttention's fused path (engine/NN/Functional.Attention.cs)
// against the composed matmul/softmax reference (F.ScaledDotProductAttentionComposed): forward and
// first-order gradients (through the fused backward kernel) on odd shapes, head-split views, other
// ranks; finite-difference checks of first and second order (second order runs the composed rule);
// and the promise that a T = 1024 forward allocates O(T), not O(T²).
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN.FusedAttention"
using Denoise;
using NUnit.Framework;

namespace Denoise.Tests.NN;

[NonParallelizable]
public class FusedAttentionTests
{
    // Leading dims, Tq, Tk, d, dv
    static IEnumerable<TestCaseData> Shapes()
    {
        foreach (bool causal in new[] { false, true })
        {
            yield return new TestCaseData(new[] { 2, 3 }, 7, 7, 5, 5, causal);
            yield return new TestCaseData(new[] { 1, 2 }, 67, 67, 13, 13, causal);
            yield return new TestCaseData(new[] { 3 }, 1, 1, 1, 1, causal);
            yield return new TestCaseData(Array.Empty<int>(), 11, 5, 4, 6, causal);
            yield return new TestCaseData(new[] { 2, 1, 3 }, 5, 9, 3, 2, causal);
        }
    }

    [TestCaseSource(nameof(Shapes))]
    public void Fused_MatchesComposed_ForwardAndGradients(int[] lead, int Tq, int Tk, int d, int dv, bool causal)
    {
        using var scope = TensorScope.Begin();
        var q = (GradCheck.Rand(1, [.. lead, Tq, d]) * 2f).Detach().RequiresGrad_();
        var k = (GradCheck.Rand(2, [.. lead, Tk, d]) * 2f).Detach().RequiresGrad_();
        var v = GradCheck.Rand(3, [.. lead, Tk, dv]).Detach().RequiresGrad_();
        var g = GradCheck.Rand(4, [.. lead, Tq, dv]);
        float scale = 1f / MathF.Sqrt(d);
        var yf = F.ScaledDotProductAttention(q, k, v, isCausal: causal);
        var yc = F.ScaledDotProductAttentionComposed(q, k, v, null, causal, scale);
        Close(yf, yc, 2e-5);
        var gf = Autograd.Grad([yf], [q, k, v], [g]);
        var gc = Autograd.Grad([yc], [q, k, v], [g]);
        for (int i = 0; i < 3; i++) Close(gf[i]!, gc[i]!, 1e-4);
    }

    [TestCase(false), TestCase(true)]
    public void Fused_HeadSplitViewsOfFusedQkv_MatchComposed(bool causal)
    {
        // The UNet/GPT layout: qkv (B, T, 3·H·d) → (3, B, H, T, d) by reshape + permute, then Select.
        using var scope = TensorScope.Begin();
        int B = 2, T = 19, H = 3, d = 6;
        var x = GradCheck.Rand(5, B, T, 3 * H * d).Detach().RequiresGrad_();
        Tensor Run(bool fused)
        {
            var qkv = (x * 1.5f).Reshape(B, T, 3, H, d).Permute(2, 0, 3, 1, 4);       // (3, B, H, T, d)
            var (q, k, v) = (qkv.Select(0, 0), qkv.Select(0, 1), qkv.Select(0, 2));
            return fused ? F.ScaledDotProductAttention(q, k, v, isCausal: causal)
                         : F.ScaledDotProductAttentionComposed(q, k, v, null, causal, 1f / MathF.Sqrt(d));
        }
        var g = GradCheck.Rand(6, B, H, T, d);
        var yf = Run(true); var yc = Run(false);
        Close(yf, yc, 2e-5);
        Close(Autograd.Grad([yf], [x], [g])[0]!, Autograd.Grad([yc], [x], [g])[0]!, 1e-4);
    }

    [TestCase(false), TestCase(true)]
    public void Fused_Gradients_MatchFiniteDifferences_FirstAndSecondOrder(bool causal)
    {
        Tensor[] Inputs(int seed) => [GradCheck.Rand(seed, 1, 2, 5, 3), GradCheck.Rand(seed + 1, 1, 2, 4, 3), GradCheck.Rand(seed + 2, 1, 2, 4, 2)];
        // Tq = 5 > Tk = 4: with causal the last query sees every key, the first only key 0.
        GradCheck.Check(xs => F.ScaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: causal), Inputs(80), what: "fused sdpa");
        GradCheck.CheckSecondOrder(xs => F.ScaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: causal, scale: 0.7f), Inputs(90),
            what: "fused sdpa");
    }

    [TestCase(false), TestCase(true)]
    public void Fused_T1024_AllocatesLinearInT_NotTSquared(bool causal)
    {
        // One (b, h) problem: the scores alone would be T² = 1M floats (4 MiB); O and lse are 65K + 1K floats.
        const int T = 1024, d = 64;
        const long scoresBytes = 4L * T * T;
        var q = Tensor.Randn([1, 1, T, d], new Generator(1)).RequiresGrad_();
        var k = Tensor.Randn([1, 1, T, d], new Generator(2)).RequiresGrad_();
        var v = Tensor.Randn([1, 1, T, d], new Generator(3)).RequiresGrad_();
        var g = Tensor.Randn([1, 1, T, d], new Generator(4));
        void FwdBwd() { using var s = TensorScope.Begin(); Autograd.Grad([F.ScaledDotProductAttention(q, k, v, isCausal: causal)], [q, k, v], [g]); }
        void Fwd() { using var s = TensorScope.Begin(); using (Autograd.NoGrad()) F.ScaledDotProductAttention(q, k, v, isCausal: causal); }
        // Warm the pools (ours, and the ArrayPool scratch of every worker thread that may run a part).
        for (int i = 0; i < 3; i++) { FwdBwd(); Fwd(); }

        var (pool, gc) = Measure(Fwd);
        Assert.That(pool, Is.LessThanOrEqualTo(4L * (T * d + T) + 1024), "forward: pooled bytes beyond O and lse");
        Assert.That(gc, Is.LessThan(64 << 10), "forward: managed bytes allocated");
        (pool, gc) = Measure(FwdBwd);
        Assert.That(pool, Is.LessThan(scoresBytes / 2), "forward + backward: pooled bytes");
        Assert.That(gc, Is.LessThan(64 << 10), "forward + backward: managed bytes allocated");
    }

    /// <summary>Pooled and managed bytes one call allocates: the least of three calls, because both counters are
    /// process-wide and a background thread (the tiering JIT, a finalizer, another fixture's leftover work) can add
    /// to one call's count; the op's own allocations are the same every call.</summary>
    static (long Pool, long Gc) Measure(Action body)
    {
        long pool = long.MaxValue, gc = long.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            long pool0 = CpuPool.Floats.RentedBytes, gc0 = GC.GetTotalAllocatedBytes(precise: true);
            body();
            pool = Math.Min(pool, CpuPool.Floats.RentedBytes - pool0);
            gc = Math.Min(gc, GC.GetTotalAllocatedBytes(precise: true) - gc0);
        }
        return (pool, gc);
    }

    static void Close(Tensor a, Tensor b, double tol)
    {
        var x = a.ToArray(); var y = b.ToArray();
        Assert.That(x.Length, Is.EqualTo(y.Length));
        for (int i = 0; i < x.Length; i++) Assert.That(x[i], Is.EqualTo(y[i]).Within(tol * (1 + Math.Abs(y[i]))), $"[{i}]");
    }
}
