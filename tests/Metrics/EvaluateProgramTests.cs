// examples/Evaluate end to end through EvaluateApp.Run (in-process): a small samples file of real
// test digits in [−1, 1] with their labels gives exit 0, a JSON with every metric, the detected
// range and the conditional accuracy; bad input (no --samples, missing file, missing key, wrong
// shape, byte-valued pixels, mismatched labels) gives exit 2 with one line on stderr and no JSON.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.EvaluateProgram
using System.Text.Json;
using Denoise.Examples;
using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

public class EvaluateProgramTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-evaluate-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static readonly string[] Fast = ["--kid-subsets", "5", "--kid-subset-size", "100"];

    (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int code = EvaluateApp.Run([.. args, .. Fast], o, e);
        return (code, o.ToString(), e.ToString());
    }

    string Write(string name, Dictionary<string, Tensor> tensors)
    {
        string path = Path.Combine(dir, name);
        TensorFile.Save(path, tensors);
        return path;
    }

    [Test]
    public void SignedSamplesWithLabels_WriteEveryMetric()
    {
        var test = MetricsFixture.Data.Test;
        var x = test.Images.Narrow(0, 200, 200) * 2f - 1f;   // as a diffusion model writes them
        var labels = test.Labels!.Narrow(0, 200, 200).Contiguous();
        string path = Write("samples.safetensors", new() { ["samples"] = x, ["labels"] = labels });
        _ = MetricsFixture.Evaluator;   // train or load the classifier outside the timed program

        var (code, stdout, stderr) = Run("--samples", path);
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        using var json = JsonDocument.Parse(File.ReadAllText(path + ".metrics.json"));
        var root = json.RootElement;
        Assert.That(root.GetProperty("count").GetInt32(), Is.EqualTo(200));
        Assert.That(root.GetProperty("pixel_range").GetString(), Is.EqualTo("signed"));
        Assert.That(root.GetProperty("class_conditional").GetBoolean(), Is.True);
        var m = root.GetProperty("metrics");
        foreach (var key in new[] { "fid", "kid_mean", "kid_std", "precision", "recall", "conditional_accuracy" })
            Assert.That(m.GetProperty(key).ValueKind, Is.EqualTo(JsonValueKind.Number), key);
        Assert.That(m.GetProperty("conditional_accuracy").GetDouble(), Is.GreaterThan(0.95));
        Assert.That(m.GetProperty("classes").GetProperty("counts").GetArrayLength(), Is.EqualTo(10));
        // Real test digits against the test split score like real train digits do.
        double fid = m.GetProperty("fid").GetDouble(), floor = root.GetProperty("reference").GetProperty("fid").GetDouble();
        TestContext.Out.WriteLine($"FID of 200 test digits {fid:F2}; of 200 train digits {floor:F2}");
        Assert.That(fid, Is.LessThan(3 * floor + 1));
        Assert.That(root.GetProperty("classifier").GetProperty("test_accuracy").GetDouble(), Is.GreaterThanOrEqualTo(0.98));
        Assert.That(stdout, Does.Contain("FID").And.Contain("conditional accuracy"));
    }

    [Test]
    public void FlatUnitSamples_WithoutLabels_AreUnconditional_AndOutGoesWhereAsked()
    {
        var x = Tensor.Rand([50, 784], new Generator(1));
        string path = Write("noise.safetensors", new() { ["x"] = x });
        string outPath = Path.Combine(dir, "m.json");
        var (code, _, stderr) = Run("--samples", path, "--key", "x", "--out", outPath, "--no-reference");
        Assert.That(code, Is.EqualTo(0), stderr);
        using var json = JsonDocument.Parse(File.ReadAllText(outPath));
        Assert.That(json.RootElement.GetProperty("pixel_range").GetString(), Is.EqualTo("unit"));
        Assert.That(json.RootElement.GetProperty("metrics").GetProperty("conditional_accuracy").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(json.RootElement.GetProperty("reference").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public void BadInput_ExitsWith2_OneLine_NoJson()
    {
        string good = Write("ok.safetensors", new() { ["samples"] = Tensor.Rand([20, 1, 28, 28], new Generator(2)) });
        string wrongShape = Write("shape.safetensors", new() { ["samples"] = Tensor.Rand([20, 3, 28, 28], new Generator(2)) });
        string bytes = Write("bytes.safetensors", new() { ["samples"] = Tensor.Rand([20, 1, 28, 28], new Generator(2)) * 255f });
        string badLabels = Write("labels.safetensors", new() { ["samples"] = Tensor.Rand([20, 1, 28, 28], new Generator(2)), ["labels"] = Tensor.FromArray(new int[7], 7) });
        string notSafetensors = Path.Combine(dir, "junk.safetensors");
        File.WriteAllText(notSafetensors, "hello");
        var cases = new (string[] Args, string Says)[]
        {
            ([], "--samples FILE is required"),
            (["--samples", Path.Combine(dir, "missing.safetensors")], "does not exist"),
            (["--samples", notSafetensors], "not a readable safetensors"),
            (["--samples", good, "--key", "images"], "no tensor 'images'"),
            (["--samples", wrongShape], "(20, 3, 28, 28)"),
            (["--samples", bytes], "not images"),
            (["--samples", badLabels], "Int32 (20)"),
            (["--samples", good, "--labels", "classes"], "no tensor 'classes'"),
            (["--samples", good, "--range", "bytes"], "unknown value 'bytes'"),
        };
        foreach (var (args, says) in cases)
        {
            var (code, stdout, stderr) = Run(args);
            string what = string.Join(" ", args);
            Assert.That(code, Is.EqualTo(2), what + ": " + stderr + stdout);
            Assert.That(stderr.Trim().Split('\n'), Has.Length.EqualTo(1), what);
            Assert.That(stderr, Does.StartWith("evaluate: ").And.Contain(says), what);
        }
        Assert.That(Directory.GetFiles(dir, "*.json"), Is.Empty);
    }
}
