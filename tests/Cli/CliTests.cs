// Tests for engine/Cli/: the option parser (values, defaults, --help text, and every error path:
// one line, naming the option and the problem, exit code 2), RunDirectory (refuses to clobber a
// previous run, allows --resume, metrics.jsonl is valid JSON per line and trimmed on resume),
// Progress (plain lines when redirected, throttled '\r' updates on a terminal) and TrainingLoop
// (Ctrl-C writes a checkpoint and exits 130; a non-finite loss stops with 1).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli

using System.Text.Json;
using Denoise.Cli;
using NUnit.Framework;

namespace Denoise.Tests.Cli;

public class OptionParserTests
{
    sealed record Declared(OptionParser Cli, CommonOptions Common, Option<int> Samples, Option<string> Schedule);

    static Declared Declare()
    {
        var cli = new OptionParser("demo", "a test program.", "demo [options]");
        var common = CommonOptions.Add(cli, new CommonDefaults("moons", "moons | rings", 3000, 512, 1e-3f, "runs/demo",
            ValidateData: d => d is "moons" or "rings" ? null : $"unknown data set '{d}'; available: moons, rings."));
        var samples = cli.Int("--samples", 2000, "points to sample", min: 2, max: 100_000);
        var schedule = cli.Choice("--schedule", "cosine", "noise schedule", "linear", "cosine");
        return new Declared(cli, common, samples, schedule);
    }

    static (int? Exit, string Out, string Err, Declared D) Parse(params string[] args)
    {
        var d = Declare();
        var (o, e) = (new StringWriter(), new StringWriter());
        int? exit = d.Cli.Parse(args, o, e);
        return (exit, o.ToString(), e.ToString(), d);
    }

    [Test]
    public void Parse_HappyPath_ReadsValuesAndKeepsDefaults()
    {
        var (exit, _, err, d) = Parse("--steps", "10", "--lr=0.5", "--resume", "--data", "rings", "--schedule", "LINEAR", "--out", "x y");
        Assert.That(exit, Is.Null, err);
        Assert.That(d.Common.Steps.Value, Is.EqualTo(10));
        Assert.That(d.Common.Lr.Value, Is.EqualTo(0.5f));
        Assert.That(d.Common.Resume.Value, Is.True);
        Assert.That(d.Common.Data.Value, Is.EqualTo("rings"));
        Assert.That(d.Schedule.Value, Is.EqualTo("linear"), "choices are case-insensitive, value canonical");
        Assert.That(d.Common.Out.Value, Is.EqualTo("x y"));
        Assert.That(d.Common.BatchSize.Value, Is.EqualTo(512));
        Assert.That(d.Common.BatchSize.IsSet, Is.False);
        Assert.That(d.Common.Overwrite.Value, Is.False);
        Assert.That(d.Samples.Value, Is.EqualTo(2000));
        Assert.That(d.Common.Device.Value, Is.EqualTo("cpu"));
    }

    [Test]
    public void Parse_NegativeNumberIsAValue_NotAnOption()
    {
        var cli = new OptionParser("demo", "d", "demo");
        var shift = cli.Float("--shift", 0f, "shift");
        Assert.That(cli.Parse(["--shift", "-0.25"], TextWriter.Null, TextWriter.Null), Is.Null);
        Assert.That(shift.Value, Is.EqualTo(-0.25f));
    }

