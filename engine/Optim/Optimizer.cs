// Optimizer.cs — the base class of SGD, Adam, AdamW and RMSprop: parameter bookkeeping, per-parameter
// state buffers, Step/ZeroGrad, and a checkpointable state dict.
//
// The shape of the API is torch.optim.Optimizer's:
//   var opt = new AdamW(model.Parameters(), lr: 3e-4f);
//   for (...) { using var scope = TensorScope.Begin(); opt.ZeroGrad(); loss.Backward(); opt.Step(); }
// Memory: state tensors (moments, momentum buffers) are allocated once, lazily on a parameter's
// first update, under TensorScope.Suspend(), and updated in place by the fused span kernels in
// kernels/Cpu/Optim/. A Step() therefore allocates no managed memory (tests/Optim checks it).
// Devices: state lives on its parameter's device and follows it (module.To(device) after some steps
// moves the state at the next Step). On a GPU device, Adam/AdamW, SGD and RMSprop override UpdateOnDevice
// with the fused kernels of kernels/Gpu/Optim; an optimizer without one runs Update on the host mirrors
// (correct, counted in DeviceFallbacks).
//
// State dict keys (stable; i is the parameter's position in the list given to the constructor):
//   "lr"                 Float32 scalar, the current LearningRate
//   "step"               Int32 scalar, the number of Step() calls
//   "state.{i}.step"     Int32 scalar, updates applied to parameter i (PyTorch's state['step'];
//                        parameters whose Grad was null are skipped, so this can differ per parameter)
//   "state.{i}.{slot}"   Float32, parameter i's shape: exp_avg, exp_avg_sq, momentum_buffer, …
// A parameter that has never been updated has no "state.{i}.*" keys, as in PyTorch.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using System.Globalization;

namespace Denoise.Optim;

public abstract class Optimizer
{
    readonly Tensor[] parameters;
    readonly string[] slotNames;
    readonly Tensor?[][] state;   // [slot][parameter]; null until the parameter's first update
    readonly long[] steps;        // per parameter

