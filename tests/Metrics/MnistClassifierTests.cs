// MnistClassifier: the feature network behind FID/KID/precision-recall. Shows it reaches ≥ 98% on
// the 2,000-image test split (trained once per machine, then loaded from the cache), that training
// is reproducible from the seed, that the cache key separates recipes, and that bad inputs are named.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.MnistClassifier
using Denoise.Data;
using Denoise.Metrics;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

public class MnistClassifierTests
{
    [Test]
    public void TrainOrLoad_ReachesAtLeast98Percent_OnTheTestSplit()
    {
        var clf = MetricsFixture.Classifier;
        var test = MetricsFixture.Data.Test;
        double accuracy = clf.Accuracy(test.Images, test.Labels!);   // measured now, not read from the cache's metadata
        TestContext.Out.WriteLine($"test accuracy {accuracy:P2} on {test.Count} images; trained in {clf.Info!.TrainSeconds:F1} s; {clf.ParameterCount():N0} parameters");
        Assert.That(accuracy, Is.GreaterThanOrEqualTo(0.98));
        Assert.That(accuracy, Is.EqualTo(clf.Info.TestAccuracy).Within(1e-12), "the cache holds the network that was measured");
    }

    [Test]
    public void FeaturesAndPredict_HaveTheDocumentedShapes_AndAgree()
    {
        var clf = MetricsFixture.Classifier;
        var x = MetricsFixture.Data.Test.Images.Narrow(0, 0, 37);
        var f = clf.Features(x);
        Assert.That(f.Shape.ToArray(), Is.EqualTo(new[] { 37, MnistClassifier.FeatureDim }));
        Assert.That(f.ToArray(), Has.All.GreaterThanOrEqualTo(0f), "features are post-ReLU");
        var (f2, classes) = clf.FeaturesAndPredict(x);
        Assert.That(f2.ToArray(), Is.EqualTo(f.ToArray()));
        Assert.That(classes, Is.EqualTo(clf.Predict(x)));
    }

    [Test]
    public void Train_IsReproducibleFromTheSeed()
    {
        // A tiny run (256 images, 2 epochs of 4 steps) twice: bit-identical weights.
        var data = MetricsFixture.Data;
        var (xs, ys) = data.Train.Get(Enumerable.Range(0, 256).ToArray());
        var small = new MnistData(new TensorDataset(xs, ys), data.Test, "first 256");
        var config = new MnistClassifierConfig(Seed: 7, Epochs: 2, BatchSize: 64);
        var a = MnistClassifier.Train(config, small);
        var b = MnistClassifier.Train(config, small);
        foreach (var ((name, pa), (_, pb)) in a.NamedParameters().Zip(b.NamedParameters()))
            Assert.That(pa.ToArray(), Is.EqualTo(pb.ToArray()), name);
        var c = MnistClassifier.Train(config with { Seed = 8 }, small);
        Assert.That(c.NamedParameters().First().Param.ToArray(), Is.Not.EqualTo(a.NamedParameters().First().Param.ToArray()));
    }

    [Test]
    public void CachePath_DependsOnConfigAndData()
    {
        var data = MetricsFixture.Data;
        var c = new MnistClassifierConfig();
        string p = MnistClassifier.CachePath(c, data, "/cache");
        Assert.That(MnistClassifier.CachePath(c, data, "/cache"), Is.EqualTo(p));
        Assert.That(MnistClassifier.CachePath(c with { Epochs = c.Epochs + 1 }, data, "/cache"), Is.Not.EqualTo(p));
        var swapped = new MnistData(data.Test, data.Train, "swapped");
        Assert.That(MnistClassifier.CachePath(c, swapped, "/cache"), Is.Not.EqualTo(p));
        Assert.That(Path.GetDirectoryName(MnistClassifier.DefaultCacheDir()), Is.EqualTo(Path.GetDirectoryName(Mnist.DefaultCacheDir())));
    }

    [Test]
    public void Features_RejectsNonMnistShapes_NamingTheShape()
    {
        var clf = new MnistClassifier(new Generator(0));
        var e = Assert.Throws<ArgumentException>(() => clf.Features(Tensor.Zeros(4, 3, 28, 28)))!;
        Assert.That(e.Message, Does.Contain("(4, 3, 28, 28)").And.Contain("(N, 1, 28, 28)"));
    }
}
