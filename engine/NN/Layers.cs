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
