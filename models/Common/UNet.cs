// UNet: the noise / velocity network shared by DDPM, DDIM and flow matching on images.
//
// The default configuration is WORKLOADS M1 ("UNet-S" for 28×28×1, 2,152,289 parameters as PyTorch
// counts them; shared/bench/WORKLOADS.md pins every layer). The architecture follows Ho et al.,
// "Denoising Diffusion Probabilistic Models" (2020), itself the PixelCNN++ / Wide-ResNet UNet of
// Ronneberger et al. (2015) with GroupNorm (Wu & He 2018), a sinusoidal time embedding (Vaswani et
// al. 2017) added inside every residual block, and self-attention at the lowest resolution.
// Class conditioning (optional) adds a learned label embedding to the time embedding; the extra
// last row is the "null" label of classifier-free guidance (Ho & Salimans 2022).
//
//   temb  = Linear(256→256)(SiLU(Linear(128→256)([sin(t·ω) | cos(t·ω)])))  [+ Embedding(label)]
//   h     = Conv3×3(x)                                                       stem
//   down  : per level  ResBlock(c_prev → c_i) [→ Attention] → skip_i  → Downsample (not at the last)
//   middle: ResBlock(c → c) → Attention → ResBlock(c → c)
//   up    : per level, last to first  ResBlock([h | skip_i] → c_i) [→ Attention] → Upsample (not at the first)
//   out   = Conv3×3(SiLU(GroupNorm(h)))
//
// with c_i = BaseChannels·ChannelMults[i] at resolution ImageSize / 2^i. The UNet embeds t as given:
// DDPM passes integer steps (0…999), which spread the frequencies ω = 1 … 1e-4 well; a flow-matching
// model with t ∈ [0, 1] should set TimeScale = 1000 (WORKLOADS M1, "for training it does").
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionUNet"
using Denoise.NN;

namespace Denoise.Models.Common;

/// <param name="InChannels">Image channels in and out (1 for MNIST).</param>
/// <param name="ImageSize">Height = width of the input; must halve cleanly enough that skips line up (28 → 14 → 7).</param>
/// <param name="BaseChannels">Channels of the stem and of level 0 (M1: 32).</param>
/// <param name="ChannelMults">One entry per resolution level: c_i = BaseChannels·ChannelMults[i] (M1: 1, 2, 4).</param>
/// <param name="AttentionResolutions">Resolutions (in pixels) whose down/up ResBlocks are followed by
/// self-attention, beyond the middle block's, which is always there (M1: none).</param>
/// <param name="Heads">Attention heads (M1: 4 heads of 32 channels at 128).</param>
/// <param name="Groups">GroupNorm groups everywhere (M1: 8).</param>
/// <param name="TimeEmbedDim">Sinusoid width (M1: 128); the embedding MLP widens it to 2× (256).</param>
/// <param name="NumClasses">0: unconditional. Otherwise labels 0…NumClasses−1 plus the null label NumClasses.</param>
/// <param name="TimeScale">Multiplies t before the sinusoid (M1: 1, t as given; 1000 for t ∈ [0, 1]).</param>
public sealed record UNetConfig(
    int InChannels = 1,
    int ImageSize = 28,
    int BaseChannels = 32,
    int[]? ChannelMults = null,
    int[]? AttentionResolutions = null,
    int Heads = 4,
    int Groups = 8,
    int TimeEmbedDim = 128,
    int NumClasses = 0,
    float TimeScale = 1f)
{
    public int[] Mults => ChannelMults ?? [1, 2, 4];
    public int[] AttnAt => AttentionResolutions ?? [];

    /// <summary>WORKLOADS M1 exactly (optionally class-conditional).</summary>
    public static UNetConfig M1(int numClasses = 0) => new(NumClasses: numClasses);
}

public sealed class UNet : Module, IDenoiser
{
    public UNetConfig Config { get; }
    readonly Linear time1, time2;
    readonly Embedding? labelEmbedding;
    readonly Conv2d stem;
    readonly List<(ResBlock Block, SelfAttention? Attn, Conv2d? Down)> down = new();
    readonly ResBlock mid1, mid2;
    readonly SelfAttention midAttn;
    readonly List<(ResBlock Block, SelfAttention? Attn, Conv2d? Up)> up = new();
    readonly GroupNorm headNorm;
    readonly Conv2d headConv;

