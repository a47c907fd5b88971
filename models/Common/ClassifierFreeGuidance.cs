// Classifier-free guidance (Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022), shared by the
// diffusion samplers and flow matching because it touches only labels and network outputs.
//
//   training (their Algorithm 1):  c ← ∅ with probability p_uncond — one network learns both the
//                                  conditional and the unconditional model; ∅ is label id NumClasses
//   sampling (their Algorithm 2):  ε̃ = ε(x, ∅) + w·(ε(x, c) − ε(x, ∅))
//
// Their paper writes (1 + w)·ε_c − w·ε_∅; the form here (diffusers' guidance_scale) has w = 0 the
// unconditional model, w = 1 the conditional one, w > 1 guided. Conditional and unconditional inputs
// go through the network as one batch of 2B, so guidance costs one (wider) forward, not two.
// The same combination is applied to whatever the network outputs (ε, x₀, v or a velocity): all are
// affine in the score, so it is the same guidance up to the schedule's per-step scale.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionGuidance"
namespace Denoise.Models.Common;

public static class ClassifierFreeGuidance
{
    /// <summary>Training: each label independently replaced by <paramref name="nullLabel"/> with probability <paramref name="p"/>.</summary>
    public static Tensor? DropLabels(Tensor? labels, float p, int nullLabel, Generator gen)
    {
        if (labels == null || p <= 0f) return labels;
        var ids = labels.ToIntArray();
        var u = Tensor.Rand([ids.Length], gen).ToArray();   // host draws: the same stream on every device
        for (int i = 0; i < ids.Length; i++) if (u[i] < p) ids[i] = nullLabel;
        return Tensor.FromArray(ids, ids.Length).To(labels.Device);
    }

    /// <summary>Sampling: uncond + w·(cond − uncond) from one forward of the 2B batch [x | x] with labels [c | ∅].
    /// No labels: the unconditional output; w = 1: the conditional output (one B-batch forward).</summary>
    public static Tensor Predict(IDenoiser net, Tensor x, Tensor t, Tensor? labels, float w, int nullLabel)
    {
        if (labels == null) return net.Forward(x, t, null);
        if (labels.Device != x.Device) labels = labels.To(x.Device);   // host class ids for a model on a device
        if (w == 1f) return net.Forward(x, t, labels);
        int B = x.Shape[0];
        var ids = labels.ToIntArray();
        if (ids.Length != B) throw new ArgumentException($"ClassifierFreeGuidance: {ids.Length} labels for a batch x of shape {x.ShapeStr}.");
        var both = Tensor.FromArray([.. ids, .. Enumerable.Repeat(nullLabel, B)], 2 * B).To(x.Device);   // [c | ∅]
        var output = net.Forward(Tensor.Cat([x, x], 0), Tensor.Cat([t, t], 0), both);       // (2B, …)
        var cond = output.Narrow(0, 0, B);
        var uncond = output.Narrow(0, B, B);
        return uncond + w * (cond - uncond);
    }
}
