// Models trained in tests must actually learn, and training must be exactly resumable and must
// not grow memory. These tests train small real models for a few seconds each.
using Denoise;
using Denoise.Data;
using Denoise.IO;
using Denoise.Metrics;
using Denoise.Models.Common;
using Denoise.Models.FlowMatching;
using Denoise.NN;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class LearningTests
{
    [Test]
    public void M2Mlp_WithRectifiedFlow_FitsTwoMoons()
    {
        var gen = new Generator(11);
        var net = new Mlp2D(gen: gen);
        Assert.That(net.ParameterCount(), Is.EqualTo(133_122), "WORKLOADS M2 parameter count");
        var flow = new RectifiedFlow(net.Forward);
        var opt = new Adam(net.Parameters(), lr: 1e-3f);
        var losses = new List<float>();
        for (int step = 0; step < 800; step++)
        {
            using var scope = TensorScope.Begin();
            var loss = flow.Loss(Toy2D.TwoMoons(256, gen), gen);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
            losses.Add(loss.Item());
        }
        // The flow-matching loss has an irreducible floor (≈1.4 here), so "learning" is a drop from
        // the untrained ≈2.3 towards it, not towards 0.
        float first = losses.Take(20).Average(), last = losses.TakeLast(100).Average();
        Assert.That(last, Is.LessThan(0.8f * first), $"loss {first:F3} → {last:F3}");

        var samples = flow.Sample([1000, 2], 50, new Generator(12));
        var data = Toy2D.TwoMoons(1000, new Generator(13));
        double model = SampleDistances.SlicedWasserstein(samples, data);
        double noise = SampleDistances.SlicedWasserstein(Tensor.Randn([1000, 2], new Generator(14)), data);
        double floor = SampleDistances.SlicedWasserstein(Toy2D.TwoMoons(1000, new Generator(15)), data);
        TestContext.Out.WriteLine($"sliced W2: samples {model:F4}, noise {noise:F4}, second data set {floor:F4}");
        // Samples must be far closer to the data than the N(0, I) source is (measured ≈0.12 vs ≈0.35).
        Assert.That(model, Is.LessThan(0.5 * noise));
    }

    /// <summary>Synthetic 12×12 images of four classes: a horizontal bar, a vertical bar, a diagonal, a filled square — at random positions, with noise.</summary>
    static (Tensor images, Tensor labels) Shapes(int n, Generator gen)
    {
        const int S = 12;
        var img = new float[n * S * S];
        var labels = new int[n];
        var noise = Tensor.Randn([n * S * S], gen).ToArray();
        for (int i = 0; i < n; i++)
        {
            int c = gen.NextInt(0, 4), r0 = gen.NextInt(2, 8), c0 = gen.NextInt(2, 8);
            labels[i] = c;
            for (int k = 0; k < 4; k++)
            {
                (int y, int x) = c switch { 0 => (r0, c0 + k - 1), 1 => (r0 + k - 1, c0), 2 => (r0 + k - 1, c0 + k - 1), _ => (r0 + k / 2, c0 + k % 2) };
                img[i * S * S + y * S + x] = 1f;
            }
            for (int p = 0; p < S * S; p++) img[i * S * S + p] += 0.3f * noise[i * S * S + p];
        }
        return (Tensor.FromArray(img, n, 1, S, S), Tensor.FromArray(labels, n));
    }

    [Test]
    public void SmallConvNet_ClassifiesSyntheticShapes_WellAboveChance()
    {
        var gen = new Generator(21);
        var net = new Sequential(
            new Conv2d(1, 8, 3, padding: 1, gen: gen), new ReLU(), new MaxPool2d(2),
            new Conv2d(8, 16, 3, padding: 1, gen: gen), new ReLU(), new AdaptiveAvgPool2d(3, 3),
            new Flatten(), new Linear(16 * 9, 4, gen: gen));
        var opt = new Adam(net.Parameters(), lr: 1e-2f);
        var (trainX, trainY) = Shapes(400, gen);
        for (int epoch = 0; epoch < 20; epoch++)
            for (int b = 0; b < 400; b += 50)
            {
                using var scope = TensorScope.Begin();
                var loss = F.CrossEntropy(net.Forward(trainX.Narrow(0, b, 50)), trainY.Narrow(0, b, 50));
                opt.ZeroGrad(); loss.Backward(); opt.Step();
            }
        var (testX, testY) = Shapes(200, new Generator(22));
        net.Eval();
        using var _ = Autograd.NoGrad();
        var predicted = net.Forward(testX).Argmax(1).ToIntArray();
        double accuracy = predicted.Zip(testY.ToIntArray()).Count(p => p.First == p.Second) / 200.0;
        TestContext.Out.WriteLine($"held-out accuracy {accuracy:P1} (chance 25%)");
        Assert.That(accuracy, Is.GreaterThan(0.8));
    }

    static (Mlp2D net, Adam opt, Generator gen) Fresh() { var g = new Generator(5); var n = new Mlp2D(hidden: 32, gen: g); return (n, new Adam(n.Parameters(), lr: 1e-2f), g); }

    static void Train(Mlp2D net, Adam opt, Generator gen, int steps)
    {
        var flow = new RectifiedFlow(net.Forward);
        for (int i = 0; i < steps; i++)
        {
            using var scope = TensorScope.Begin();
            var loss = flow.Loss(Toy2D.TwoMoons(64, gen), gen);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
        }
    }

    [Test]
    public void Checkpoint_TrainSaveLoadContinue_IsBitIdenticalToUninterruptedRun()
    {
        var (a, optA, genA) = Fresh();
        Train(a, optA, genA, 30);

        var (b, optB, genB) = Fresh();
        Train(b, optB, genB, 12);
        var path = Path.Combine(Path.GetTempPath(), $"denoise-ckpt-{Guid.NewGuid():N}.safetensors");
        try
        {
            Checkpoint.Save(path, new TrainingState("mlp2d", b, optB, Rng: genB), 12);
            var (c, optC, genC) = (new Mlp2D(hidden: 32, gen: new Generator(999)), (Adam?)null, new Generator(999));
            optC = new Adam(c.Parameters(), lr: 1e-2f);
            long step = Checkpoint.Load(path, new TrainingState("mlp2d", c, optC, Rng: genC));
            Assert.That(step, Is.EqualTo(12));
            Train(c, optC, genC, 18);
            var pa = a.Parameters().Select(p => p.ToArray()).ToList();
            var pc = c.Parameters().Select(p => p.ToArray()).ToList();
            for (int i = 0; i < pa.Count; i++) Assert.That(pc[i], Is.EqualTo(pa[i]), $"parameter {i} differs after resume");

            var ex = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.Load(path, new TrainingState("other-model", c)));
            Assert.That(ex!.Message, Does.Contain("other-model"));
            var wrong = new Mlp2D(hidden: 16);
            Assert.Throws<CheckpointMismatchException>(() => Checkpoint.Load(path, new TrainingState("mlp2d", wrong)));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void TrainingLoop_10000Steps_DoesNotGrowMemory()
    {
        var gen = new Generator(3);
        var net = new Sequential(new Linear(2, 16, gen: gen), new Tanh(), new Linear(16, 1, gen: gen));
        var opt = new Adam(net.Parameters(), lr: 1e-3f);
        var x = Tensor.Randn([32, 2], gen);
        var y = Tensor.Randn([32, 1], gen);
        void Steps(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var scope = TensorScope.Begin();
                var loss = F.MseLoss(net.Forward(x), y);
                opt.ZeroGrad(); loss.Backward(); opt.Step();
            }
        }
        Steps(100);
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        long heap0 = GC.GetTotalMemory(true), pool0 = CpuPool.Floats.AllocatedBytes;
        Steps(10_000);
        long heap1 = GC.GetTotalMemory(true), pool1 = CpuPool.Floats.AllocatedBytes;
        TestContext.Out.WriteLine($"heap {heap0} → {heap1} bytes; fresh tensor memory {pool1 - pool0} bytes");
        Assert.That(pool1 - pool0, Is.EqualTo(0), "steady-state steps must reuse pooled tensor memory");
        // The graph of each step is freed: 10,000 leaked graphs would be tens of MB.
        Assert.That(heap1 - heap0, Is.LessThan(1_000_000));
    }
}
