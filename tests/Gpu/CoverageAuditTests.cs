// CoverageAuditTests.cs — which ops still reach device data through the host accessors (a counted
// DeviceFallbacks entry) on a GPU device. Runs one representative call of (nearly) every public op,
// forward and backward, on ILGPU's CPU accelerator at tiny shapes, counts the fallbacks per op, and
// asserts that only the documented ones remain (engine/Devices/GpuOps.cs's header lists them).
// The per-op report is written to the test output: run it to see the current list.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.CoverageAudit
using Denoise.NN;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

[TestFixture, NonParallelizable]   // DeviceFallbacks is process-wide
public class CoverageAuditTests
{
    /// <summary>Ops allowed to fall back, and why (see GpuOps' header).</summary>
    static readonly HashSet<string> Documented = [];   // none left at these ranks (rank > 6 gather/scatter still falls back)

    static Tensor R(int seed, params int[] shape) => GradCheck.Rand(seed, shape);

    /// <summary>(op label, body) — each body runs on the device tensors given by `d`.</summary>
    static IEnumerable<(string, Action<Device>)> Ops()
    {
        Tensor G(int seed, Device d, params int[] shape) => R(seed, shape).To(d).RequiresGrad_();
        void Back(Tensor y) => (y * y).Sum().Backward();
        yield return ("elementwise", d =>
        {
            var x = G(1, d, 3, 4); var z = G(2, d, 3, 4);
            Back(x.Abs() + x.Exp() + (x.Abs() + 0.5f).Log() + (x.Abs() + 0.5f).Sqrt() + x.Sin() + x.Cos() + x.Tanh() + x.Sigmoid()
                 + x.Relu() + x.SiLU() + x.Softplus() + x.Erf() + x.Gelu() + x.Gelu(true) + x.LeakyRelu(0.1f) + x.Elu(1f)
                 + x.Clamp(-0.5f, 0.5f) + x.Pow(2f) + x.Square() + x.Maximum(z) + x.Minimum(z) + x / (z.Abs() + 1f)
                 + (x.Abs() + 0.5f).Pow(z) + Tensor.Where(x.Gt(z), x, z) + x.MaskedFill(x.Lt(0f), 0f) + x.Sign());
        });
        yield return ("reductions", d =>
        {
            var x = G(3, d, 3, 4, 5);
            Back(x.Sum(1) + x.Mean(1) + x.Max(1) + x.Min(1) + x.LogSumExp(1) + x.Var(1) + x.Std(1) + x.Norm(1));
            Back(x.Sum(new[] { 0, 2 }));
            _ = x.Argmax(1); _ = x.Argmin(2); _ = x.Max(); _ = x.Min();
            Back(x.Softmax(0) + x.LogSoftmax(2));
        });
        yield return ("cumsum", d => Back(G(4, d, 3, 4).CumSum(0) + G(5, d, 3, 4).CumSum(1)));
        yield return ("cumprod", d => Back(G(6, d, 3, 4).CumProd(0) + G(7, d, 3, 4).CumProd(1)));
        yield return ("matmul", d => Back(G(8, d, 2, 3, 4).MatMul(G(9, d, 4, 5)) + G(10, d, 2, 3, 4).MatMul(G(11, d, 2, 5, 4).Transpose(1, 2))));
        yield return ("views/cat/pad", d =>
        {
            var x = G(12, d, 2, 3, 4);
            Back(Tensor.Cat([x, x.Permute(0, 2, 1).Contiguous().Reshape(2, 3, 4)], 1).Narrow(1, 1, 3).Slice(2, 0, 4, 2).PadDims([1, 0, 0], [0, 1, 2], 1f)
                 + 0f);
            Back(Tensor.Stack([x, x], 0).Expand(2, 2, 3, 4).Squeeze(null) * 1f);
        });
        yield return ("gather/scatter_add dim 0", d =>
        {
            var idx = Tensor.FromArray([2, 0, 1, 2, 2, 0], 2, 3).To(d);
            Back(G(13, d, 3, 3).Gather(0, idx));
            Back(G(14, d, 3, 3).ScatterAdd(0, idx, G(15, d, 2, 3)));
        });
        yield return ("gather/scatter_add last", d =>
        {
            var idx = Tensor.FromArray([2, 0, 1, 2, 2, 0], 2, 3).To(d);
            Back(G(16, d, 2, 3).Gather(1, idx));
            Back(G(17, d, 2, 3).ScatterAdd(1, idx, G(18, d, 2, 3)));
        });
        yield return ("index_select/index_add", d =>
        {
            var idx = Tensor.FromArray([2, 0, 2], 3).To(d);
            Back(G(19, d, 3, 4).IndexSelect(0, idx)); Back(G(20, d, 3, 3).IndexSelect(1, idx));
            Back(G(21, d, 3, 4).IndexAdd(0, idx, G(22, d, 3, 4)));
        });
        yield return ("one_hot", d => _ = Tensor.OneHot(Tensor.FromArray([1, 0, 3], 3).To(d), 4).Sum().Item());
        yield return ("inverse", d => Back(G(23, d, 3, 3).Inverse()));
        yield return ("slogdet", d => Back(G(24, d, 3, 3).SlogDet().LogAbsDet));
        yield return ("det", d => Back(G(25, d, 3, 3).Det()));
        yield return ("linear/conv", d =>
        {
            Back(F.Linear(G(26, d, 2, 3), G(27, d, 4, 3), G(28, d, 4)));
            Back(F.Conv1d(G(29, d, 1, 2, 7), G(30, d, 3, 2, 3), G(31, d, 3), padding: 1));
            Back(F.Conv2d(G(32, d, 1, 2, 5, 5), G(33, d, 3, 2, 3, 3), G(34, d, 3), padding: 1));
            Back(F.ConvTranspose2d(G(35, d, 1, 2, 3, 3), G(36, d, 2, 3, 3, 3), G(37, d, 3), stride: new Int2(2, 2)));
        });
        yield return ("pooling/upsample/pad", d =>
        {
            var x = G(38, d, 1, 2, 6, 6);
            Back(F.AvgPool2d(x, 2) .Sum(new[] { 2, 3 }) + F.MaxPool2d(x, 2).Sum(new[] { 2, 3 }) + F.AdaptiveAvgPool2d(x, (2, 2)).Sum(new[] { 2, 3 }));
            Back(F.Upsample(x, 2f, "bilinear").Sum() + F.Interpolate(x, (4, 5), "bilinear", alignCorners: true).Sum() + F.Upsample(x, 2f).Sum());
            Back(F.Pad(x, [1, 2, 1, 0], "reflect").Sum() + F.Pad(x, [1, 1, 1, 1], "replicate").Sum() + F.Pad(x, [1, 1, 1, 1]).Sum());
        });
        yield return ("embedding", d => Back(F.Embedding(Tensor.FromArray([1, 0, 1], 3).To(d), G(39, d, 3, 4))));
        yield return ("norms", d =>
        {
            var x = G(40, d, 2, 4, 3);
            Back(F.LayerNorm(x, 3, G(41, d, 3), G(42, d, 3)) + F.GroupNorm(x, 2, G(43, d, 4), G(44, d, 4)) + F.GroupNormSiLU(x, 2));
            var rm = Tensor.Zeros(4).To(d); var rv = Tensor.Ones(4).To(d);
            Back(F.BatchNorm(x, rm, rv, G(45, d, 4), G(46, d, 4), training: true));
            using (Autograd.NoGrad()) _ = F.BatchNorm(x, rm, rv, training: false).Sum().Item();
        });
        yield return ("attention", d =>
        {
            Back(F.ScaledDotProductAttention(G(47, d, 2, 4, 3), G(48, d, 2, 4, 3), G(49, d, 2, 4, 3), isCausal: true));
            Back(F.ScaledDotProductAttention(G(50, d, 2, 4, 3), G(51, d, 2, 5, 3), G(52, d, 2, 5, 3), F.CausalMask(4, 5, d)));
        });
        yield return ("losses", d =>
        {
            var x = G(53, d, 4, 3); var t = R(54, 4, 3).To(d);
            var labels = Tensor.FromArray([0, 2, 1, 2], 4).To(d);
            var p = G(55, d, 4, 3).Sigmoid(); var u = Tensor.Rand([4, 3], new Generator(1), d);
            Back(F.MseLoss(x, t) + F.L1Loss(x, t) + F.SmoothL1Loss(x, t) + F.HuberLoss(x, t) + F.CrossEntropy(x, labels, labelSmoothing: 0.1f)
                 + F.NllLoss(x.LogSoftmax(1), labels) + F.BinaryCrossEntropy(p, u) + F.BinaryCrossEntropyWithLogits(x, u)
                 + F.KlDivGaussians(x, G(56, d, 4, 3)) + F.GaussianNllLoss(x, t, u + 0.5f));
        });
        yield return ("random: rand/randn/bernoulli/dropout", d =>
        {
            var gen = new Generator(3);
            var p = Tensor.Rand([3, 4], gen, d);
            _ = p.Bernoulli(gen).Sum().Item();
            Back(F.Dropout(G(57, d, 3, 4), 0.3f, true, gen));
            _ = Tensor.RandnLike(p, gen).Sum().Item();
        });
        yield return ("multinomial", d => _ = Tensor.Rand([3, 5], new Generator(4), d).Multinomial(3, false, new Generator(5)).ToIntArray());
        yield return ("topk", d =>
        {
            var x = G(58, d, 3, 6);
            var (v, i) = x.TopK(2);
            Back(v); _ = i.ToIntArray();
            _ = x.Detach().TopKFilter(3).Sum().Item();
        });
        yield return ("optim sgd/adam/adamw", d =>
        {
            foreach (Func<Tensor[], Optimizer> make in new Func<Tensor[], Optimizer>[]
                { ps => new SGD(ps, 0.1f, momentum: 0.9f), ps => new Adam(ps), ps => new AdamW(ps) })
            {
                var w = G(59, d, 3, 4); var opt = make([w]);
                Back(w); opt.Step(); opt.ZeroGrad();
            }
        });
        yield return ("rmsprop", d =>
        {
            var w = G(60, d, 3, 4); var opt = new RMSprop([w], momentum: 0.9f, centered: true);
            Back(w); opt.Step(); Back(w); opt.Step();
        });
        yield return ("grad clip", d =>
        {
            var w = G(61, d, 3, 4); Back(w);
            GradClip.ClipGradNorm([w], 0.5f); GradClip.ClipGradValue([w], 0.1f);
        });
        yield return ("ema", d =>
        {
            var w = G(62, d, 3, 4); var ema = new Ema([w], 0.9f);
            using (Autograd.NoGrad()) w.AddInPlace(w, 1f);
            ema.Update(); ema.Update();
            using (ema.Apply()) _ = w.Sum().Item();
            ema.CopyTo();
        });
        yield return ("batchnorm module", d =>
        {
            var bn = new BatchNorm2d(2); bn.To(d);
            Back(bn.Forward(G(63, d, 2, 2, 3, 3)));
        });
    }

    [Test]
    public void EveryOp_RunsInKernels_ExceptTheDocumentedFallbacks()
    {
        var dev = Device.IlgpuCpu;
        var failures = new List<string>();
        var report = new System.Text.StringBuilder();
        foreach (var (name, body) in Ops())
        {
            using var scope = TensorScope.Begin();
            DeviceFallbacks.Reset();
            try { body(dev); }
            catch (Exception e) { failures.Add($"{name}: threw {e.GetType().Name}: {e.Message}"); continue; }
            var counts = DeviceFallbacks.Counts;
            if (counts.Count == 0) continue;
            report.AppendLine($"{name}: " + string.Join(", ", counts.Select(kv => $"{kv.Key} ×{kv.Value}")));
            if (!Documented.Contains(name)) failures.Add($"{name} falls back: " + string.Join(", ", counts.Keys));
        }
        TestContext.Out.WriteLine(report.Length == 0 ? "No host fallbacks." : "Host fallbacks per op group:\n" + report);
        Assert.That(failures, Is.Empty, string.Join("\n", failures));
    }
}