    /// <param name="parameters">Leaf Float32 tensors, each listed once.</param>
    /// <param name="slotNames">Names of the per-parameter state buffers this optimizer keeps (state dict keys).</param>
    protected Optimizer(IEnumerable<Tensor> parameters, float lr, string[] slotNames)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        this.parameters = parameters.ToArray();
        string who = GetType().Name;
        if (this.parameters.Length == 0) throw new ArgumentException($"{who}: got an empty parameter list.");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < this.parameters.Length; i++)
        {
            var p = this.parameters[i] ?? throw new ArgumentException($"{who}: parameter {i} is null.");
            if (p.DType != DType.Float32) throw new ArgumentException($"{who}: parameter {i}{p.NameSuffix} is {p.DType}; only Float32 tensors can be optimised.");
            if (!p.IsLeaf) throw new ArgumentException($"{who}: parameter {i}{p.NameSuffix} was produced by '{p.GradFnName}'; optimizers update leaf tensors only (Detach() it and set RequiresGrad).");
            if (!p.IsContiguous) throw new ArgumentException($"{who}: parameter {i}{p.NameSuffix} of shape {p.ShapeStr} is a non-contiguous view; pass the tensor that owns the memory.");
            if (!seen.Add(p)) throw new ArgumentException($"{who}: parameter {i}{p.NameSuffix} appears more than once in the parameter list.");
        }
        CheckHyper(lr >= 0 && float.IsFinite(lr), $"learning rate must be finite and ≥ 0, got {lr}");
        LearningRate = lr;
        this.slotNames = slotNames;
        state = new Tensor?[slotNames.Length][];
        for (int s = 0; s < slotNames.Length; s++) state[s] = new Tensor?[this.parameters.Length];
        steps = new long[this.parameters.Length];
    }

    /// <summary>The parameters, in the order given to the constructor (state dict indices refer to it).</summary>
    public IReadOnlyList<Tensor> Parameters => parameters;

    /// <summary>The learning rate used by the next Step() (schedules set it: see LrSchedule.Apply).</summary>
    public float LearningRate { get; set; }

    /// <summary>How many times Step() has been called.</summary>
    public long StepCount { get; private set; }

    /// <summary>How many updates parameter <paramref name="index"/> has received (PyTorch's state['step']).</summary>
    public long ParameterStep(int index) => steps[index];

    /// <summary>Updates every parameter whose Grad is not null, in place, without recording on the tape.</summary>
    public void Step()
    {
        using var noGrad = Autograd.NoGrad();
        StepCount++;
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            var g = p.Grad;
            if (g == null) continue;
            if (!ShapeUtil.Equal(g.Shape, p.Shape) || g.DType != DType.Float32 || !g.IsContiguous)
                throw new InvalidOperationException($"{GetType().Name}.Step: parameter {i}{p.NameSuffix} of shape {p.ShapeStr} has a gradient of shape {g.ShapeStr} ({g.DType}{(g.IsContiguous ? "" : ", non-contiguous")}); expected a contiguous Float32 tensor of the parameter's shape.");
            steps[i]++;
            if (p.Storage is GpuStorage)
            {
                if (g.Device != p.Device)
                    throw new InvalidOperationException($"{GetType().Name}.Step: parameter {i}{p.NameSuffix} is on {p.Device} but its gradient is on {g.Device}; move the model before the backward pass.");
                UpdateOnDevice(i, p, g, steps[i]);
            }
            else Update(i, p.Span, g.Span, steps[i]);
        }
    }

    /// <summary>Applies one update to a parameter on a GPU device. The default runs <see cref="Update"/> on the
    /// host mirrors (a counted host fallback); optimizers with a device kernel override it.</summary>
    protected virtual void UpdateOnDevice(int index, Tensor p, Tensor g, long step) => Update(index, p.Span, g.Span, step);

    /// <summary>Applies one update to parameter <paramref name="index"/>; <paramref name="step"/> counts from 1.</summary>
    protected abstract void Update(int index, Span<float> p, ReadOnlySpan<float> g, long step);

    /// <summary>Zeros every parameter's Grad in place, keeping the buffers (no allocation next backward).
    /// A Grad that cannot be zeroed in place (released with its scope, or a view) is set to null.</summary>
    public void ZeroGrad()
    {
        using var noGrad = Autograd.NoGrad();
        foreach (var p in parameters)
        {
            var g = p.Grad;
            if (g == null) continue;
            if (g.Storage.IsReleased || !g.IsContiguous || g.RequiresGrad) p.Grad = null;
            else g.Fill(0f);
        }
    }

    // ───────────────────────────── state buffers ─────────────────────────────

    /// <summary>Whether parameter <paramref name="index"/> already has buffer <paramref name="slot"/>.</summary>
    protected bool HasState(int slot, int index) => state[slot][index] != null;

    /// <summary>Buffer <paramref name="slot"/> of parameter <paramref name="index"/>, created zero-filled
    /// (persistent, outside any TensorScope) on first use.</summary>
    protected Span<float> State(int slot, int index) => StateTensor(slot, index).Span;

    /// <summary>The tensor behind <see cref="State"/>, on its parameter's device (moved there if the parameter moved).</summary>
    protected Tensor StateTensor(int slot, int index)
    {
        var t = state[slot][index];
        var p = parameters[index];
        if (t == null)
        {
            using (TensorScope.Suspend()) t = Tensor.Full(p.shape, 0f, p.Device);
            t.Name = $"{p.Name ?? "param" + index}.{slotNames[slot]}";
            state[slot][index] = t;
        }
        else if (t.Device != p.Device) t.MoveStorageTo(p.Device);
        return t;
    }

    protected void CheckHyper(bool ok, string what)
    {
        if (!ok) throw new ArgumentException($"{GetType().Name}: {what}.");
    }

    // ───────────────────────────── checkpoints ─────────────────────────────

    /// <summary>A snapshot (copies, outside any scope) of the optimizer state under the keys listed in the file header.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        using (TensorScope.Suspend())
        {
            d["lr"] = Tensor.Scalar(LearningRate);
            d["step"] = IntScalar(StepCount, "step");
            for (int i = 0; i < parameters.Length; i++)
            {
                if (steps[i] == 0) continue;
                d[$"state.{i}.step"] = IntScalar(steps[i], $"state.{i}.step");
                for (int s = 0; s < slotNames.Length; s++)
                {
                    var t = state[s][i];
                    if (t == null) continue;
                    d[$"state.{i}.{slotNames[s]}"] = t.ContiguousCopy();   // on the state's device, like PyTorch
                }
            }
        }
        return d;
    }

    static Tensor IntScalar(long v, string key) =>
        v > int.MaxValue ? throw new InvalidOperationException($"StateDict: '{key}' = {v} does not fit the Int32 checkpoint field.")
                         : Tensor.FromArray([(int)v], []);

    /// <summary>
    /// Restores state saved by <see cref="StateDict"/> (of an optimizer of the same kind, options and
    /// parameter list). Values are copied, so the dictionary may be released afterwards. Everything
    /// is validated before anything changes: unknown keys, wrong shapes or dtypes, and missing
    /// buffers throw ArgumentException naming the key.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        string who = GetType().Name + ".LoadStateDict";
        var newSteps = new long[parameters.Length];
        var sources = new Tensor?[slotNames.Length, parameters.Length];
        float? lr = null;
        long? stepCount = null;

        foreach (var (key, t) in stateDict)
        {
            if (t == null) throw new ArgumentException($"{who}: '{key}' is null.");
            if (key == "lr") { lr = ReadFloatScalar(who, key, t); continue; }
            if (key == "step") { stepCount = ReadIntScalar(who, key, t); continue; }
            var parts = key.Split('.');
            if (parts.Length != 3 || parts[0] != "state" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                throw new ArgumentException($"{who}: unexpected key '{key}'; expected 'lr', 'step', 'state.<i>.step' or 'state.<i>.<{string.Join("|", slotNames)}>'.");
            if (i >= parameters.Length)
                throw new ArgumentException($"{who}: '{key}' refers to parameter {i}, but this optimizer has {parameters.Length} parameters.");
            if (parts[2] == "step")
            {
                newSteps[i] = ReadIntScalar(who, key, t);
                if (newSteps[i] < 1) throw new ArgumentException($"{who}: '{key}' is {newSteps[i]}; a saved parameter step is ≥ 1.");
                continue;
            }
            int s = Array.IndexOf(slotNames, parts[2]);
            if (s < 0) throw new ArgumentException($"{who}: unknown state '{parts[2]}' in '{key}'; {GetType().Name} with these options keeps [{string.Join(", ", slotNames)}].");
            var p = parameters[i];
            if (t.DType != DType.Float32 || !ShapeUtil.Equal(t.Shape, p.Shape))
                throw new ArgumentException($"{who}: '{key}' has shape {t.ShapeStr} ({t.DType}); parameter {i}{p.NameSuffix} has shape {p.ShapeStr} (Float32).");
            sources[s, i] = t;
        }
        for (int i = 0; i < parameters.Length; i++)
            for (int s = 0; s < slotNames.Length; s++)
            {
                bool has = sources[s, i] != null;
                if (newSteps[i] == 0 && has)
                    throw new ArgumentException($"{who}: 'state.{i}.{slotNames[s]}' is present but 'state.{i}.step' is missing.");
                if (newSteps[i] > 0 && !has && SlotRequired(s))
                    throw new ArgumentException($"{who}: 'state.{i}.step' is present but 'state.{i}.{slotNames[s]}' is missing.");
            }

        // Validated: apply.
        using var noGrad = Autograd.NoGrad();
        if (lr.HasValue) LearningRate = lr.Value;
        if (stepCount.HasValue) StepCount = stepCount.Value;
        for (int i = 0; i < parameters.Length; i++)
        {
            steps[i] = newSteps[i];
            for (int s = 0; s < slotNames.Length; s++)
            {
                var src = sources[s, i];
                if (src == null) { state[s][i] = null; continue; }
                StateTensor(s, i).CopyFrom(src);
            }
        }
    }

    /// <summary>Whether a parameter that has been updated must have buffer <paramref name="slot"/>
    /// (all of them by default).</summary>
    protected virtual bool SlotRequired(int slot) => true;

    static float ReadFloatScalar(string who, string key, Tensor t)
    {
        if (t.DType != DType.Float32 || t.Numel != 1) throw new ArgumentException($"{who}: '{key}' must be a one-element Float32 tensor, got shape {t.ShapeStr} ({t.DType}).");
        return t.Item();
    }

    static long ReadIntScalar(string who, string key, Tensor t)
    {
        if (t.DType != DType.Int32 || t.Numel != 1) throw new ArgumentException($"{who}: '{key}' must be a one-element Int32 tensor, got shape {t.ShapeStr} ({t.DType}).");
        long v = t.IntData[t.offset];
        if (v < 0) throw new ArgumentException($"{who}: '{key}' is {v}; a step count is ≥ 0.");
        return v;
    }
}
