// Ema.cs — exponential moving average of parameters ("EMA weights"), the averaged model diffusion
// models sample with (Ho et al., DDPM, 2020, used decay 0.9999; the update is Polyak–Ruppert
// averaging with exponential forgetting).
//
// Update rule (diffusers.training_utils.EMAModel.step):   s ← s − (1 − d_t) · (s − p)
//   warmup = false:  d_t = decay
//   warmup = true:   d_t = 0 at t = 0, else min(decay, (1 + t) / (10 + t))
// where t counts the updates made before this one. With warm-up the average forgets its random
// initialisation quickly (d = 0.18, 0.25, 0.31 … at t = 1, 2, 3) and approaches `decay` after
// a few thousand steps; without it, 0.9999 needs ~10⁴ steps before the average means anything.
// The shadow starts as a copy of the parameters.
//
// Usage:
//   var ema = new Ema(model.Parameters(), decay: 0.999f);
//   … opt.Step(); ema.Update();                      // after each optimizer step
//   using (ema.Apply()) { Sample(model); }           // evaluate with EMA weights; restored afterwards
//
// Devices: the shadow lives on its parameter's device (and follows it); there the update is
// kernels/Gpu/Optim/EmaKernel.cs and Apply/CopyTo are device copies.
//
// State dict: "shadow.{i}" (Float32, parameter i's shape), "num_updates" (Int32 scalar).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using System.Numerics.Tensors;

namespace Denoise.Optim;

public sealed class Ema
{
    readonly Tensor[] parameters;
    readonly Tensor[] shadow;
    Tensor[]? backup;
    bool applied;

    public float Decay { get; }
    public bool Warmup { get; }
    /// <summary>How many times Update() has run.</summary>
    public long NumUpdates { get; private set; }