    [TestCase(new[] { "--stpes", "5" }, "unknown option --stpes", "did you mean --steps?")]
    [TestCase(new[] { "--batchsize", "5" }, "unknown option --batchsize", "did you mean --batch-size?")]
    [TestCase(new[] { "--completely-different" }, "unknown option --completely-different", "")]
    [TestCase(new[] { "--steps" }, "--steps needs a value", "(N)")]
    [TestCase(new[] { "--steps", "--resume" }, "--steps needs a value", "")]
    [TestCase(new[] { "--lr", "abc" }, "--lr: 'abc' is not a number", "")]
    [TestCase(new[] { "--lr", "NaN" }, "--lr: 'NaN' is not a number", "")]
    [TestCase(new[] { "--lr", "-1" }, "--lr: -1 must be positive", "")]
    [TestCase(new[] { "--lr", "0" }, "--lr: 0 must be positive", "")]
    [TestCase(new[] { "--steps", "1.5" }, "--steps: '1.5' is not an integer", "")]
    [TestCase(new[] { "--steps", "99999999999" }, "--steps: '99999999999' is not an integer", "")]
    [TestCase(new[] { "--steps", "0" }, "--steps: 0 is below the minimum 1", "")]
    [TestCase(new[] { "--samples", "100001" }, "--samples: 100001 is above the maximum 100000", "")]
    [TestCase(new[] { "--seed", "-3" }, "--seed: -3 is below the minimum 0", "")]
    [TestCase(new[] { "--resume=yes" }, "--resume is a flag and takes no value", "")]
    [TestCase(new[] { "steps" }, "unexpected argument 'steps'", "")]
    [TestCase(new[] { "--steps", "5", "--steps", "6" }, "--steps is given twice", "")]
    [TestCase(new[] { "--device", "tpu" }, "--device: Unknown device 'tpu'", "cpu")]
    [TestCase(new[] { "--data", "spirals" }, "--data: unknown data set 'spirals'", "moons, rings")]
    [TestCase(new[] { "--schedule", "cosin" }, "--schedule: unknown value 'cosin'; did you mean cosine?", "linear, cosine")]
    [TestCase(new[] { "--out", " " }, "--out: the folder name is empty", "")]
    public void Parse_BadInput_OneLineNamingOptionAndProblem_Exit2(string[] args, string expected, string alsoExpected)
    {
        var (exit, output, err, _) = Parse(args);
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(output, Is.Empty);
        Assert.That(err, Does.StartWith("demo: " + expected));
        Assert.That(err, Does.Contain(alsoExpected));
        Assert.That(err, Does.EndWith("(see --help)" + Environment.NewLine));
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "exactly one line");
        if (alsoExpected.Length == 0 && expected.StartsWith("unknown option --completely"))
            Assert.That(err, Does.Not.Contain("did you mean"), "no suggestion when nothing is close");
    }

    [Test]
    public void Help_ListsEveryOptionWithDefaults_Exit0()
    {
        var (exit, output, err, d) = Parse("--steps", "zzz", "--help");
        Assert.That(exit, Is.EqualTo(0), "--help wins over errors elsewhere on the line");
        Assert.That(err, Is.Empty);
        Assert.That(output, Does.StartWith("demo: a test program."));
        Assert.That(output, Does.Contain("Usage: demo [options]"));
        foreach (var o in d.Cli.Options) Assert.That(output, Does.Contain(o.Name), o.Name);
        string[] lines = output.Split('\n');
        string Line(string name) => lines.Single(l => l.TrimStart().StartsWith(name + " ", StringComparison.Ordinal) || l.Trim() == name);
        Assert.That(Line("--steps"), Does.Contain("--steps N").And.EndWith("(default 3000)"));
        Assert.That(Line("--lr"), Does.Contain("--lr X").And.EndWith("(default 0.001)"));
        Assert.That(Line("--data"), Does.Contain("moons | rings").And.EndWith("(default moons)"));
        Assert.That(Line("--out"), Does.Contain("DIR").And.EndWith("(default runs/demo)"));
        Assert.That(Line("--schedule"), Does.EndWith("(default cosine)"));
        Assert.That(Line("--resume"), Does.Not.Contain("default"), "flags show no default");
        Assert.That(Line("--help"), Does.Contain("this text"));
        // Defaults line up in one column.
        var columns = lines.Where(l => l.Contains("(default ")).Select(l => l.IndexOf("(default ", StringComparison.Ordinal)).Distinct();
        Assert.That(columns.Count(), Is.EqualTo(1));
    }

    [Test]
    public void Parse_Twice_StartsFromDefaults()
    {
        var d = Declare();
        Assert.That(d.Cli.Parse(["--steps", "7"], TextWriter.Null, TextWriter.Null), Is.Null);
        Assert.That(d.Cli.Parse([], TextWriter.Null, TextWriter.Null), Is.Null);
        Assert.That(d.Common.Steps.Value, Is.EqualTo(3000));
    }

    [Test]
    public void Declare_SameNameTwice_Throws()
    {
        var cli = new OptionParser("demo", "d", "demo");
        cli.Int("--steps", 1, "s");
        Assert.Throws<ArgumentException>(() => cli.Int("--steps", 2, "again"));
        Assert.Throws<ArgumentException>(() => cli.Flag("steps", "no dashes"));
    }
}

