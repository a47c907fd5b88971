// OptimizerTests.cs — SGD, Adam, AdamW and RMSprop against hand-written double-precision references of
// PyTorch's documented algorithms, learning on a quadratic with real autograd, state-dict round trips,
// and the zero-allocation step.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using Denoise;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Optim;

public class OptimizerTests
{
    // 37 elements: two 16-wide (or four 8-wide) vectors plus a 5-element scalar tail, so every code
    // path of the fused kernels is compared with the reference.
    const int N = 37;

    static float[] InitialParams() => Enumerable.Range(0, N).Select(j => (float)(0.8 * Math.Cos(0.37 * j) + 0.05 * j)).ToArray();

    /// <summary>Synthetic gradient for (1-based) step t. The magnitude varies non-monotonically across steps so that
    /// AMSGrad's running maximum and centered RMSprop's mean both matter.</summary>
    static float Grad(int t, int j)
    {
        double[] scale = [3.0, 0.5, 2.0, 0.1, 1.0, 0.7, 1.5, 0.3, 2.5, 0.9];
        return (float)(Math.Sin(0.7 * j + 1.3 * t) * scale[(t - 1) % scale.Length] + 0.05);
    }

    static Tensor MakeParam() => Tensor.FromArray(InitialParams(), N).RequiresGrad_();

    static void SetGrad(Tensor p, int t)
    {
        p.Grad ??= Tensor.Zeros(N);
        var g = p.Grad.Span;
        for (int j = 0; j < N; j++) g[j] = Grad(t, j);
    }

    // ───────────────────────── double-precision references (PyTorch docs' pseudocode) ─────────────────────────

    static double[] RefSgd(int steps, double lr, double mu, double damp, double wd, bool nesterov)
    {
        var p = InitialParams().Select(v => (double)v).ToArray();
        var buf = new double[N];
        for (int t = 1; t <= steps; t++)
            for (int j = 0; j < N; j++)
            {
                double g = Grad(t, j) + wd * p[j];
                if (mu != 0)
                {
                    buf[j] = t == 1 ? g : mu * buf[j] + (1 - damp) * g;
                    g = nesterov ? g + mu * buf[j] : buf[j];
                }
                p[j] -= lr * g;
            }
        return p;
    }

    static double[] RefAdam(int steps, double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool decoupled)
    {
        var p = InitialParams().Select(v => (double)v).ToArray();
        double[] m = new double[N], v = new double[N], vmax = new double[N];
        for (int t = 1; t <= steps; t++)
            for (int j = 0; j < N; j++)
            {
                double g = Grad(t, j);
                if (decoupled) p[j] *= 1 - lr * wd;
                else g += wd * p[j];
                m[j] = b1 * m[j] + (1 - b1) * g;
                v[j] = b2 * v[j] + (1 - b2) * g * g;
                double vh = v[j];
                if (amsgrad) vh = vmax[j] = Math.Max(vmax[j], v[j]);
                double bc1 = 1 - Math.Pow(b1, t), bc2 = 1 - Math.Pow(b2, t);
                double denom = Math.Sqrt(vh) / Math.Sqrt(bc2) + eps;
                p[j] -= lr / bc1 * m[j] / denom;
            }
        return p;
    }

    static double[] RefRmsprop(int steps, double lr, double alpha, double eps, double wd, double mu, bool centered)
    {
        var p = InitialParams().Select(v => (double)v).ToArray();
        double[] sq = new double[N], ga = new double[N], buf = new double[N];
        for (int t = 1; t <= steps; t++)
            for (int j = 0; j < N; j++)
            {
                double g = Grad(t, j) + wd * p[j];
                sq[j] = alpha * sq[j] + (1 - alpha) * g * g;
                double avg;
                if (centered)
                {
                    ga[j] = alpha * ga[j] + (1 - alpha) * g;
                    avg = Math.Sqrt(sq[j] - ga[j] * ga[j]) + eps;
                }
                else avg = Math.Sqrt(sq[j]) + eps;
                if (mu > 0) { buf[j] = mu * buf[j] + g / avg; p[j] -= lr * buf[j]; }
                else p[j] -= lr * g / avg;
            }
        return p;
    }

    static float[] Run(Func<Tensor, Optimizer> make, int steps)
    {
        var p = MakeParam();
        var opt = make(p);
        for (int t = 1; t <= steps; t++) { SetGrad(p, t); opt.Step(); }
        return p.ToArray();
    }