    public UNet(UNetConfig? config = null, Generator? gen = null)
    {
        var cfg = Config = config ?? new UNetConfig();
        int[] mults = cfg.Mults;
        if (mults.Length == 0) throw new ArgumentException("UNet: ChannelMults must have at least one level.");
        if (cfg.TimeEmbedDim % 2 != 0) throw new ArgumentException($"UNet: TimeEmbedDim must be even (sin | cos halves), got {cfg.TimeEmbedDim}.");
        int E = 2 * cfg.TimeEmbedDim;                                 // the embedding every ResBlock reads (M1: 256)

        time1 = Add("time_mlp1", new Linear(cfg.TimeEmbedDim, E, gen: gen));
        time2 = Add("time_mlp2", new Linear(E, E, gen: gen));
        if (cfg.NumClasses > 0) labelEmbedding = Add("label_embedding", new Embedding(cfg.NumClasses + 1, E, gen));
        stem = Add("stem", new Conv2d(cfg.InChannels, cfg.BaseChannels, 3, padding: 1, gen: gen));

        int c = cfg.BaseChannels, res = cfg.ImageSize;
        var skipChannels = new int[mults.Length];
        for (int i = 0; i < mults.Length; i++)
        {
            int ci = cfg.BaseChannels * mults[i];
            var block = Add($"down{i}_block", new ResBlock(c, ci, E, cfg.Groups, gen));
            var attn = cfg.AttnAt.Contains(res) ? Add($"down{i}_attn", new SelfAttention(ci, cfg.Heads, cfg.Groups, gen)) : null;
            var ds = i < mults.Length - 1 ? Add($"down{i}_downsample", new Conv2d(ci, ci, 3, stride: 2, padding: 1, gen: gen)) : null;
            down.Add((block, attn, ds));
            skipChannels[i] = c = ci;
            if (ds != null) res = (res - 1) / 2 + 1;                  // stride 2, pad 1, k 3: ⌈res/2⌉
        }

        mid1 = Add("mid_block1", new ResBlock(c, c, E, cfg.Groups, gen));
        midAttn = Add("mid_attn", new SelfAttention(c, cfg.Heads, cfg.Groups, gen));
        mid2 = Add("mid_block2", new ResBlock(c, c, E, cfg.Groups, gen));

        for (int i = mults.Length - 1; i >= 0; i--)
        {
            int ci = cfg.BaseChannels * mults[i];
            var block = Add($"up{i}_block", new ResBlock(c + skipChannels[i], ci, E, cfg.Groups, gen));
            var attn = cfg.AttnAt.Contains(res) ? Add($"up{i}_attn", new SelfAttention(ci, cfg.Heads, cfg.Groups, gen)) : null;
            var us = i > 0 ? Add($"up{i}_upsample", new Conv2d(ci, ci, 3, padding: 1, gen: gen)) : null;
            up.Add((block, attn, us));
            c = ci;
            if (us != null) res *= 2;                                  // only used to place attention
        }

        headNorm = Add("head_norm", new GroupNorm(cfg.Groups, c));
        headConv = Add("head_conv", new Conv2d(c, cfg.InChannels, 3, padding: 1, gen: gen));
    }

    /// <summary>x (B, C, H, W), t (B) float, labels (B) Int32 or null → (B, C, H, W).</summary>
    public Tensor Forward(Tensor x, Tensor t, Tensor? labels = null)
    {
        var cfg = Config;
        if (x.Rank != 4 || x.Shape[1] != cfg.InChannels)
            throw new ArgumentException($"UNet: x must be (B, {cfg.InChannels}, H, W), got {x.ShapeStr}.");
        int B = x.Shape[0];
        if (t.Rank != 1 || t.Shape[0] != B)
            throw new ArgumentException($"UNet: t must be ({B}) for x {x.ShapeStr}, got {t.ShapeStr}.");
        if (labels != null && labelEmbedding == null)
            throw new ArgumentException($"UNet: labels of shape {labels.ShapeStr} passed to an unconditional UNet (NumClasses = 0).");
        if (labels != null && (labels.DType != DType.Int32 || labels.Rank != 1 || labels.Shape[0] != B))
            throw new ArgumentException($"UNet: labels must be Int32 ({B}), got {labels.DType} {labels.ShapeStr}.");

        var temb = time2.Forward(time1.Forward(SinusoidalEmbedding(t * cfg.TimeScale, cfg.TimeEmbedDim)).SiLU());   // (B, E)
        if (labelEmbedding != null)
            // A conditional UNet called without labels sees the null label: the unconditional model.
            temb = temb + labelEmbedding.Forward(labels ?? Tensor.FromArray(Enumerable.Repeat(cfg.NumClasses, B).ToArray(), B).To(x.Device));
        var e = temb.SiLU();                                           // computed once, read by every ResBlock

        var h = stem.Forward(x);
        var skips = new List<Tensor>();
        foreach (var (block, attn, ds) in down)
        {
            h = block.Forward(h, e);
            if (attn != null) h = attn.Forward(h);
            skips.Add(h);
            if (ds != null) h = ds.Forward(h);
        }

        h = mid2.Forward(midAttn.Forward(mid1.Forward(h, e)), e);

        for (int j = 0; j < up.Count; j++)
        {
            var (block, attn, us) = up[j];
            var skip = skips[^(j + 1)];
            h = block.Forward(Tensor.Cat([h, skip], 1), e);            // [upsampled | skip] along channels
            if (attn != null) h = attn.Forward(h);
            if (us != null)
            {
                var next = skips[^(j + 2)];                            // nearest ×2 (to the next skip's size, for odd sizes)
                h = us.Forward(F.Interpolate(h, (next.Shape[2], next.Shape[3])));
            }
        }

        return headConv.Forward(F.GroupNormSiLU(h, Config.Groups, headNorm.Weight, headNorm.Bias));
    }