public class RunDirectoryTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-run-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    [Test]
    public void FreshRun_InNewFolder_CreatesItAndWritesConfig()
    {
        string outDir = Path.Combine(dir, "a", "b");
        var run = RunDirectory.Open(outDir, resume: false, overwrite: false);
        run.Begin("""{"x":1}""");
        Assert.That(File.ReadAllText(Path.Combine(outDir, "config.json")), Is.EqualTo("""{"x":1}"""));
        Assert.That(run.Resuming, Is.False);
    }

    [TestCase("checkpoint.safetensors")]
    [TestCase("config.json")]
    [TestCase("metrics.jsonl")]
    public void FreshRun_OverPreviousRun_IsRefusedAndFilesUntouched(string existing)
    {
        File.WriteAllText(Path.Combine(dir, existing), "previous");
        var e = Assert.Throws<UsageException>(() => RunDirectory.Open(dir, resume: false, overwrite: false));
        Assert.That(e!.Message, Does.Contain("already holds a run").And.Contain(existing).And.Contain("--resume").And.Contain("--overwrite").And.Contain("another --out"));
        Assert.That(File.ReadAllText(Path.Combine(dir, existing)), Is.EqualTo("previous"));
    }

    [Test]
    public void FreshRun_WithOverwrite_ReplacesThePreviousRun()
    {
        File.WriteAllText(Path.Combine(dir, "checkpoint.safetensors"), "old");
        File.WriteAllText(Path.Combine(dir, "metrics.jsonl"), "{\"step\":1}\n");
        var run = RunDirectory.Open(dir, resume: false, overwrite: true);
        Assert.That(File.Exists(run.CheckpointPath), "nothing is removed before Begin");
        run.Begin("{}");
        Assert.That(File.Exists(run.CheckpointPath), Is.False);
        Assert.That(File.Exists(Path.Combine(dir, "metrics.jsonl")), Is.False);
    }

    [Test]
    public void Resume_NeedsACheckpoint()
    {
        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        var e = Assert.Throws<UsageException>(() => RunDirectory.Open(dir, resume: true, overwrite: false));
        Assert.That(e!.Message, Does.StartWith("--resume: no checkpoint at").And.Contain("checkpoint.safetensors"));
        Assert.Throws<UsageException>(() => RunDirectory.Open(Path.Combine(dir, "missing"), resume: true, overwrite: false));
        Assert.That(Directory.Exists(Path.Combine(dir, "missing")), Is.False, "a refused run creates nothing");

        File.WriteAllText(Path.Combine(dir, "checkpoint.safetensors"), "ckpt");
        Assert.That(RunDirectory.Open(dir, resume: true, overwrite: false).Resuming, Is.True);
        Assert.Throws<UsageException>(() => RunDirectory.Open(dir, resume: true, overwrite: true));
    }

    [Test]
    public void Metrics_AppendValidJsonLines_AndResumeTrimsLaterSteps()
    {
        var run = RunDirectory.Open(dir, resume: false, overwrite: false);
        run.Begin("{}");
        for (int s = 10; s <= 50; s += 10) run.AppendMetrics(new { step = s, loss = 1f / s, note = "a \"quoted\" word" });
        run.AppendMetrics(new { step = 60, loss = float.NaN });
        string path = Path.Combine(dir, "metrics.jsonl");
        var lines = File.ReadAllLines(path);
        Assert.That(lines, Has.Length.EqualTo(6));
        foreach (var line in lines) Assert.DoesNotThrow(() => JsonDocument.Parse(line).Dispose(), line);
        Assert.That(JsonDocument.Parse(lines[2]).RootElement.GetProperty("step").GetInt32(), Is.EqualTo(30));

        File.AppendAllText(path, "{\"step\":70,\"lo");   // a line torn by a crash
        File.WriteAllText(Path.Combine(dir, "checkpoint.safetensors"), "ckpt");
        var resumed = RunDirectory.Open(dir, resume: true, overwrite: false);
        resumed.Begin("{}", resumedStep: 30);
        Assert.That(File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()),
                    Is.EqualTo(new[] { 10, 20, 30 }));
        Assert.That(File.ReadAllText(Path.Combine(dir, "checkpoint.safetensors")), Is.EqualTo("ckpt"), "resume keeps the checkpoint");
    }
}

public class ProgressTests
{
    [Test]
    public void Redirected_PrintsPlainLinesEveryNStepsAndAtTheEnd()
    {
        var w = new StringWriter();
        double t = 0;
        var p = new Progress(w, totalSteps: 25, startStep: 0, itemsPerStep: 64, "points", logEvery: 10, interactive: false, clock: () => t);
        for (int s = 1; s <= 25; s++) { t = s * 0.5; p.Report(s, loss: s); }
        var lines = w.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.That(w.ToString(), Does.Not.Contain("\r"));
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(lines[0], Does.StartWith("step 10/25  loss 5.5000  2.0 steps/s  128 points/s  ETA 8s"));
        Assert.That(lines[1], Does.StartWith("step 20/25  loss 15.5000"));
        Assert.That(lines[2], Does.StartWith("step 25/25  loss 20.5000").And.EndWith("ETA 0s"), "window = last 10 losses: 16..25");
    }

