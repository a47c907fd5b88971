// Module: the container for parameters, buffers and submodules, after torch.nn.Module
// (https://pytorch.org/docs/stable/generated/torch.nn.Module.html), minus the reflection.
//
// Everything is registered explicitly in the constructor, in order, with one helper call each:
//   Weight = Parameter("weight", Init.Empty(out, in));   // persistent, RequiresGrad = true
//   Buffer("running_mean", Init.Empty(C));                // persistent state, no gradient
//   var fc1 = Add("fc1", new Linear(3, 256));             // a submodule; returns it
// so NamedParameters() / StateDict() walk the registration order and produce PyTorch's dotted
// keys ("fc1.weight"), which is what SafeTensors checkpoints are keyed by.
//
// Module has no Forward: a layer with one tensor in and one out derives from Layer (below);
// models with other signatures (x and t, or q/k/v and a mask) define their own methods.
//
// Persistence: parameters and buffers must outlive the TensorScope of a training step, so create
// them with Init.Empty/Init.Zeros (which suspend any open scope) or outside any scope, and update
// them only in place. Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN"
namespace Denoise.NN;

public abstract class Module
{
    readonly List<KeyValuePair<string, Tensor>> parameters = new();
    readonly List<KeyValuePair<string, Tensor>> buffers = new();
    readonly List<KeyValuePair<string, Module>> children = new();

    /// <summary>True in training mode (the default); Dropout and BatchNorm read it.</summary>
    public bool IsTraining { get; private set; } = true;

    // ───────────────────── registration (call from constructors) ─────────────────────

    /// <summary>Registers a trainable tensor under <paramref name="name"/> and returns it. The tensor
    /// must be persistent (see the file header); it is marked RequiresGrad and named.</summary>
    protected Tensor Parameter(string name, Tensor value)
    {
        CheckNewName(name, "Parameter");
        if (value.DType != DType.Float32)
            throw new ArgumentException($"{GetType().Name}.Parameter('{name}'): parameters must be Float32, got {value.DType} of shape {value.ShapeStr}.");
        if (!value.IsLeaf)
            throw new ArgumentException($"{GetType().Name}.Parameter('{name}'): the tensor of shape {value.ShapeStr} was produced by an op; parameters must be leaves (Detach() it or create it with Init).");
        value.RequiresGrad = true;
        value.Name = name;
        parameters.Add(new(name, value));
        return value;
    }

    /// <summary>Registers non-trainable persistent state (running statistics, fixed tables) and returns it.</summary>
    protected Tensor Buffer(string name, Tensor value)
    {
        CheckNewName(name, "Buffer");
        value.Name = name;
        buffers.Add(new(name, value));
        return value;
    }

    /// <summary>Registers a submodule and returns it (typed, so `fc1 = Add("fc1", new Linear(3, 256))` reads naturally).</summary>
    protected T Add<T>(string name, T module) where T : Module
    {
        CheckNewName(name, "Add");
        ArgumentNullException.ThrowIfNull(module);
        if (ReferenceEquals(module, this)) throw new ArgumentException($"{GetType().Name}.Add('{name}'): a module cannot contain itself.");
        children.Add(new(name, module));
        module.Train(IsTraining);
        // Children are built before their parent, so renaming at every Add leaves each tensor
        // named by its path from the outermost module that has been built so far.
        foreach (var (path, t) in NamedParameters(includeDuplicates: true)) t.Name = path;
        foreach (var (path, t) in NamedBuffers()) t.Name = path;
        return module;
    }

