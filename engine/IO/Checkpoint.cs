// Training checkpoints: everything needed to continue a run exactly where it stopped, in one
// safetensors file (so other tools can read the weights):
//   tensors   model/<name>   optim/<key>   optim.<name>/<key> (extra optimizers)   ema/<key>
//   metadata  format, model (a name for the network), step, rng_seed, rng_offset, config (JSON)
// Written atomically (temp file, then rename): a crash never leaves a half checkpoint.
// Loading checks that the file is a Denoise checkpoint of the same model (and, when asked, the same
// config) before anything is changed, and names the problem otherwise.
using Denoise.NN;
using Denoise.Optim;

namespace Denoise.IO;

public sealed class CheckpointMismatchException(string message) : Exception(message);

/// <summary>What a checkpoint holds or restores; leave a part null to skip it. Models with more than one
/// optimizer (a GAN's generator and discriminator) name the others in <paramref name="ExtraOptimizers"/>.</summary>
public sealed record TrainingState(string ModelName, Module Model, Optimizer? Optimizer = null, Ema? Ema = null,
    Generator? Rng = null, string? ConfigJson = null, IReadOnlyDictionary<string, Optimizer>? ExtraOptimizers = null);

public static class Checkpoint
{
    public const string Format = "denoise-checkpoint/1";

    public static void Save(string path, TrainingState state, long step)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in state.Model.StateDict()) tensors["model/" + k] = v;
        if (state.Optimizer != null) foreach (var (k, v) in state.Optimizer.StateDict()) tensors["optim/" + k] = v;
        if (state.Ema != null) foreach (var (k, v) in state.Ema.StateDict()) tensors["ema/" + k] = v;
        foreach (var (name, opt) in state.ExtraOptimizers ?? new Dictionary<string, Optimizer>())
            foreach (var (k, v) in opt.StateDict()) tensors[$"optim.{name}/" + k] = v;
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["model"] = state.ModelName,
            ["step"] = step.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (state.Rng != null)
        {
            meta["rng_seed"] = state.Rng.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture);
            meta["rng_offset"] = state.Rng.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (state.ConfigJson != null) meta["config"] = state.ConfigJson;
        TensorFile.Save(path, tensors, meta);
    }

    /// <summary>
    /// Restores the parts of <paramref name="state"/> from the file and returns the step it was saved at.
    /// With <paramref name="requireSameConfig"/>, a checkpoint whose config JSON differs is refused.
    /// </summary>
    public static long Load(string path, TrainingState state, bool requireSameConfig = false)
    {
        var (tensors, meta) = TensorFile.Load(path);
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new CheckpointMismatchException($"{path}: not a Denoise checkpoint (metadata has no '{key}').");
        if (Meta("format") != Format)
            throw new CheckpointMismatchException($"{path}: checkpoint format '{meta["format"]}' is not '{Format}'.");
        if (Meta("model") != state.ModelName)
            throw new CheckpointMismatchException($"{path}: checkpoint is of model '{meta["model"]}', but this run trains '{state.ModelName}'.");
        if (requireSameConfig && state.ConfigJson != null && meta.TryGetValue("config", out var cfg) && cfg != state.ConfigJson)
            throw new CheckpointMismatchException($"{path}: checkpoint was written with a different config.\n  checkpoint: {cfg}\n  this run:   {state.ConfigJson}");
        if (!long.TryParse(Meta("step"), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long step) || step < 0)
            throw new CheckpointMismatchException($"{path}: invalid step '{meta["step"]}'.");

        Dictionary<string, Tensor> Part(string prefix) =>
            tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        var model = Part("model/");
        try { state.Model.LoadStateDict(model, strict: true); }
        catch (ArgumentException e) { throw new CheckpointMismatchException($"{path}: the model's weights do not fit this network: {e.Message}"); }
        if (state.Optimizer != null) state.Optimizer.LoadStateDict(Part("optim/"));
        if (state.Ema != null) state.Ema.LoadStateDict(Part("ema/"));
        foreach (var (name, opt) in state.ExtraOptimizers ?? new Dictionary<string, Optimizer>())
        {
            var part = Part($"optim.{name}/");
            if (part.Count == 0) throw new CheckpointMismatchException($"{path}: the checkpoint has no state for optimizer '{name}'.");
            opt.LoadStateDict(part);
        }
        if (state.Rng != null)
        {
            if (!ulong.TryParse(Meta("rng_seed"), out var seed) || !ulong.TryParse(Meta("rng_offset"), out var offset))
                throw new CheckpointMismatchException($"{path}: invalid RNG state in metadata.");
            state.Rng.SetState(seed, offset);
        }
        return step;
    }
}