    // Parameters are O(1) and each step moves them by O(lr); a float32 update rounds at ~6e-8 relative
    // per operation, so after 5 steps of ~10 operations the float path sits within ~1e-6 of the
    // double reference. 1e-5 leaves margin while still catching any wrong constant, sign or ordering
    // (those show up at ≥ 1e-3).
    const double Tol = 1e-5;

    static void AssertClose(float[] actual, double[] expected, string what)
    {
        for (int j = 0; j < N; j++)
            Assert.That(actual[j], Is.EqualTo(expected[j]).Within(Tol), $"{what}: element {j}");
        // Guard against a no-op optimizer passing by accident: the reference must have moved.
        Assert.That(expected.Zip(InitialParams(), (e, i) => Math.Abs(e - i)).Max(), Is.GreaterThan(1e-2), what);
    }

    [TestCase(0.0, 0.0, 0.0, false, TestName = "SGD_Plain_MatchesReference")]
    [TestCase(0.9, 0.1, 0.01, false, TestName = "SGD_MomentumDampeningWeightDecay_MatchesReference")]
    [TestCase(0.9, 0.0, 0.01, true, TestName = "SGD_Nesterov_MatchesReference")]
    public void SGD_MatchesReference(double mu, double damp, double wd, bool nesterov)
    {
        float lr = 0.05f;
        var got = Run(p => new SGD([p], lr, (float)mu, (float)damp, (float)wd, nesterov), 5);
        AssertClose(got, RefSgd(5, lr, (float)mu, (float)damp, (float)wd, nesterov), "SGD");
    }

    [TestCase(0.0, false, TestName = "Adam_Plain_MatchesReference")]
    [TestCase(0.1, false, TestName = "Adam_L2WeightDecay_MatchesReference")]
    [TestCase(0.1, true, TestName = "Adam_AmsgradWeightDecay_MatchesReference")]
    public void Adam_MatchesReference(double wd, bool amsgrad)
    {
        float lr = 0.05f;
        var got = Run(p => new Adam([p], lr, weightDecay: (float)wd, amsgrad: amsgrad), 5);
        AssertClose(got, RefAdam(5, lr, 0.9f, 0.999f, 1e-8f, (float)wd, amsgrad, decoupled: false), "Adam");
    }

    [TestCase(0.1, false, TestName = "AdamW_DecoupledWeightDecay_MatchesReference")]
    [TestCase(0.3, true, TestName = "AdamW_Amsgrad_MatchesReference")]
    public void AdamW_MatchesReference(double wd, bool amsgrad)
    {
        float lr = 0.05f;
        var got = Run(p => new AdamW([p], lr, beta1: 0.8f, beta2: 0.95f, weightDecay: (float)wd, amsgrad: amsgrad), 5);
        AssertClose(got, RefAdam(5, lr, 0.8f, 0.95f, 1e-8f, (float)wd, amsgrad, decoupled: true), "AdamW");
    }

    [Test]
    public void AdamW_DefaultWeightDecay_IsDecoupledOnePercent()
    {
        var opt = new AdamW([MakeParam()]);
        Assert.That(opt.WeightDecay, Is.EqualTo(1e-2f));
        Assert.That(opt.DecoupledWeightDecay, Is.True);
        Assert.That(opt.LearningRate, Is.EqualTo(1e-3f));
        // Adam and AdamW differ only in where the decay goes: with wd = 0 they are the same optimizer, bit for bit.
        var a = Run(p => new Adam([p], 0.05f), 5);
        var w = Run(p => new AdamW([p], 0.05f, weightDecay: 0f), 5);
        Assert.That(w, Is.EqualTo(a));
    }

    [TestCase(0.0, 0.0, false, TestName = "RMSprop_Plain_MatchesReference")]
    [TestCase(0.05, 0.9, false, TestName = "RMSprop_WeightDecayMomentum_MatchesReference")]
    [TestCase(0.05, 0.9, true, TestName = "RMSprop_CenteredMomentumWeightDecay_MatchesReference")]
    [TestCase(0.0, 0.0, true, TestName = "RMSprop_Centered_MatchesReference")]
    public void RMSprop_MatchesReference(double wd, double mu, bool centered)
    {
        float lr = 0.01f;
        var got = Run(p => new RMSprop([p], lr, weightDecay: (float)wd, momentum: (float)mu, centered: centered), 5);
        AssertClose(got, RefRmsprop(5, lr, 0.99f, 1e-8f, (float)wd, (float)mu, centered), "RMSprop");
    }

