// The image metrics on real MNIST features (needs the cached classifier; see MetricsFixture):
// two disjoint halves of the test split are close (small FID, KID ≈ 0, precision and recall high),
// uniform noise and one repeated digit are far, and one digit class from another half has high
// precision and low recall. Also the evaluator's pixel-range handling.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.MnistMetrics
using Denoise.Metrics;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

public class MnistMetricsTests
{
    static readonly EvaluationOptions Fast = new(KidSubsets: 10, KidSubsetSize: 500);

    [Test]
    public void Fid_TestHalves_IsSmall_NoiseAndOneRepeatedDigit_AreLarge()
    {
        var clf = MetricsFixture.Classifier;
        var test = MetricsFixture.Data.Test.Images;
        var a = clf.Features(test.Narrow(0, 0, 1000));
        var b = clf.Features(test.Narrow(0, 1000, 1000));
        var noise = clf.Features(Tensor.Rand([1000, 1, 28, 28], new Generator(5)));
        var oneDigit = clf.Features(test.Narrow(0, 0, 1).Expand(1000, 1, 28, 28).Contiguous());

        double halves = ImageMetrics.Fid(a, b), fidNoise = ImageMetrics.Fid(a, noise), fidOne = ImageMetrics.Fid(a, oneDigit);
        var kidHalves = ImageMetrics.Kid(a, b, 10, 500);
        var kidNoise = ImageMetrics.Kid(a, noise, 10, 500);
        TestContext.Out.WriteLine($"FID halves {halves:F3} | noise {fidNoise:F1} | one repeated digit {fidOne:F1}");
        TestContext.Out.WriteLine($"KID halves {kidHalves.Mean:G3} ± {kidHalves.Std:G2} | noise {kidNoise.Mean:G4} ± {kidNoise.Std:G2}");
        Assert.That(fidNoise, Is.GreaterThan(50 * halves));
        Assert.That(fidOne, Is.GreaterThan(20 * halves));
        Assert.That(Math.Abs(kidHalves.Mean), Is.LessThan(3 * kidHalves.Std + 1e-3 * kidNoise.Mean));
        Assert.That(kidNoise.Mean, Is.GreaterThan(100 * Math.Abs(kidHalves.Mean)));
    }

    [Test]
    public void PrecisionRecall_OneDigitClass_HasHighPrecisionAndLowRecall()
    {
        var clf = MetricsFixture.Classifier;
        var test = MetricsFixture.Data.Test;
        var real = clf.Features(test.Images.Narrow(0, 0, 1000));
        var labels = test.Labels!.ToIntArray();
        var zeros = Enumerable.Range(1000, 1000).Where(i => labels[i] == 0).ToArray();
        var (zeroImages, _) = test.Get(zeros);
        var pr = ImageMetrics.PrecisionRecall(real, clf.Features(zeroImages));
        var halves = ImageMetrics.PrecisionRecall(real, clf.Features(test.Images.Narrow(0, 1000, 1000)));
        TestContext.Out.WriteLine($"{zeros.Length} zeros: precision {pr.Precision:F3}, recall {pr.Recall:F3}; other half: {halves.Precision:F3}, {halves.Recall:F3}");
        // k-NN balls of 1,000 points leave gaps, so even real data against real data scores ~0.9, not 1.
        Assert.That(pr.Precision, Is.GreaterThan(0.85));
        Assert.That(pr.Recall, Is.LessThan(0.2));
        Assert.That(halves.Precision, Is.GreaterThan(0.85));
        Assert.That(halves.Recall, Is.GreaterThan(0.85));
        Assert.That(pr.Coverage, Is.LessThan(0.2), "only the zeros' part of the real set is covered");
        Assert.That(halves.Coverage, Is.GreaterThan(0.85));
        Assert.That(halves.Density, Is.EqualTo(1).Within(0.25));
    }

    [Test]
    public void Evaluator_RealDigits_ScoreLikeTheReference_AndRecogniseTheirClasses()
    {
        var ev = MetricsFixture.Evaluator;
        var test = MetricsFixture.Data.Test;
        var floor = ev.Reference(500, Fast);
        var noise = ev.Evaluate(Tensor.Rand([500, 1, 28, 28], new Generator(1)), options: Fast);
        TestContext.Out.WriteLine($"reference (500 train digits): FID {floor.Fid:F2}, KID {floor.KidMean:G3}, P {floor.Precision:F3}, R {floor.Recall:F3}, acc {floor.ConditionalAccuracy:P1}");
        TestContext.Out.WriteLine($"noise: FID {noise.Fid:F1}, KID {noise.KidMean:G3}, P {noise.Precision:F3}, R {noise.Recall:F3}, " +
                                  $"density {noise.Density:F3}, coverage {noise.Coverage:F3}, classes covered {noise.Classes.ClassesCovered}");
        Assert.That(floor.ConditionalAccuracy, Is.GreaterThan(0.97));
        Assert.That(floor.Classes.ClassesCovered, Is.EqualTo(10));
        Assert.That(floor.Classes.NormalizedEntropy, Is.GreaterThan(0.98));
        Assert.That(noise.Fid, Is.GreaterThan(30 * floor.Fid));
        // Noise collapses to one tight feature cluster that a few outlying real digits' big k-NN
        // balls happen to swallow, so its *precision* is not low (see ImageMetrics' header); recall,
        // coverage and density, and the class histogram, expose it.
        Assert.That(noise.Recall, Is.LessThan(0.01));
        Assert.That(noise.Coverage, Is.LessThan(0.05));
        Assert.That(noise.Density, Is.LessThan(0.4 * floor.Density));
        Assert.That(noise.Classes.ClassesCovered, Is.LessThan(3));
        Assert.That(floor.Samples, Is.EqualTo(500));
        var e = Assert.Throws<ArgumentException>(() => ev.Evaluate(test.Images.Narrow(0, 0, 10), new int[3], Fast))!;
        Assert.That(e.Message, Does.Contain("3 intended labels for 10"));
    }

    [Test]
    public void ToUnitRange_DetectsSignedPixels_AndRefusesBytes()
    {
        var x = Tensor.FromArray([0f, 0.5f, 1f, 0.25f], 1, 1, 2, 2);
        Assert.That(MnistEvaluator.ToUnitRange(x * 2f - 1f, PixelRange.Auto, out var used).ToArray(), Is.EqualTo(x.ToArray()).Within(1e-6));
        Assert.That(used, Is.EqualTo(PixelRange.Signed));
        Assert.That(MnistEvaluator.ToUnitRange(x, PixelRange.Auto, out used).ToArray(), Is.EqualTo(x.ToArray()));
        Assert.That(used, Is.EqualTo(PixelRange.Unit));
        Assert.That(MnistEvaluator.ToUnitRange(x + 0.02f, PixelRange.Unit, out _).ToArray().Max(), Is.EqualTo(1f), "overshoot is clamped");
        var e = Assert.Throws<ArgumentException>(() => MnistEvaluator.ToUnitRange(x * 255f, PixelRange.Auto, out _))!;
        Assert.That(e.Message, Does.Contain("255"));
        var n = Assert.Throws<ArgumentException>(() => MnistEvaluator.ToUnitRange(x / 0f - x / 0f, PixelRange.Auto, out _))!;
        Assert.That(n.Message, Does.Contain("NaN"));
    }
}
