// MnistEvaluator — every image metric of a set of generated MNIST digits against the MNIST test
// split, in one call, so each model family (and the comparison program) evaluates the same way:
//
//   var evaluator = MnistEvaluator.Create();                       // classifier + test-split features, once
//   ImageEvaluation e = evaluator.Evaluate(samples01);             // (N, 1, 28, 28) in [0, 1]
//   ImageEvaluation c = evaluator.Evaluate(samples01, intendedLabels);   // class-conditional: + accuracy
//   ImageEvaluation floor = evaluator.Reference(N);                // N real train digits: what a perfect model scores
//
// The metrics and their formulas are in ImageMetrics.cs; the feature network is MnistClassifier.cs.
// FID depends on the sample count (it is biased upwards at small N), so compare models at equal
// N, and read each model's FID beside Reference(N), the score of N held-out real digits.
// examples/Evaluate runs this on any samples file; tests/Metrics checks the metrics themselves.
using Denoise.Data;

namespace Denoise.Metrics;

/// <summary>How sample pixels are scaled: [0, 1], [−1, 1], or Auto (signed if any value is below −0.05).</summary>
public enum PixelRange { Auto, Unit, Signed }

/// <summary>Knobs of the metrics; the defaults follow the papers.</summary>
/// <param name="KidSubsets">random subset pairs KID averages over</param>
/// <param name="KidSubsetSize">samples per KID subset (capped by both set sizes)</param>
/// <param name="K">neighbours that set the k-NN ball radius in precision/recall</param>
/// <param name="Seed">KID subsets and the choice of reference digits</param>
public sealed record EvaluationOptions(int KidSubsets = 50, int KidSubsetSize = 1000, int K = 3, ulong Seed = 0);

/// <summary>All image metrics of one sample set. ConditionalAccuracy is null for unconditional samples.</summary>
public sealed record ImageEvaluation(int Samples, double Fid, double KidMean, double KidStd, double Precision, double Recall,
                                     double Density, double Coverage, ClassHistogram Classes, double? ConditionalAccuracy);

public sealed class MnistEvaluator
{
    public MnistClassifier Classifier { get; }
    public MnistData Data { get; }
    /// <summary>Penultimate features (2,000 × 128 for the npm split) of the test split: the reference set.</summary>
    public Tensor TestFeatures { get; }
    public FeatureStatistics TestStatistics { get; }

    MnistEvaluator(MnistClassifier classifier, MnistData data)
    {
        Classifier = classifier;
        Data = data;
        using (TensorScope.Suspend()) TestFeatures = classifier.Features(data.Test.Images);
        TestStatistics = FeatureStatistics.Of(TestFeatures);
    }

    /// <summary>Loads MNIST (unless given) and the cached classifier (training it first if needed; see MnistClassifier).</summary>
    public static MnistEvaluator Create(MnistData? data = null, MnistClassifier? classifier = null, TextWriter? log = null)
    {
        data ??= Mnist.Load();
        classifier ??= MnistClassifier.TrainOrLoad(data: data, log: log);
        return new MnistEvaluator(classifier, data);
    }

    /// <summary>
    /// Every metric of <paramref name="samples01"/> (N, 1, 28, 28) in [0, 1] against the test split;
    /// with <paramref name="intendedLabels"/> (the class each sample was generated for) also the
    /// classifier accuracy of class-conditional samples.
    /// </summary>
    public ImageEvaluation Evaluate(Tensor samples01, IReadOnlyList<int>? intendedLabels = null, EvaluationOptions? options = null)
    {
        options ??= new EvaluationOptions();
        MnistClassifier.CheckImages(samples01, "Evaluate");
        int n = samples01.Shape[0];
        if (n <= options.K)
            throw new ArgumentException($"MnistEvaluator.Evaluate: {n} samples ({samples01.ShapeStr}) are too few; precision/recall with k = {options.K} needs at least {options.K + 1}, and FID wants hundreds.");
        if (intendedLabels != null && intendedLabels.Count != n)
            throw new ArgumentException($"MnistEvaluator.Evaluate: {intendedLabels.Count} intended labels for {n} samples {samples01.ShapeStr}.");
        using var scope = TensorScope.Begin();
        var (features, predicted) = Classifier.FeaturesAndPredict(samples01);
        var kid = ImageMetrics.Kid(features, TestFeatures, options.KidSubsets, options.KidSubsetSize, options.Seed);
        var pr = ImageMetrics.PrecisionRecall(TestFeatures, features, options.K);
        return new ImageEvaluation(n, ImageMetrics.Fid(FeatureStatistics.Of(features), TestStatistics), kid.Mean, kid.Std,
                                   pr.Precision, pr.Recall, pr.Density, pr.Coverage, ClassHistogram.Of(predicted, MnistClassifier.Classes),
                                   intendedLabels == null ? null : ImageMetrics.ClassifierAccuracy(predicted, intendedLabels));
    }

    /// <summary>
    /// The floor: <paramref name="n"/> real digits from the train split (a seeded random choice),
    /// scored like samples, with their true labels as the "intended" classes. A perfect generator's
    /// N samples score about this; FID is not 0 because two finite samples of one distribution differ.
    /// </summary>
    public ImageEvaluation Reference(int n, EvaluationOptions? options = null)
    {
        options ??= new EvaluationOptions();
        int count = Data.Train.Count;
        if (n < 1 || n > count) throw new ArgumentException($"MnistEvaluator.Reference: n = {n} must be in 1…{count} (the train split's size).");
        using var scope = TensorScope.Begin();
        var order = Tensor.Randperm(count, new Generator(options.Seed + 0x5EED)).ToIntArray()[..n];
        var (images, labels) = Data.Train.Get(order);
        return Evaluate(images, labels!.ToIntArray(), options);
    }

    /// <summary>
    /// Samples as [0, 1] images: Signed maps x ↦ (x + 1)/2; Auto picks Signed when any value is below
    /// −0.05. Values slightly outside the range (sampler overshoot) are clamped; values far outside
    /// (NaN, or beyond −0.5 … 1.5 after mapping, e.g. 0…255 bytes) are an ArgumentException.
    /// </summary>
    public static Tensor ToUnitRange(Tensor samples, PixelRange range, out PixelRange used)
    {
        samples.CheckFloat("MnistEvaluator.ToUnitRange");
        var values = samples.Contiguous().ToArray();
        if (values.Length == 0) throw new ArgumentException($"ToUnitRange: the samples {samples.ShapeStr} are empty.");
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        int nan = 0;
        foreach (float v in values) { if (float.IsNaN(v) || float.IsInfinity(v)) nan++; else { min = Math.Min(min, v); max = Math.Max(max, v); } }
        if (nan > 0) throw new ArgumentException($"ToUnitRange: {nan} of {values.Length} sample values {samples.ShapeStr} are NaN or infinite (did the model diverge?).");
        used = range != PixelRange.Auto ? range : min < -0.05f ? PixelRange.Signed : PixelRange.Unit;
        float lo = used == PixelRange.Signed ? (min + 1) / 2 : min, hi = used == PixelRange.Signed ? (max + 1) / 2 : max;
        if (lo < -0.5f || hi > 1.5f)
            throw new ArgumentException($"ToUnitRange: sample values span {min:G4} … {max:G4}, which is not images in " +
                                        (used == PixelRange.Signed ? "[−1, 1]" : "[0, 1]") + (range == PixelRange.Auto ? " (detected)" : "") + ".");
        var mapped = used == PixelRange.Signed ? (samples + 1f) * 0.5f : samples;
        return mapped.Clamp(0f, 1f);
    }
}
