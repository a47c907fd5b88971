// Basic layers: Linear, Embedding, Dropout, Sequential, Flatten, Identity — torch.nn's names,
// parameter names and default initialisation (engine/NN/Init.cs), so PyTorch checkpoints and
// hyper-parameters carry over. Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN"
namespace Denoise.NN;

/// <summary>y = x·Wᵀ + b. weight (out, in), bias (out); default init U(±1/√in) for both.</summary>
public sealed class Linear : Layer
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? gen = null)
    {
        if (inFeatures < 0 || outFeatures < 0) throw new ArgumentException($"Linear: features must be ≥ 0, got ({inFeatures} → {outFeatures}).");
        InFeatures = inFeatures; OutFeatures = outFeatures;
        Weight = Parameter("weight", Init.Empty(outFeatures, inFeatures));
        if (bias) Bias = Parameter("bias", Init.Empty(outFeatures));
        Init.DefaultLinearOrConv(Weight, Bias, gen);
    }

    public override Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);
    public override string ToString() => $"Linear({InFeatures} → {OutFeatures}{(Bias == null ? ", no bias" : "")})";
}

/// <summary>A lookup table: Int32 ids (any shape) → (…, dim) rows of weight (num, dim); init N(0, 1).</summary>
public sealed class Embedding : Layer
{
    public int NumEmbeddings { get; }
    public int EmbeddingDim { get; }
    public Tensor Weight { get; }

    public Embedding(int numEmbeddings, int embeddingDim, Generator? gen = null)
    {
        NumEmbeddings = numEmbeddings; EmbeddingDim = embeddingDim;
        Weight = Parameter("weight", Init.Normal(Init.Empty(numEmbeddings, embeddingDim), 0f, 1f, gen));
    }

    public override Tensor Forward(Tensor ids) => F.Embedding(ids, Weight);

    public override string ToString() => $"Embedding({NumEmbeddings}, {EmbeddingDim})";
}

/// <summary>Inverted dropout in training mode (zero with probability p, scale the rest by 1/(1−p)); identity in eval.</summary>
public sealed class Dropout : Layer
{
    public float P { get; }
    readonly Generator? gen;

    public Dropout(float p = 0.5f, Generator? gen = null)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"Dropout: p must be in [0, 1), got {p}.");
        P = p; this.gen = gen;
    }

    public override Tensor Forward(Tensor x) => F.Dropout(x, P, IsTraining, gen);
    public override string ToString() => $"Dropout({P})";
}

/// <summary>Layers applied in order; submodules named "0", "1", … as torch.nn.Sequential.</summary>
public sealed class Sequential : Layer
{
    readonly List<Layer> layers = new();

    public Sequential(params Layer[] layers) { foreach (var l in layers) Append(l); }

    /// <summary>Adds a layer at the end (named by its position) and returns this.</summary>
    public Sequential Append(Layer layer)
    {
        layers.Add(Add(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));
        return this;
    }

    public int Count => layers.Count;
    public Layer this[int i] => layers[i];

    public override Tensor Forward(Tensor x)
    {
        foreach (var l in layers) x = l.Forward(x);
        return x;
    }

    public override string ToString() => "Sequential(" + string.Join(", ", layers) + ")";
}

public sealed class Identity : Layer
{
    public override Tensor Forward(Tensor x) => x;
}

/// <summary>Flattens dims startDim..endDim (default: all but the batch dim).</summary>
public sealed class Flatten : Layer
{
    readonly int startDim, endDim;
    public Flatten(int startDim = 1, int endDim = -1) { this.startDim = startDim; this.endDim = endDim; }
    public override Tensor Forward(Tensor x) => x.Flatten(startDim, endDim);
}

