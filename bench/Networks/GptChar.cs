// GPT-char of shared/bench/WORKLOADS.md M3: a GPT-2-style decoder (Radford et al. 2019; layout as
// Karpathy's nanoGPT model.py) for character-level text.
//   vocab 96, context 128, 4 layers, 4 heads, d_model 128, MLP 4×, pre-LayerNorm, learned positions,
//   exact GELU, no dropout, final LayerNorm, output head tied to the token embedding (no bias).
// 822,016 parameters, as PyTorch counts them. Only the benchmark uses this network.
// Run: dotnet run -c Release --project bench -- workloads --only M3
using Denoise.NN;

namespace Denoise.Bench.Networks;

public sealed record GptConfig(int Vocab = 96, int Context = 128, int Layers = 4, int Heads = 4, int DModel = 128);

/// <summary>LN → causal multi-head attention (fused qkv) → + x → LN → MLP(4×, GELU) → + x.</summary>
public sealed class GptBlock : Layer
{
    readonly int heads;
    readonly LayerNorm ln1, ln2;
    readonly Linear qkv, proj, fc, fcOut;

    public GptBlock(GptConfig c, Generator? gen = null)
    {
        heads = c.Heads;
        ln1 = Add("ln_1", new LayerNorm(c.DModel));
        qkv = Add("c_attn", new Linear(c.DModel, 3 * c.DModel, gen: gen));
        proj = Add("c_proj", new Linear(c.DModel, c.DModel, gen: gen));
        ln2 = Add("ln_2", new LayerNorm(c.DModel));
        fc = Add("c_fc", new Linear(c.DModel, 4 * c.DModel, gen: gen));
        fcOut = Add("mlp_proj", new Linear(4 * c.DModel, c.DModel, gen: gen));
    }

    /// <summary>x (B, T, C) → (B, T, C).</summary>
    public override Tensor Forward(Tensor x)
    {
        int B = x.Shape[0], T = x.Shape[1], C = x.Shape[2], hd = C / heads;
        var qkvT = qkv.Forward(ln1.Forward(x)).Reshape(B, T, 3, heads, hd).Permute(2, 0, 3, 1, 4); // (3, B, H, T, hd)
        var qkv3 = qkvT.Unbind(0);                                                                  // q, k, v: 3 × (B, H, T, hd)
        var y = F.ScaledDotProductAttention(qkv3[0], qkv3[1], qkv3[2], isCausal: true);            // (B, H, T, hd)
        x = x + proj.Forward(y.Transpose(1, 2).Reshape(B, T, C));                                   // (B, T, C)
        return x + fcOut.Forward(fc.Forward(ln2.Forward(x)).Gelu(false));
    }
}

public sealed class GptChar : Module
{
    public readonly GptConfig Config;
    readonly Embedding tokEmb, posEmb;
    readonly GptBlock[] blocks;
    readonly LayerNorm lnF;

    public GptChar(GptConfig? config = null, Generator? gen = null)
    {
        Config = config ?? new GptConfig();
        tokEmb = Add("wte", new Embedding(Config.Vocab, Config.DModel, gen));
        posEmb = Add("wpe", new Embedding(Config.Context, Config.DModel, gen));
        blocks = new GptBlock[Config.Layers];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = Add($"h{i}", new GptBlock(Config, gen));
        lnF = Add("ln_f", new LayerNorm(Config.DModel));
    }

    /// <summary>ids Int32 (B, T), T ≤ context → logits (B, T, vocab).</summary>
    public Tensor Forward(Tensor ids)
    {
        int T = ids.Shape[1];
        if (T > Config.Context)
            throw new ArgumentException($"GptChar: sequence of shape {ids.ShapeStr} is longer than the context {Config.Context}.");
        var x = tokEmb.Forward(ids) + posEmb.Weight.Narrow(0, 0, T);   // (B, T, C) + (T, C)
        foreach (var b in blocks) x = b.Forward(x);
        return F.Linear(lnF.Forward(x), tokEmb.Weight);                // tied head: (B, T, vocab)
    }
}
