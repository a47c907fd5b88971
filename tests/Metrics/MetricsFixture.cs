// Shared, lazily built state for the MNIST metric tests: the data, the cached classifier (trained
// on the first run of the suite on this machine, ~1 min on 2 cores, then loaded in milliseconds)
// and an evaluator holding the test split's features. Tests without MNIST are ignored with the
// reason (Mnist.Load's message says how to get the data).
using System.Diagnostics;
using Denoise.Data;
using Denoise.Metrics;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

static class MetricsFixture
{
    static readonly Lazy<(MnistData? Data, string? Why)> data = new(() =>
    {
        try { using (TensorScope.Suspend()) return (Mnist.Load(), null); }
        catch (DatasetNotFoundException e) { return (null, e.Message); }
    });

    static readonly Lazy<MnistEvaluator> evaluator = new(() =>
    {
        var clock = Stopwatch.StartNew();
        MnistClassifier clf;
        using (TensorScope.Suspend())
            clf = MnistClassifier.TrainOrLoad(data: Data, log: TestContext.Progress);
        TestContext.Progress.WriteLine($"MnistClassifier {(clf.Info!.LoadedFromCache ? "loaded" : "trained")} in {clock.Elapsed.TotalSeconds:F1} s " +
                                       $"(training took {clf.Info.TrainSeconds:F1} s; test accuracy {clf.Info.TestAccuracy:P2}; {clf.Info.CachePath})");
        using (TensorScope.Suspend()) return MnistEvaluator.Create(Data, clf);
    });

    public static MnistData Data
    {
        get
        {
            var (d, why) = data.Value;
            if (d == null) Assert.Ignore("MNIST is not available here: " + why);
            return d!;
        }
    }

    public static MnistEvaluator Evaluator { get { _ = Data; return evaluator.Value; } }
    public static MnistClassifier Classifier => Evaluator.Classifier;
}
