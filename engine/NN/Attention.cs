// Multi-head attention (Vaswani et al. 2017, §3.2.2), laid out as torch.nn.MultiheadAttention with
// batch_first=True: one fused in-projection in_proj_weight (3E, E) / in_proj_bias (3E) holding the
// q, k, v projections stacked in that order, then out_proj (Linear E → E). Same parameter names,
// shapes and initialisation (xavier_uniform in-projection, zero biases, default Linear out_proj
// weight), so PyTorch checkpoints load. Returns the output only (no averaged attention weights).
namespace Denoise.NN;

public sealed class MultiheadAttention : Layer
{
    public int EmbedDim { get; }
    public int NumHeads { get; }
    public int HeadDim => EmbedDim / NumHeads;
    public Tensor InProjWeight { get; }
    public Tensor? InProjBias { get; }
    public Linear OutProj { get; }

    public MultiheadAttention(int embedDim, int numHeads, bool bias = true, Generator? gen = null)
    {
        if (numHeads <= 0 || embedDim % numHeads != 0)
            throw new ArgumentException($"MultiheadAttention: embed_dim {embedDim} is not divisible by num_heads {numHeads}.");
        EmbedDim = embedDim; NumHeads = numHeads;
        InProjWeight = Parameter("in_proj_weight", Init.XavierUniform(Init.Empty(3 * embedDim, embedDim), gen: gen));
        if (bias) InProjBias = Parameter("in_proj_bias", Init.ZerosPersistent(3 * embedDim));
        OutProj = Add("out_proj", new Linear(embedDim, embedDim, bias, gen));
        if (OutProj.Bias != null) Init.Zeros(OutProj.Bias);
    }

    /// <summary>Self-attention, no mask: x (B, T, E) → (B, T, E).</summary>
    public override Tensor Forward(Tensor x) => Forward(x, x, x);

    /// <summary>
    /// query (B, Tq, E), key and value (B, Tk, E) → (B, Tq, E). <paramref name="mask"/> broadcasts to
    /// (B, heads, Tq, Tk) — e.g. (Tq, Tk) or (B, 1, Tq, Tk) — additive, or 1 = "may attend" with
    /// <paramref name="booleanMask"/>; see F.ScaledDotProductAttention.
    /// </summary>
    public Tensor Forward(Tensor query, Tensor key, Tensor value, Tensor? mask = null, bool isCausal = false, bool booleanMask = false)
    {
        int E = EmbedDim;
        foreach (var (what, t) in new[] { ("query", query), ("key", key), ("value", value) })
            if (t.Rank != 3 || t.Shape[2] != E)
                throw new ArgumentException($"MultiheadAttention({E}, {NumHeads}): {what}{t.NameSuffix} must be (B, T, {E}), got {t.ShapeStr}.");
        if (key.Shape[1] != value.Shape[1] || key.Shape[0] != value.Shape[0])
            throw new ArgumentException($"MultiheadAttention: key {key.ShapeStr} and value {value.ShapeStr} must have the same batch and length.");

        Tensor q, k, v;
        if (ReferenceEquals(query, key) && ReferenceEquals(key, value))
        {
            var qkv = F.Linear(query, InProjWeight, InProjBias).Chunk(3, -1);    // 3 × (B, T, E)
            (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        }
        else
        {
            q = F.Linear(query, InProjWeight.Narrow(0, 0, E), InProjBias?.Narrow(0, 0, E));
            k = F.Linear(key, InProjWeight.Narrow(0, E, E), InProjBias?.Narrow(0, E, E));
            v = F.Linear(value, InProjWeight.Narrow(0, 2 * E, E), InProjBias?.Narrow(0, 2 * E, E));
        }
        var o = F.ScaledDotProductAttention(SplitHeads(q), SplitHeads(k), SplitHeads(v), mask, isCausal, booleanMask: booleanMask); // (B, H, Tq, dh)
        int B = o.Shape[0], Tq = o.Shape[2];
        var merged = o.Permute(0, 2, 1, 3).Reshape(B, Tq, E);                  // (B, Tq, E)
        return OutProj.Forward(merged);
    }

    /// <summary>(B, T, E) → (B, H, T, E/H).</summary>
    Tensor SplitHeads(Tensor x) => x.Reshape(x.Shape[0], x.Shape[1], NumHeads, HeadDim).Permute(0, 2, 1, 3);

    public override string ToString() => $"MultiheadAttention({EmbedDim}, heads {NumHeads})";
}
