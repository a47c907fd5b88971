// LatentSpace — pictures of a VAE's latent space, the figures of Kingma & Welling (2014, fig. 4) and
// Higgins et al. (2017, fig. 1–2): what the decoder draws along a line between two codes, over a grid
// of a 2-D latent, and along one latent dimension with the others held.
//
//   Interpolate  z_t = (1 − t)·μ(a) + t·μ(b), t = 0 … 1          → (pairs·steps, C, H, W), one row per pair
//   Map          z on a side×side grid over [−r, r]² (LatentDim = 2) → (side², C, H, W), z₂ falling down the rows
//   Traverse     z = μ(x) with z_d replaced by each value          → (dims·values, C, H, W), one row per dim
// All run without gradients and return E[x | z] in [0, 1]; write them with ImageGrid.Write(…, Columns: steps).
// Run: dotnet run -c Release --project examples/Vae -- --model vae --latent 2   (writes latent-map.png)
using Denoise.NN;

namespace Denoise.Models.Autoencoders;

public static class LatentSpace
{
    /// <summary>Decodes <paramref name="steps"/> points on the segment μ(a_i) → μ(b_i) for each pair i.</summary>
    public static Tensor Interpolate(Vae vae, Tensor a, Tensor b, int steps, Tensor? labelsA = null, Tensor? labelsB = null)
    {
        if (steps < 2) throw new ArgumentException($"LatentSpace.Interpolate: steps must be ≥ 2, got {steps}.");
        using var _ = Autograd.NoGrad();
        var za = vae.Encode(a, labelsA).Mu;                                     // (P, L)
        var zb = vae.Encode(b, labelsB ?? labelsA).Mu;
        int P = za.Shape[0], L = za.Shape[1];
        var t = Tensor.Linspace(0f, 1f, steps).Reshape(1, steps, 1);           // (1, S, 1)
        var z = (za.Unsqueeze(1) * (1f - t) + zb.Unsqueeze(1) * t).Reshape(P * steps, L);   // (P·S, L)
        // A conditional VAE keeps a's label along the row: only the style moves.
        Tensor? labels = labelsA == null ? null : labelsA.Unsqueeze(1).Expand(P, steps).Reshape(P * steps);
        return vae.DecodeMean(z, labels);
    }

    /// <summary>A side×side grid of decodes over z ∈ [−range, range]² (rows: z₂ from +range down; columns: z₁ left to right).</summary>
    public static Tensor Map(Vae vae, int side, float range = 2.5f, int? label = null)
    {
        if (vae.Config.LatentDim != 2) throw new ArgumentException($"LatentSpace.Map: needs a 2-D latent, this VAE has LatentDim = {vae.Config.LatentDim}.");
        if (side < 2) throw new ArgumentException($"LatentSpace.Map: side must be ≥ 2, got {side}.");
        using var _ = Autograd.NoGrad();
        var v = Tensor.Linspace(-range, range, side);                           // (S)
        var z1 = v.Reshape(1, side).Expand(side, side);                         // columns
        var z2 = (-v).Reshape(side, 1).Expand(side, side);                      // rows, + at the top
        var z = Tensor.Stack([z1, z2], 2).Reshape(side * side, 2);              // (S², 2)
        Tensor? labels = label == null ? null : Tensor.FromArray(Enumerable.Repeat(label.Value, side * side).ToArray(), side * side);
        return vae.DecodeMean(z, labels);
    }

    /// <summary>For each latent dimension in <paramref name="dims"/>, decodes μ(x) with that coordinate set to each of <paramref name="values"/>.</summary>
    public static Tensor Traverse(Vae vae, Tensor x, int[] dims, float[] values, Tensor? labels = null)
    {
        if (x.Shape[0] != 1) throw new ArgumentException($"LatentSpace.Traverse: x must be one image (1, …), got {x.ShapeStr}.");
        int L = vae.Config.LatentDim, D = dims.Length, V = values.Length;
        foreach (int d in dims) if (d < 0 || d >= L) throw new ArgumentException($"LatentSpace.Traverse: dimension {d} is outside 0…{L - 1}.");
        using var _ = Autograd.NoGrad();
        var mu = vae.Encode(x, labels).Mu;                                      // (1, L)
        var mask = Tensor.OneHot(Tensor.FromArray(dims, D), L).Unsqueeze(1);    // (D, 1, L): 1 at the traversed dim
        var val = Tensor.FromArray(values, 1, V, 1);                            // (1, V, 1)
        var z = (mu.Unsqueeze(0) * (1f - mask) + val * mask).Reshape(D * V, L); // (D·V, L)
        Tensor? rowLabels = labels == null ? null : labels.Expand(D * V).Contiguous();
        return vae.DecodeMean(z, rowLabels);
    }
}
