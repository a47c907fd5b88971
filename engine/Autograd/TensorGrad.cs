// The autograd-facing members of Tensor: RequiresGrad, Grad, Backward, Detach, hooks.
namespace Denoise;

public sealed partial class Tensor
{
    internal bool requiresGrad;
    internal Node? GradFn;
    internal List<Func<Tensor, Tensor?>>? hooks;

    /// <summary>Whether gradients flow to this tensor. Settable only on leaves (tensors no op produced).</summary>
    public bool RequiresGrad
    {
        get => requiresGrad;
        set
        {
            if (GradFn != null && !value)
                throw new InvalidOperationException($"RequiresGrad: tensor{NameSuffix} was produced by '{GradFn.Op}'; use Detach() to stop gradients instead.");
            if (value && DType != DType.Float32)
                throw new InvalidOperationException($"RequiresGrad: tensor{NameSuffix} is {DType}; only Float32 tensors can require grad.");
            requiresGrad = value;
        }
    }

    /// <summary>Sets RequiresGrad and returns this (fluent).</summary>
    public Tensor RequiresGrad_(bool value = true) { RequiresGrad = value; return this; }

    /// <summary>True when no op produced this tensor (a parameter or an input).</summary>
    public bool IsLeaf => GradFn == null;

    /// <summary>Accumulated dL/d(this) for leaves after Backward(); null until the first backward.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>Name of the op that produced this tensor, or null for a leaf.</summary>
    public string? GradFnName => GradFn?.Op;

    /// <summary>
    /// Back-propagates from this tensor. A scalar needs no <paramref name="grad"/>; otherwise pass
    /// dL/d(this). With <paramref name="createGraph"/> the gradients are recorded, so they can be
    /// differentiated again.
    /// </summary>
    public void Backward(Tensor? grad = null, bool retainGraph = false, bool createGraph = false) =>
        Autograd.Backward(this, grad, retainGraph || createGraph, createGraph);

    /// <summary>The same data, cut off from the graph (shares storage).</summary>
    public Tensor Detach() => new(Storage, shape, strides, offset) { Name = Name };

    /// <summary>Registers a function called with this tensor's gradient during backward; it may return a replacement (or null to keep it).</summary>
    public void RegisterHook(Func<Tensor, Tensor?> hook)
    {
        if (!RequiresGrad) throw new InvalidOperationException($"RegisterHook: tensor{NameSuffix} does not require grad.");
        (hooks ??= new()).Add(hook);
    }

    /// <summary>Leaf gradient accumulation. Without createGraph the gradient is a persistent buffer
    /// (outside any TensorScope) updated in place, so optimizers can hold it across steps.</summary>
    internal void AccumulateGrad(Tensor g, bool createGraph)
    {
        if (createGraph)
        {
            Grad = Grad == null ? g : Grad + g;
            return;
        }
        if (Grad == null || Grad.Storage.IsReleased)
        {
            using (TensorScope.Suspend()) Grad = g.ContiguousCopy();
            Grad.Name = Name == null ? null : Name + ".grad";
        }
        else Grad.AddInPlace(g);
    }
}