    [Test]
    public void Terminal_RewritesOneLineAtMostTenTimesASecond()
    {
        var w = new StringWriter();
        double t = 0;
        var p = new Progress(w, totalSteps: 1000, startStep: 500, itemsPerStep: 8, logEvery: 100, interactive: true, clock: () => t);
        for (int s = 501; s <= 1000; s++) { t += 0.004; p.Report(s, 1f); }   // 2 s of steps
        string text = w.ToString();
        int redraws = text.Count(c => c == '\r');
        Assert.That(redraws, Is.InRange(19, 22), "2 s at ≤ 10 redraws/s, plus the final one");
        Assert.That(text, Does.EndWith(Environment.NewLine), "the final state stays on screen, then a newline");
        Assert.That(text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
        Assert.That(text, Does.Contain("step 1000/1000").And.Contain("250.0 steps/s").And.Contain("2000 images/s"));
    }

    [TestCase(5.0, "5s")]
    [TestCase(125.0, "2m05s")]
    [TestCase(3725.0, "1h02m")]
    [TestCase(double.NaN, "?")]
    public void FormatDuration_IsShort(double seconds, string expected) => Assert.That(Progress.FormatDuration(seconds), Is.EqualTo(expected));
}

public class TrainingLoopTests
{
    static (TrainingLoop Loop, List<int> Steps, List<int> Checkpoints, List<int> Logs, List<int> Samples) Make(
        int start, int total, CancellationToken cancel, Func<int, float>? step = null, Action<int>? onStep = null)
    {
        var steps = new List<int>(); var ckpts = new List<int>(); var logs = new List<int>(); var samples = new List<int>();
        var loop = new TrainingLoop
        {
            StartStep = start, TotalSteps = total,
            Step = i => { steps.Add(i); onStep?.Invoke(i); return step?.Invoke(i) ?? 1f; },
            SaveCheckpoint = ckpts.Add,
            Progress = new Progress(TextWriter.Null, total, start, 1, interactive: false),
            CheckpointEvery = 4, LogEvery = 3, SampleEvery = 5,
            Log = (s, _, _) => logs.Add(s), Sample = samples.Add, Cancel = cancel,
        };
        return (loop, steps, ckpts, logs, samples);
    }

    [Test]
    public void Run_CallsBackOnSchedule()
    {
        var (loop, steps, ckpts, logs, samples) = Make(2, 11, CancellationToken.None);
        var result = loop.Run();
        Assert.That(result, Is.EqualTo(new LoopResult(LoopOutcome.Completed, 11, 1f)));
        Assert.That(result.ExitCode, Is.Zero);
        Assert.That(steps, Is.EqualTo(Enumerable.Range(2, 9)));
        Assert.That(ckpts, Is.EqualTo(new[] { 4, 8, 11 }));
        Assert.That(logs, Is.EqualTo(new[] { 3, 6, 9, 11 }));
        Assert.That(samples, Is.EqualTo(new[] { 5, 10 }));
    }

    [Test]
    public void CtrlC_BetweenSteps_WritesCheckpointAndExits130()
    {
        using var cts = new CancellationTokenSource();
        var (loop, steps, ckpts, _, _) = Make(0, 100, cts.Token, onStep: i => { if (i == 5) cts.Cancel(); });
        var result = loop.Run();
        Assert.That(result.Outcome, Is.EqualTo(LoopOutcome.Interrupted));
        Assert.That(result.ExitCode, Is.EqualTo(130));
        Assert.That(steps.Last(), Is.EqualTo(5), "the step under way finishes");
        Assert.That(ckpts, Is.EqualTo(new[] { 4, 6 }), "then a checkpoint of the 6 steps done");
    }

    [Test]
    public void NonFiniteLoss_StopsWithExit1_WithoutCheckpoint()
    {
        var (loop, _, ckpts, _, _) = Make(0, 100, CancellationToken.None, step: i => i == 6 ? float.NaN : 1f);
        var result = loop.Run();
        Assert.That(result.Outcome, Is.EqualTo(LoopOutcome.Diverged));
        Assert.That((result.Step, result.ExitCode), Is.EqualTo((7, 1)));
        Assert.That(ckpts, Is.EqualTo(new[] { 4 }), "the last good checkpoint is kept");
    }
}