    void CheckNewName(string name, string what)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{GetType().Name}.{what}: name '{name}' must be non-empty and contain no '.'.");
        if (parameters.Any(p => p.Key == name) || buffers.Any(b => b.Key == name) || children.Any(c => c.Key == name))
            throw new ArgumentException($"{GetType().Name}.{what}: name '{name}' is already registered.");
    }

    // ───────────────────── traversal ─────────────────────

    /// <summary>Parameters with dotted paths, in registration order, depth first. A tensor shared
    /// by two modules (tied weights) is listed once, under its first path, unless includeDuplicates.</summary>
    public IEnumerable<(string Name, Tensor Param)> NamedParameters(bool includeDuplicates = false)
    {
        var seen = includeDuplicates ? null : new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (prefix, m) in NamedModules())
            foreach (var (n, p) in m.parameters)
                if (seen == null || seen.Add(p)) yield return (Join(prefix, n), p);
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Param);

    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (n, b) in m.buffers) yield return (Join(prefix, n), b);
    }

    public IEnumerable<Tensor> Buffers() => NamedBuffers().Select(b => b.Buffer);

    /// <summary>Direct submodules, in registration order.</summary>
    public IEnumerable<Module> Children() => children.Select(c => c.Value);

    public IEnumerable<(string Name, Module Child)> NamedChildren() => children.Select(c => (c.Key, c.Value));

    /// <summary>This module (path "") and all descendants with dotted paths, depth first.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules()
    {
        var stack = new Stack<(string, Module)>();
        stack.Push(("", this));
        while (stack.Count > 0)
        {
            var (prefix, m) = stack.Pop();
            yield return (prefix, m);
            for (int i = m.children.Count - 1; i >= 0; i--)
                stack.Push((Join(prefix, m.children[i].Key), m.children[i].Value));
        }
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>Number of trainable scalars (tied tensors counted once, as PyTorch's sum(p.numel() for p in parameters())).</summary>
    public long ParameterCount() => Parameters().Sum(p => (long)p.Numel);

    // ───────────────────── modes, gradients, devices ─────────────────────

    /// <summary>Sets training mode on this module and every descendant; returns this.</summary>
    public Module Train(bool on = true)
    {
        foreach (var (_, m) in NamedModules()) m.IsTraining = on;
        return this;
    }

    /// <summary>Evaluation mode (Dropout off, BatchNorm uses running statistics); returns this.</summary>
    public Module Eval() => Train(false);

    /// <summary>Zeroes every parameter's .Grad in place (buffers an optimizer holds stay valid).</summary>
    public void ZeroGrad()
    {
        using var _ = Autograd.NoGrad();
        foreach (var p in Parameters())
        {
            if (p.Grad == null) continue;
            if (p.Grad.Storage.IsReleased || !p.Grad.IsLeaf || !p.Grad.IsContiguous) p.Grad = null; // a create-graph gradient from an ended scope
            else p.Grad.ZeroInPlace();
        }
    }

    /// <summary>
    /// Moves parameters, their gradients and buffers to <paramref name="device"/>, in place: the same
    /// Tensor objects get new storage, so fields, optimizers and EMAs holding them stay valid (optimizer
    /// state follows its parameter at the next Step). Returns this.
    /// </summary>
    public Module To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, t) in NamedParameters(includeDuplicates: true).Concat(NamedBuffers()))
        {
            if (!seen.Add(t)) continue;
            t.MoveStorageTo(device);
            if (t.Grad is { } g && !g.Storage.IsReleased) g.MoveStorageTo(device);
        }
        return this;
    }

    // ───────────────────── state dict ─────────────────────

    /// <summary>Parameters then buffers of each module, depth first, keyed by dotted path — the
    /// same keys and order as PyTorch's state_dict(). The values are the live tensors (not copies).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (prefix, m) in NamedModules())
        {
            foreach (var (n, p) in m.parameters) d[Join(prefix, n)] = p;
            foreach (var (n, b) in m.buffers) d[Join(prefix, n)] = b;
        }
        return d;
    }

    /// <summary>
    /// Copies values into this module's parameters and buffers, in place (so optimizers holding
    /// them stay valid). Shapes must match exactly. With <paramref name="strict"/>, missing and
    /// unexpected keys are errors; otherwise they are returned. Nothing is copied if any check fails.
    /// </summary>
    public (List<string> Missing, List<string> Unexpected) LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var problems = new List<string>();
        foreach (var (k, dst) in own)
        {
            if (!state.TryGetValue(k, out var src)) continue;
            if (!ShapeUtil.Equal(src.Shape, dst.Shape))
                problems.Add($"'{k}': checkpoint has shape {src.ShapeStr}, the module has {dst.ShapeStr}");
            else if (src.DType != dst.DType)
                problems.Add($"'{k}': checkpoint has {src.DType}, the module has {dst.DType}");
        }
        if (strict && missing.Count > 0) problems.Add("missing keys: " + string.Join(", ", missing.Select(k => $"'{k}'")));
        if (strict && unexpected.Count > 0) problems.Add("unexpected keys: " + string.Join(", ", unexpected.Select(k => $"'{k}'")));
        if (problems.Count > 0)
            throw new ArgumentException($"{GetType().Name}.LoadStateDict: " + string.Join("; ", problems) + ".");

        using (Autograd.NoGrad())
            foreach (var (k, dst) in own)
            {
                if (!state.TryGetValue(k, out var src) || ReferenceEquals(src, dst)) continue;
                if (dst.DType == DType.Int32) src.ContiguousNoGrad().IntSpan.CopyTo(dst.IntSpan);
                else dst.CopyFrom(src);
            }
        return (missing, unexpected);
    }

    public override string ToString() => GetType().Name;
}

/// <summary>A module with one tensor in and one out: what Sequential chains.</summary>
public abstract class Layer : Module
{
    public abstract Tensor Forward(Tensor x);

    /// <summary>Shorthand for Forward.</summary>
    public Tensor Call(Tensor x) => Forward(x);
}