    [Test]
    public void Step_SkipsParametersWithoutGrad_AndZeroGradKeepsBuffers()
    {
        var a = MakeParam();
        var b = Tensor.FromArray([1f, 2f, 3f], 3).RequiresGrad_();
        var opt = new Adam([a, b], 0.1f);
        SetGrad(a, 1);
        opt.Step();
        Assert.That(b.ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f }), "no grad, no update");
        Assert.That(opt.ParameterStep(0), Is.EqualTo(1));
        Assert.That(opt.ParameterStep(1), Is.EqualTo(0));
        Assert.That(opt.StateDict().Keys.Where(k => k.StartsWith("state.1.")), Is.Empty, "no state for an untouched parameter");

        var grad = a.Grad!;
        opt.ZeroGrad();
        Assert.That(ReferenceEquals(a.Grad, grad), Is.True, "ZeroGrad keeps the buffer");
        Assert.That(grad.ToArray(), Is.All.EqualTo(0f));
        Assert.That(b.Grad, Is.Null);
    }

    [Test]
    public void Constructor_RejectsBadParametersAndHyperparameters()
    {
        var p = MakeParam();
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD([], 0.1f))!.Message, Does.Contain("empty"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD([p, p], 0.1f))!.Message, Does.Contain("more than once"));
        var nonLeaf = p * 2f;
        Assert.That(Assert.Throws<ArgumentException>(() => new Adam([nonLeaf]))!.Message, Does.Contain("leaf"));
        Assert.That(Assert.Throws<ArgumentException>(() => new Adam([p], beta1: 1f))!.Message, Does.Contain("beta1"));
        Assert.That(Assert.Throws<ArgumentException>(() => new SGD([p], 0.1f, nesterov: true))!.Message, Does.Contain("Nesterov"));
        p.Grad = Tensor.Zeros(5);
        var ex = Assert.Throws<InvalidOperationException>(() => new SGD([p], 0.1f).Step())!;
        Assert.That(ex.Message, Does.Contain("(37,)").And.Contain("(5,)"));
    }

    // ───────────────────────── learning with real autograd ─────────────────────────

    static IEnumerable<TestCaseData> Learners()
    {
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new SGD([p], 0.05f, momentum: 0.9f, nesterov: true)), 200).SetName("SGD_MinimisesQuadratic");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new Adam([p], 0.05f)), 300).SetName("Adam_MinimisesQuadratic");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new AdamW([p], 0.05f, weightDecay: 1e-3f)), 300).SetName("AdamW_MinimisesQuadratic");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new RMSprop([p], 0.01f)), 300).SetName("RMSprop_MinimisesQuadratic");
    }

    [TestCaseSource(nameof(Learners))]
    public void Optimizer_MinimisesQuadratic_WithAutograd(Func<Tensor, Optimizer> make, int steps)
    {
        var p = GradCheck.Rand(1, 4, 5).RequiresGrad_();
        var target = GradCheck.Rand(2, 4, 5);
        var opt = make(p);
        float Loss() { using var s = TensorScope.Begin(); return ((p - target).Square()).Sum().Item(); }
        float first = Loss();
        for (int i = 0; i < steps; i++)
        {
            using var scope = TensorScope.Begin();
            opt.ZeroGrad();
            ((p - target).Square()).Sum().Backward();
            opt.Step();
        }
        float last = Loss();
        Assert.That(last, Is.LessThan(first / 100f), $"loss {first} → {last}");
    }

    // ───────────────────────── checkpoints ─────────────────────────

    static IEnumerable<TestCaseData> Checkpointed()
    {
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new SGD([p], 0.05f, momentum: 0.9f, weightDecay: 0.01f, nesterov: true))).SetName("SGD_StateDict_RoundTripIsBitExact");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new Adam([p], 0.05f, weightDecay: 0.1f, amsgrad: true))).SetName("Adam_StateDict_RoundTripIsBitExact");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new AdamW([p], 0.05f, weightDecay: 0.1f))).SetName("AdamW_StateDict_RoundTripIsBitExact");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new RMSprop([p], 0.01f, weightDecay: 0.01f, momentum: 0.5f, centered: true))).SetName("RMSprop_StateDict_RoundTripIsBitExact");
    }

    [TestCaseSource(nameof(Checkpointed))]
    public void StateDict_RoundTrip_ContinuesBitIdentically(Func<Tensor, Optimizer> make)
    {
        var p = MakeParam();
        var opt = make(p);
        opt.LearningRate *= 0.7f;   // a schedule moved the rate: the checkpoint must carry it
        for (int t = 1; t <= 3; t++) { SetGrad(p, t); opt.Step(); }
        var saved = opt.StateDict();
        var savedParams = p.ToArray();
        for (int t = 4; t <= 6; t++) { SetGrad(p, t); opt.Step(); }

        var q = Tensor.FromArray(savedParams, N).RequiresGrad_();
        var fresh = make(q);
        fresh.LoadStateDict(saved);
        Assert.That(fresh.LearningRate, Is.EqualTo(opt.LearningRate));
        Assert.That(fresh.StepCount, Is.EqualTo(3));
        Assert.That(fresh.ParameterStep(0), Is.EqualTo(3));
        for (int t = 4; t <= 6; t++) { SetGrad(q, t); fresh.Step(); }
        Assert.That(q.ToArray(), Is.EqualTo(p.ToArray()), "bit-identical after restore");
        Assert.That(fresh.StateDict()["state.0.step"].ToIntArray(), Is.EqualTo(new[] { 6 }));
    }

    [Test]
    public void LoadStateDict_RejectsWrongShapesUnknownKeysAndMissingBuffers_NamingThem()
    {
        var p = MakeParam();
        var opt = new Adam([p], 0.1f);
        SetGrad(p, 1); opt.Step();
        var good = opt.StateDict();
        Assert.That(good.Keys, Is.EquivalentTo(new[] { "lr", "step", "state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq" }));

        var wrongShape = new Dictionary<string, Tensor>(good) { ["state.0.exp_avg"] = Tensor.Zeros(36) };
        var ex = Assert.Throws<ArgumentException>(() => new Adam([MakeParam()]).LoadStateDict(wrongShape))!;
        Assert.That(ex.Message, Does.Contain("state.0.exp_avg").And.Contain("(36,)").And.Contain("(37,)"));

        var unknown = new Dictionary<string, Tensor>(good) { ["state.0.momentum_buffer"] = Tensor.Zeros(N) };
        ex = Assert.Throws<ArgumentException>(() => new Adam([MakeParam()]).LoadStateDict(unknown))!;
        Assert.That(ex.Message, Does.Contain("momentum_buffer"));

        var missing = new Dictionary<string, Tensor>(good);
        missing.Remove("state.0.exp_avg_sq");
        ex = Assert.Throws<ArgumentException>(() => new Adam([MakeParam()]).LoadStateDict(missing))!;
        Assert.That(ex.Message, Does.Contain("state.0.exp_avg_sq").And.Contain("missing"));

        var tooMany = new Dictionary<string, Tensor>(good) { ["state.3.step"] = Tensor.FromArray([1], []) };
        ex = Assert.Throws<ArgumentException>(() => new Adam([MakeParam()]).LoadStateDict(tooMany))!;
        Assert.That(ex.Message, Does.Contain("parameter 3").And.Contain("1 parameters"));

        // A failed load changes nothing.
        var target = new Adam([MakeParam()], 0.3f);
        Assert.Throws<ArgumentException>(() => target.LoadStateDict(wrongShape));
        Assert.That(target.LearningRate, Is.EqualTo(0.3f));
        Assert.That(target.StateDict().Keys, Is.EquivalentTo(new[] { "lr", "step" }));
    }

    // ───────────────────────── memory ─────────────────────────

    static IEnumerable<TestCaseData> Steppers()
    {
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new Adam([p], 1e-3f, weightDecay: 0.01f, amsgrad: true))).SetName("Adam_Step_AllocatesNothingAfterWarmup");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new AdamW([p]))).SetName("AdamW_Step_AllocatesNothingAfterWarmup");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new SGD([p], 1e-3f, momentum: 0.9f))).SetName("SGD_Step_AllocatesNothingAfterWarmup");
        yield return new TestCaseData((Func<Tensor, Optimizer>)(p => new RMSprop([p], momentum: 0.9f, centered: true))).SetName("RMSprop_Step_AllocatesNothingAfterWarmup");
    }

    [TestCaseSource(nameof(Steppers))]
    public void Step_AllocatesNothingAfterWarmup(Func<Tensor, Optimizer> make)
    {
        const int n = 10_000, steps = 100;
        var p = GradCheck.Rand(3, n).RequiresGrad_();
        p.Grad = GradCheck.Rand(4, n);
        var opt = make(p);
        for (int i = 0; i < 5; i++) opt.Step();   // warm-up: state buffers are allocated on the first step
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < steps; i++) opt.Step();
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / steps;
        // The step is designed to allocate nothing (spans over persistent buffers, a struct NoGrad scope).
        // The bound of 1 KB/step is 40× below the smallest per-element temporary (10k floats = 40 KB),
        // so any tensor-sized allocation fails the test, while it tolerates incidental runtime noise.
        Assert.That(perStep, Is.LessThan(1024), $"{perStep} bytes allocated per step");
        TestContext.Out.WriteLine($"{perStep} bytes/step");
    }
}
