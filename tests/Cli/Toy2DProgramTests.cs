// End-to-end tests of examples/Toy2D through Toy2DApp.Run (in-process, tiny step counts):
//   * 40 uninterrupted steps == 20 steps + --resume to 40 == Ctrl-C at step 0 + --resume to 40,
//     bit for bit in every checkpoint tensor (model, Adam moments), and in the logged losses;
//   * the outputs the README promises are all written;
//   * bad input (unknown option, bad --lr, unknown --data, fresh run over a previous one, --resume
//     without a checkpoint, a checkpoint of another model or config) returns 2 with one line on
//     stderr and leaves every file in --out byte-for-byte and timestamp-for-timestamp as it was.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli.Toy2D

using Denoise.Cli;
using Denoise.Examples;
using Denoise.IO;
using Denoise.NN;
using NUnit.Framework;

namespace Denoise.Tests.Cli;

public class Toy2DProgramTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-toy2d-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    // Small everything: 32 points per step, 64 samples, 4 Euler steps.
    static string[] Args(string outDir, int steps, params string[] more) =>
        ["--out", outDir, "--steps", steps.ToString(), "--batch-size", "32", "--samples", "64", "--sampling-steps", "4",
         "--log-every", "10", "--checkpoint-every", "15", .. more];

    static (int Exit, string Out, string Err) Run(string[] args, CancellationToken cancel = default)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int exit = Toy2DApp.Run(args, o, e, cancel);
        return (exit, o.ToString(), e.ToString());
    }

    static Dictionary<string, int[]> CheckpointBits(string outDir)
    {
        var (tensors, _) = TensorFile.Load(Path.Combine(outDir, "checkpoint.safetensors"));
        return tensors.ToDictionary(kv => kv.Key, kv => kv.Value.DType == DType.Int32
            ? kv.Value.ToIntArray()
            : kv.Value.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray());
    }

    static List<string> LoggedLosses(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl"))
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Select(r => $"{r.GetProperty("step").GetInt32()}:{r.GetProperty("loss").GetRawText()}").ToList();

    [Test]
    public void Resume_EqualsUninterrupted_BitForBit()
    {
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b"), c = Path.Combine(dir, "c");
        Assert.That(Run(Args(a, 40)).Exit, Is.Zero);

        var first = Run(Args(b, 20));
        Assert.That(first.Exit, Is.Zero, first.Err);
        var second = Run(Args(b, 40, "--resume"));
        Assert.That(second.Exit, Is.Zero, second.Err);
        Assert.That(second.Out, Does.Contain("Resumed from").And.Contain("at step 20"));

        // Ctrl-C before the first step: a checkpoint at step 0, exit 130; then resume all the way.
        using (var cts = new CancellationTokenSource())
        {
            cts.Cancel();
            var interrupted = Run(Args(c, 40), cts.Token);
            Assert.That(interrupted.Exit, Is.EqualTo(130));
            Assert.That(interrupted.Out, Does.Contain("Interrupted at step 0").And.Contain("--resume"));
            Assert.That(File.Exists(Path.Combine(c, "samples.png")), Is.False, "no sampling after an interrupt");
        }
        Assert.That(Run(Args(c, 40, "--resume")).Exit, Is.Zero);

        var expected = CheckpointBits(a);
        Assert.That(expected.Keys, Has.Some.StartsWith("model/").And.Some.StartsWith("optim/"));
        foreach (var other in new[] { b, c })
        {
            var got = CheckpointBits(other);
            Assert.That(got.Keys, Is.EquivalentTo(expected.Keys));
            foreach (var (name, bits) in expected) Assert.That(got[name], Is.EqualTo(bits), $"{other}: {name}");
        }
        Assert.That(LoggedLosses(b), Is.EqualTo(LoggedLosses(a)), "metrics.jsonl reads as one run");
        Assert.That(LoggedLosses(a), Has.Count.EqualTo(4));

        foreach (var f in new[] { "config.json", "metrics.jsonl", "samples.png", "trajectories.png", "trajectory.gif", "loss.png",
                                  "metrics.json", "samples.safetensors", "checkpoint.safetensors" })
            Assert.That(File.Exists(Path.Combine(a, f)), f);
        Assert.That(File.ReadAllBytes(Path.Combine(a, "trajectory.gif"))[..6], Is.EqualTo("GIF89a"u8.ToArray()));
        Assert.That(TensorFile.Load(Path.Combine(a, "samples.safetensors")).Tensors["samples"].ShapeStr, Is.EqualTo("(64, 2)"));
    }

    static void AssertRefused(string[] args, string dirToKeep, params string[] messageParts) =>
        OutFolder.AssertRefused(a => { var r = Run(a); return (r.Item1, r.Item2, r.Item3); }, "toy2d", args, dirToKeep, messageParts);

    [Test]
    public void BadInput_Exit2_OneLine_NothingInOutTouched()
    {
        string run = Path.Combine(dir, "run");
        Assert.That(Run(Args(run, 15)).Exit, Is.Zero);

        AssertRefused(Args(run, 30, "--resume", "--lern-rate", "0.1"), run, "unknown option --lern-rate");
        AssertRefused(Args(run, 30, "--resume", "--lr", "fast"), run, "--lr: 'fast' is not a number");
        AssertRefused(Args(run, 30, "--resume", "--data", "spirals"), run, "--data", "spirals", "moons");
        AssertRefused(Args(run, 30), run, "already holds a run", "--resume", "--overwrite");
        AssertRefused(Args(run, 30, "--resume", "--lr", "0.01"), run, "--resume: cannot continue", "different config");
        AssertRefused(Args(run, 30, "--resume", "--data", "checkerboard"), run, "different config");

        string empty = Path.Combine(dir, "empty");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, "notes.txt"), "mine");
        AssertRefused(Args(empty, 30, "--resume"), empty, "--resume: no checkpoint at");

        // A checkpoint written by another model.
        string other = Path.Combine(dir, "other");
        Checkpoint.Save(Path.Combine(other, "checkpoint.safetensors"), new TrainingState("some-vae", new Linear(2, 2, gen: new Generator(1))), 7);
        File.WriteAllText(Path.Combine(other, "config.json"), "{}");
        AssertRefused(Args(other, 30, "--resume"), other, "some-vae", Toy2DApp.ModelName);

        // A file that is not a checkpoint at all.
        string junk = Path.Combine(dir, "junk");
        Directory.CreateDirectory(junk);
        File.WriteAllText(Path.Combine(junk, "checkpoint.safetensors"), "not safetensors");
        AssertRefused(Args(junk, 30, "--resume"), junk, "--resume: cannot continue");
    }

    [Test]
    public void Overwrite_StartsAfresh()
    {
        string run = Path.Combine(dir, "run");
        Assert.That(Run(Args(run, 20)).Exit, Is.Zero);
        var (exit, _, err) = Run(Args(run, 10, "--overwrite"));
        Assert.That(exit, Is.Zero, err);
        Assert.That(LoggedLosses(run).Select(l => l.Split(':')[0]), Is.EqualTo(new[] { "10" }), "the old metrics are gone");
    }

    [Test]
    public void Help_Exit0_ListsTheProgramsOptions()
    {
        var (exit, output, err) = Run(["--help"]);
        Assert.That(exit, Is.Zero);
        Assert.That(err, Is.Empty);
        foreach (var name in new[] { "--data", "--steps", "--batch-size", "--lr", "--seed", "--device", "--out", "--resume", "--overwrite",
                                     "--sample-every", "--checkpoint-every", "--samples", "--sampling-steps" })
            Assert.That(output, Does.Contain(name));
        Assert.That(output, Does.Contain("(default 3000)").And.Contain("(default runs/toy2d)"));
    }

    static System.Text.Json.JsonElement Metrics(string outDir) =>
        System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json"))).RootElement;

    [TestCase("flow")]
    [TestCase("reflow")]
    [TestCase("ddpm")]
    [TestCase("ddim")]
    public void EveryMethod_RunsAndWritesItsFiles(string method)
    {
        string run = Path.Combine(dir, method);
        var (exit, output, err) = Run(Args(run, 20, "--method", method, "--reflow-steps", "10", "--reflow-pairs", "64"));
        Assert.That(exit, Is.Zero, err);
        foreach (var f in new[] { "config.json", "metrics.jsonl", "samples.png", "trajectories.png", "trajectory.gif", "loss.png",
                                  "metrics.json", "samples.safetensors", "checkpoint.safetensors" })
            Assert.That(File.Exists(Path.Combine(run, f)), f);
        var m = Metrics(run);
        Assert.That(m.GetProperty("method").GetString(), Is.EqualTo(method));
        Assert.That(m.GetProperty("sliced_w2_samples").GetDouble(), Is.GreaterThan(0).And.LessThan(100));
        Assert.That(System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json"))).RootElement
            .GetProperty("Method").GetString(), Is.EqualTo(method));
        if (method == "reflow")
        {
            Assert.That(File.Exists(Path.Combine(run, "reflow_pairs.safetensors")));
            var r = m.GetProperty("reflow");
            foreach (var k in new[] { "straightness_1rf", "straightness_2rf", "sliced_w2_1step_1rf", "sliced_w2_2step_2rf" })
                Assert.That(r.GetProperty(k).GetDouble(), Is.GreaterThanOrEqualTo(0), k);
            Assert.That(output, Does.Contain("Straightness"));
        }
        if (method == "ddpm") Assert.That(output, Does.Contain("1000 ancestral steps"));
        if (method == "ddim") Assert.That(output, Does.Contain("4 DDIM steps"));

        // The method is part of the config: a checkpoint of one method does not resume as another.
        AssertRefused(Args(run, 30, "--resume", "--method", method == "flow" ? "ddpm" : "flow", "--reflow-steps", "10", "--reflow-pairs", "64"),
                      run, "different config");
    }

    [Test]
    public void Reflow_ResumeAcrossThePhases_EqualsUninterrupted_BitForBit()
    {
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b"), c = Path.Combine(dir, "c");
        string[] R(string d, params string[] more) => Args(d, 20, ["--method", "reflow", "--reflow-pairs", "64", .. more]);
        Assert.That(Run(R(a, "--reflow-steps", "20")).Exit, Is.Zero);
        Assert.That(Run(R(b, "--reflow-steps", "0")).Exit, Is.Zero);                      // stops at the switch
        Assert.That(Run(R(b, "--reflow-steps", "20", "--resume")).Exit, Is.Zero);         // draws the pairs on resume
        Assert.That(Run(R(c, "--reflow-steps", "8")).Exit, Is.Zero);                      // stops inside the reflow phase
        var resumed = Run(R(c, "--reflow-steps", "20", "--resume"));                        // reads the pairs back
        Assert.That(resumed.Exit, Is.Zero, resumed.Err);
        var expected = CheckpointBits(a);
        foreach (var other in new[] { b, c })
            foreach (var (name, bits) in expected) Assert.That(CheckpointBits(other)[name], Is.EqualTo(bits), $"{other}: {name}");
        Assert.That(Metrics(c).GetProperty("sliced_w2_samples").GetDouble(), Is.EqualTo(Metrics(a).GetProperty("sliced_w2_samples").GetDouble()));
    }

    /// <summary>
    /// DDPM (T = 1000, ε-prediction, the MLP reading t/T) on two moons, 400 steps of 256 points, 500 samples:
    /// sliced W2 to fresh data must be under 0.2 and under half that of Gaussian noise. Measured (seeded, so
    /// repeatable): samples 0.144, a second data set 0.177 (500 points make the floor itself that large), noise 0.371.
    /// </summary>
    [Test]
    public void Ddpm_OnTwoMoons_LandsWellBelowTheNoiseDistance()
    {
        string run = Path.Combine(dir, "ddpm");
        var (exit, _, err) = Run(["--out", run, "--method", "ddpm", "--steps", "400", "--batch-size", "256", "--samples", "500",
                                  "--lr", "3e-3", "--log-every", "100", "--checkpoint-every", "1000"]);
        Assert.That(exit, Is.Zero, err);
        var m = Metrics(run);
        double model = m.GetProperty("sliced_w2_samples").GetDouble(), noise = m.GetProperty("sliced_w2_noise").GetDouble();
        TestContext.Out.WriteLine($"ddpm 400 steps: sliced W2 {model:F4}, data floor {m.GetProperty("sliced_w2_data_floor").GetDouble():F4}, noise {noise:F4}");
        Assert.That(model, Is.LessThan(0.2));
        Assert.That(model, Is.LessThan(noise / 2));
    }
}