    /// <summary>[sin(t·ω_i) | cos(t·ω_i)], ω_i = exp(−ln(10000)·i/(dim/2)), i = 0 … dim/2 − 1: (B) → (B, dim).</summary>
    public static Tensor SinusoidalEmbedding(Tensor t, int dim)
    {
        int half = dim / 2;
        var omega = new float[half];
        for (int i = 0; i < half; i++) omega[i] = (float)Math.Exp(-Math.Log(10000.0) * i / half);
        var angle = t.Unsqueeze(1) * Tensor.FromArray(omega, 1, half).To(t.Device);   // (B, half)
        return Tensor.Cat([angle.Sin(), angle.Cos()], 1);               // (B, dim)
    }
}

/// <summary>GroupNorm, SiLU, Conv3×3; + Linear(SiLU(temb)) per channel; GroupNorm, SiLU, Conv3×3; + skip (Conv1×1 if the width changes).</summary>
public sealed class ResBlock : Module
{
    readonly int groups;
    readonly GroupNorm norm1, norm2;
    readonly Conv2d conv1, conv2;
    readonly Linear timeProj;
    readonly Conv2d? skip;

    public ResBlock(int cin, int cout, int embedDim, int groups, Generator? gen = null)
    {
        this.groups = groups;
        norm1 = Add("norm1", new GroupNorm(groups, cin));
        conv1 = Add("conv1", new Conv2d(cin, cout, 3, padding: 1, gen: gen));
        timeProj = Add("time_proj", new Linear(embedDim, cout, gen: gen));
        norm2 = Add("norm2", new GroupNorm(groups, cout));
        conv2 = Add("conv2", new Conv2d(cout, cout, 3, padding: 1, gen: gen));
        if (cin != cout) skip = Add("skip", new Conv2d(cin, cout, 1, gen: gen));
    }

    /// <summary>x (B, cin, H, W), e = SiLU(temb) (B, E) → (B, cout, H, W).</summary>
    public Tensor Forward(Tensor x, Tensor e)
    {
        var h = conv1.Forward(F.GroupNormSiLU(x, groups, norm1.Weight, norm1.Bias));
        // h + Linear(e) (B, cout) broadcast over H, W, added inside the fused norm (never written out)
        h = conv2.Forward(F.GroupNormSiLU(h, timeProj.Forward(e), groups, norm2.Weight, norm2.Bias));
        return h + (skip?.Forward(x) ?? x);
    }
}

/// <summary>x + Linear(MHA(GroupNorm(x))) over the H·W positions: fused qkv Linear(C→3C), heads of C/heads.</summary>
public sealed class SelfAttention : Module
{
    readonly int heads;
    readonly GroupNorm norm;
    readonly Linear qkv, proj;

    public SelfAttention(int channels, int heads, int groups, Generator? gen = null)
    {
        if (channels % heads != 0) throw new ArgumentException($"SelfAttention: {channels} channels do not split into {heads} heads.");
        this.heads = heads;
        norm = Add("norm", new GroupNorm(groups, channels));
        qkv = Add("qkv", new Linear(channels, 3 * channels, gen: gen));
        proj = Add("proj", new Linear(channels, channels, gen: gen));
    }

    public Tensor Forward(Tensor x)
    {
        int B = x.Shape[0], C = x.Shape[1], H = x.Shape[2], W = x.Shape[3], T = H * W, d = C / heads;
        var h = norm.Forward(x).Reshape(B, C, T).Transpose(1, 2);      // (B, T, C): one token per pixel
        var q_k_v = qkv.Forward(h).Reshape(B, T, 3, heads, d)          // (B, T, 3, heads, d)
                               .Permute(2, 0, 3, 1, 4);                // (3, B, heads, T, d)
        var o = F.ScaledDotProductAttentionPacked(q_k_v);              // (B, heads, T, d), q, k, v = q_k_v[0], [1], [2]
        o = o.Transpose(1, 2).Reshape(B, T, C);                        // (B, T, heads·d)
        return x + proj.Forward(o).Transpose(1, 2).Reshape(B, C, H, W);
    }
}
