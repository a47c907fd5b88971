// End-to-end tests of examples/Diffusion through DiffusionApp.Run (in-process, tiny: the synthetic
// stand-in data, a base-4 UNet, 4 steps of batch 4, 2 sampling steps, 1 sample per digit):
//   * every method runs and writes its PNGs (decoded with Png.Read) and samples.safetensors of shape
//     (10, 1, 28, 28) in [0, 1] with labels 0…9;
//   * 2 steps + --resume to 4 == 4 uninterrupted steps, bit for bit in every checkpoint tensor
//     (model, EMA, Adam moments) and in metrics.jsonl;
//   * bad input (unknown method, bad guidance, an option of another method, --resume without a
//     checkpoint, a checkpoint of another model or config, a fresh run over a previous one) returns 2
//     with one line on stderr and leaves every file in --out byte- and timestamp-identical.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Examples.DiffusionApp

using Denoise.Examples;
using Denoise.IO;
using Denoise.NN;
using NUnit.Framework;

namespace Denoise.Tests.Examples;

public class DiffusionAppTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-diffusion-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static string[] Args(string outDir, int steps, params string[] more) =>
        ["--dataset", "synthetic", "--base-channels", "4", "--steps", steps.ToString(), "--batch-size", "4", "--sampling-steps", "2",
         "--samples-per-class", "1", "--log-every", "1", "--checkpoint-every", "2", "--out", outDir, .. more];

    static (int Exit, string Out, string Err) Run(string[] args, CancellationToken cancel = default)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int exit = DiffusionApp.Run(args, o, e, cancel);
        return (exit, o.ToString(), e.ToString());
    }

    static Dictionary<string, int[]> CheckpointBits(string outDir)
    {
        var (tensors, _) = TensorFile.Load(Path.Combine(outDir, "checkpoint.safetensors"));
        return tensors.ToDictionary(kv => kv.Key, kv => kv.Value.DType == DType.Int32
            ? kv.Value.ToIntArray()
            : kv.Value.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray());
    }

    // ddpm with T = 10 so its ancestral sampler (all T steps, three times: grid, inpainting… ) stays tiny.
    [TestCase("ddpm", "--timesteps", "10")]
    [TestCase("ddim")]
    [TestCase("flow", "--heun")]
    [TestCase("reflow", "--reflow-pairs", "8", "--reflow-steps", "2")]
    public void EveryMethod_WritesItsImagesAndSamples(string method, params string[] more)
    {
        string outDir = Path.Combine(dir, method);
        var (exit, output, err) = Run(Args(outDir, 4, ["--method", method, .. more]));
        Assert.That(exit, Is.Zero, output + err);
        Assert.That(output, Does.Contain("synthetic strokes (not MNIST)"), "the stand-in data says what it is");

        var pngs = new List<string> { "samples.png", "trajectory.png", "interpolation.png", "loss.png" };
        if (method is "ddpm" or "ddim") pngs.Add("inpainting.png");
        else Assert.That(File.Exists(Path.Combine(outDir, "inpainting.png")), Is.False);
        foreach (var f in pngs)
        {
            var image = Png.Read(Path.Combine(outDir, f));
            Assert.That(image.Width, Is.GreaterThan(28), f);
            Assert.That(image.Height, Is.GreaterThan(28), f);
        }
        // The grid: one row per digit (10 rows of 56-px tiles at least).
        Assert.That(Png.Read(Path.Combine(outDir, "samples.png")).Height, Is.GreaterThanOrEqualTo(10 * 56));
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "trajectory.gif"))[..6], Is.EqualTo("GIF89a"u8.ToArray()));
        foreach (var f in new[] { "config.json", "metrics.jsonl", "checkpoint.safetensors" })
            Assert.That(File.Exists(Path.Combine(outDir, f)), f);
        if (method == "reflow") Assert.That(File.Exists(Path.Combine(outDir, DiffusionApp.ReflowPairsFile)));

        var (tensors, _) = TensorFile.Load(Path.Combine(outDir, "samples.safetensors"));
        var samples = tensors["samples"];
        Assert.That(samples.ShapeStr, Is.EqualTo("(10, 1, 28, 28)"));
        Assert.That(samples.ToArray(), Has.All.InRange(0f, 1f));
        Assert.That(tensors["labels"].ToIntArray(), Is.EqualTo(Enumerable.Range(0, 10).ToArray()));
    }

    [Test]
    public void Resume_EqualsUninterrupted_BitForBit()
    {
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
        Assert.That(Run(Args(a, 4)).Exit, Is.Zero);
        var first = Run(Args(b, 2));
        Assert.That(first.Exit, Is.Zero, first.Err);
        var second = Run(Args(b, 4, "--resume"));
        Assert.That(second.Exit, Is.Zero, second.Err);
        Assert.That(second.Out, Does.Contain("Resumed from").And.Contain("at step 2"));

        var expected = CheckpointBits(a);
        Assert.That(expected.Keys, Has.Some.StartsWith("model/").And.Some.StartsWith("optim/").And.Some.StartsWith("ema/"));
        var got = CheckpointBits(b);
        Assert.That(got.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (name, bits) in expected) Assert.That(got[name], Is.EqualTo(bits), name);
        Assert.That(File.ReadAllLines(Path.Combine(b, "metrics.jsonl")).Select(StepAndLoss),
                    Is.EqualTo(File.ReadAllLines(Path.Combine(a, "metrics.jsonl")).Select(StepAndLoss)), "metrics.jsonl reads as one run");
    }

    static string StepAndLoss(string line)
    {
        var r = System.Text.Json.JsonDocument.Parse(line).RootElement;
        return $"{r.GetProperty("step").GetInt32()}:{r.GetProperty("loss").GetRawText()}";
    }

    static void AssertRefused(string[] args, string dirToKeep, params string[] messageParts) =>
        OutFolder.AssertRefused(a => { var r = Run(a); return (r.Item1, r.Item2, r.Item3); }, "diffusion", args, dirToKeep, messageParts);

    [Test]
    public void BadInput_Exit2_OneLine_NothingInOutTouched()
    {
        string run = Path.Combine(dir, "run");
        Assert.That(Run(Args(run, 2)).Exit, Is.Zero);

        AssertRefused(Args(run, 4, "--resume", "--method", "gan"), run, "--method", "gan", "ddpm, ddim, flow, reflow");
        AssertRefused(Args(run, 4, "--resume", "--guidance", "-1"), run, "--guidance", "below the minimum 0");
        AssertRefused(Args(run, 4, "--resume", "--guidance", "strong"), run, "--guidance: 'strong' is not a number");
        AssertRefused(Args(run, 4, "--resume", "--prediction", "v"), run, "--prediction applies to ddpm/ddim");
        AssertRefused(Args(run, 4, "--resume", "--label-dropout", "0.2"), run, "--resume: cannot continue", "different config");
        AssertRefused(Args(run, 4), run, "already holds a run", "--overwrite");

        string empty = Path.Combine(dir, "empty");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "mine");
        AssertRefused(Args(empty, 4, "--resume"), empty, "--resume: no checkpoint at");

        string other = Path.Combine(dir, "other");
        Checkpoint.Save(Path.Combine(other, "checkpoint.safetensors"), new TrainingState("some-vae", new Linear(2, 2, gen: new Generator(1))), 7);
        File.WriteAllText(Path.Combine(other, "config.json"), "{}");
        AssertRefused(Args(other, 4, "--resume"), other, "some-vae", DiffusionApp.ModelName);
    }

    [Test]
    public void Help_Exit0_ListsTheProgramsOptions()
    {
        var (exit, output, err) = Run(["--help"]);
        Assert.That(exit, Is.Zero);
        Assert.That(err, Is.Empty);
        foreach (var name in new[] { "--method", "--guidance", "--sampling-steps", "--heun", "--base-channels", "--prediction", "--schedule",
                                     "--label-dropout", "--ema-decay", "--dataset", "--data", "--steps", "--batch-size", "--resume", "--overwrite" })
            Assert.That(output, Does.Contain(name));
    }
}