    /// <param name="parameters">The tensors to average (their current values seed the average).</param>
    public Ema(IEnumerable<Tensor> parameters, float decay = 0.9999f, bool warmup = true)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(decay >= 0f && decay <= 1f)) throw new ArgumentException($"Ema: decay must be in [0, 1], got {decay}.");
        this.parameters = parameters.ToArray();
        if (this.parameters.Length == 0) throw new ArgumentException("Ema: got an empty parameter list.");
        Decay = decay; Warmup = warmup;
        shadow = new Tensor[this.parameters.Length];
        for (int i = 0; i < shadow.Length; i++)
        {
            var p = this.parameters[i];
            CheckParam(p, i, "Ema");
            using (TensorScope.Suspend()) shadow[i] = Tensor.Empty(p.shape, DType.Float32, p.Device);
            shadow[i].Name = $"ema.{p.Name ?? "param" + i}";
            Copy(p, shadow[i]);
        }
    }

    /// <summary>The averaged tensors (persistent; same order as the parameters).</summary>
    public IReadOnlyList<Tensor> Shadow => shadow;

    /// <summary>The decay the next Update() will use (see the file header).</summary>
    public float CurrentDecay
    {
        get
        {
            if (!Warmup) return Decay;
            long t = NumUpdates;
            return t == 0 ? 0f : (float)Math.Min(Decay, (1.0 + t) / (10.0 + t));
        }
    }

    /// <summary>s ← s + (1 − d)(p − s) for every tracked parameter; one fused pass each, no allocation.</summary>
    public void Update()
    {
        if (applied) throw new InvalidOperationException("Ema.Update: the EMA weights are applied to the parameters (inside `using (ema.Apply())`); update after restoring.");
        float w = 1f - CurrentDecay;
        for (int i = 0; i < shadow.Length; i++)
        {
            var p = parameters[i];
            if (shadow[i].Device != p.Device) shadow[i].MoveStorageTo(p.Device);   // the model moved after the EMA was made
            if (p.Storage is GpuStorage) GpuOps.EmaLerp(shadow[i], p, w);
            else TensorPrimitives.Lerp(shadow[i].Span, p.Span, w, shadow[i].Span);
        }
        NumUpdates++;
    }

    /// <summary>Copies the averaged values into <paramref name="targets"/> (default: the tracked parameters).</summary>
    public void CopyTo(IEnumerable<Tensor>? targets = null)
    {
        var ts = Targets(targets, "CopyTo");
        for (int i = 0; i < ts.Length; i++) Copy(shadow[i], ts[i]);
    }

    /// <summary>Loads the EMA weights into <paramref name="targets"/> (default: the tracked parameters) until the
    /// returned handle is disposed, which restores the previous values.</summary>
    public IDisposable Apply(IEnumerable<Tensor>? targets = null)
    {
        if (applied) throw new InvalidOperationException("Ema.Apply: already applied; dispose the previous handle first.");
        var ts = Targets(targets, "Apply");
        if (backup == null)
        {
            backup = new Tensor[shadow.Length];
            using (TensorScope.Suspend())
                for (int i = 0; i < shadow.Length; i++) backup[i] = Tensor.Empty(shadow[i].shape, DType.Float32, ts[i].Device);
        }
        for (int i = 0; i < ts.Length; i++)
        {
            if (backup[i].Device != ts[i].Device) backup[i].MoveStorageTo(ts[i].Device);
            Copy(ts[i], backup[i]);
            Copy(shadow[i], ts[i]);
        }
        applied = true;
        return new Restore(this, ts);
    }

    sealed class Restore(Ema ema, Tensor[] targets) : IDisposable
    {
        bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            for (int i = 0; i < targets.Length; i++) Copy(ema.backup![i], targets[i]);
            ema.applied = false;
        }
    }

    Tensor[] Targets(IEnumerable<Tensor>? targets, string op)
    {
        var ts = targets == null ? parameters : targets.ToArray();
        if (ts.Length != shadow.Length)
            throw new ArgumentException($"Ema.{op}: got {ts.Length} tensors, but the EMA tracks {shadow.Length}.");
        for (int i = 0; i < ts.Length; i++)
        {
            CheckParam(ts[i], i, "Ema." + op);
            if (!ShapeUtil.Equal(ts[i].Shape, shadow[i].Shape))
                throw new ArgumentException($"Ema.{op}: tensor {i}{ts[i].NameSuffix} has shape {ts[i].ShapeStr}; the EMA of parameter {i} has shape {shadow[i].ShapeStr}.");
        }
        return ts;
    }

    /// <summary>dst ← src: a span copy on the CPU, a device copy (or transfer) when either lives on a GPU.</summary>
    static void Copy(Tensor src, Tensor dst)
    {
        if (src.Storage is GpuStorage || dst.Storage is GpuStorage)
        {
            using (Autograd.NoGrad()) dst.CopyFrom(src);
            return;
        }
        src.ContiguousNoGrad().Span.CopyTo(dst.Span);
    }

    static void CheckParam(Tensor p, int i, string op)
    {
        if (p == null) throw new ArgumentException($"{op}: tensor {i} is null.");
        if (p.DType != DType.Float32 || !p.IsContiguous)
            throw new ArgumentException($"{op}: tensor {i}{p.NameSuffix} of shape {p.ShapeStr} must be a contiguous Float32 tensor.");
    }

    /// <summary>A snapshot (copies) of the EMA state: "shadow.{i}" and "num_updates".</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        using (TensorScope.Suspend())
        {
            if (NumUpdates > int.MaxValue) throw new InvalidOperationException($"Ema.StateDict: num_updates = {NumUpdates} does not fit the Int32 checkpoint field.");
            d["num_updates"] = Tensor.FromArray([(int)NumUpdates], []);
            for (int i = 0; i < shadow.Length; i++)
            {
                d[$"shadow.{i}"] = shadow[i].To(Device.Cpu).Clone();
            }
        }
        return d;
    }

    /// <summary>Restores a state saved by <see cref="StateDict"/>; validates every key and shape before changing anything.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        const string who = "Ema.LoadStateDict";
        foreach (var key in stateDict.Keys)
            if (key != "num_updates" && !(key.StartsWith("shadow.", StringComparison.Ordinal)
                    && int.TryParse(key.AsSpan(7), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int j) && j < shadow.Length))
                throw new ArgumentException($"{who}: unexpected key '{key}'; expected 'num_updates' and 'shadow.0' … 'shadow.{shadow.Length - 1}'.");
        if (!stateDict.TryGetValue("num_updates", out var nu) || nu.DType != DType.Int32 || nu.Numel != 1 || nu.IntData[nu.offset] < 0)
            throw new ArgumentException($"{who}: 'num_updates' must be present as a one-element Int32 tensor ≥ 0.");
        var src = new Tensor[shadow.Length];
        for (int i = 0; i < shadow.Length; i++)
        {
            if (!stateDict.TryGetValue($"shadow.{i}", out var t))
                throw new ArgumentException($"{who}: 'shadow.{i}' is missing.");
            if (t.DType != DType.Float32 || !ShapeUtil.Equal(t.Shape, shadow[i].Shape))
                throw new ArgumentException($"{who}: 'shadow.{i}' has shape {t.ShapeStr} ({t.DType}); expected {shadow[i].ShapeStr} (Float32).");
            src[i] = t;
        }
        for (int i = 0; i < shadow.Length; i++) Copy(src[i], shadow[i]);
        NumUpdates = nu.IntData[nu.offset];
    }
}