/// <summary>2-D convolution layer: weight (Cout, Cin/groups, kh, kw), bias (Cout); PyTorch's default init.</summary>
public sealed class Conv2d : Layer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public Int2 Stride { get; }
    public Int2 Padding { get; }
    public Int2 Dilation { get; }
    public int Groups { get; }

    public Conv2d(int inChannels, int outChannels, Int2 kernelSize, Int2? stride = null, Int2? padding = null,
        Int2? dilation = null, int groups = 1, bool bias = true, Generator? gen = null)
    {
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: channels ({inChannels} → {outChannels}) must be divisible by groups = {groups}.");
        Stride = stride ?? 1; Padding = padding ?? 0; Dilation = dilation ?? 1; Groups = groups;
        Weight = Parameter("weight", Init.Empty(outChannels, inChannels / groups, kernelSize.H, kernelSize.W));
        if (bias) Bias = Parameter("bias", Init.Empty(outChannels));
        Init.DefaultLinearOrConv(Weight, Bias, gen);
    }

    public override Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, Stride, Padding, Dilation, Groups);
    public override string ToString() => $"Conv2d({Weight.Shape[1] * Groups} → {Weight.Shape[0]}, k={Weight.Shape[2]}×{Weight.Shape[3]}, stride {Stride}, padding {Padding})";
}

/// <summary>1-D convolution layer: weight (Cout, Cin/groups, k), bias (Cout).</summary>
public sealed class Conv1d : Layer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    readonly int stride, padding, dilation, groups;

    public Conv1d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        int groups = 1, bool bias = true, Generator? gen = null)
    {
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv1d: channels ({inChannels} → {outChannels}) must be divisible by groups = {groups}.");
        (this.stride, this.padding, this.dilation, this.groups) = (stride, padding, dilation, groups);
        Weight = Parameter("weight", Init.Empty(outChannels, inChannels / groups, kernelSize));
        if (bias) Bias = Parameter("bias", Init.Empty(outChannels));
        Init.DefaultLinearOrConv(Weight, Bias, gen);
    }

    public override Tensor Forward(Tensor x) => F.Conv1d(x, Weight, Bias, stride, padding, dilation, groups);
}

/// <summary>Transposed 2-D convolution: weight (Cin, Cout/groups, kh, kw), bias (Cout), as PyTorch.</summary>
public sealed class ConvTranspose2d : Layer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    readonly Int2 stride, padding, outputPadding, dilation;
    readonly int groups;

    public ConvTranspose2d(int inChannels, int outChannels, Int2 kernelSize, Int2? stride = null, Int2? padding = null,
        Int2? outputPadding = null, int groups = 1, bool bias = true, Int2? dilation = null, Generator? gen = null)
    {
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"ConvTranspose2d: channels ({inChannels} → {outChannels}) must be divisible by groups = {groups}.");
        this.stride = stride ?? 1; this.padding = padding ?? 0; this.outputPadding = outputPadding ?? 0; this.dilation = dilation ?? 1; this.groups = groups;
        Weight = Parameter("weight", Init.Empty(inChannels, outChannels / groups, kernelSize.H, kernelSize.W));
        if (bias) Bias = Parameter("bias", Init.Empty(outChannels));
        Init.DefaultLinearOrConv(Weight, Bias, gen);
    }

    public override Tensor Forward(Tensor x) => F.ConvTranspose2d(x, Weight, Bias, stride, padding, outputPadding, dilation, groups);
}

/// <summary>Max pooling layer (see F.MaxPool2d).</summary>
public sealed class MaxPool2d(int kernel, int? stride = null, int padding = 0) : Layer
{
    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, kernel, stride, padding);
}

/// <summary>Average pooling layer (see F.AvgPool2d).</summary>
public sealed class AvgPool2d(int kernel, int? stride = null, int padding = 0) : Layer
{
    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, kernel, stride, padding);
}

/// <summary>Adaptive average pooling to a fixed output size.</summary>
public sealed class AdaptiveAvgPool2d(int outH, int outW) : Layer
{
    public override Tensor Forward(Tensor x) => F.AdaptiveAvgPool2d(x, (outH, outW));
}
