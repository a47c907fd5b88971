// Parameter initialisation, matching torch.nn.init and PyTorch's per-layer defaults so that
// hyper-parameters (learning rates, schedules) carry over from PyTorch recipes unchanged.
//
//   Linear / Conv weight   kaiming_uniform(a = √5)  ⇒  U(−1/√fan_in, 1/√fan_in)
//   Linear / Conv bias     U(−1/√fan_in, 1/√fan_in)
//   Embedding              N(0, 1)
//   norms                  weight 1, bias 0
// fan_in = weight.shape[1] · Π weight.shape[2..] (torch.nn.init._calculate_fan_in_and_fan_out),
// which for ConvTranspose (weight (in, out/groups, k, k)) is out/groups · k·k, as PyTorch computes it.
// Kaiming: He et al. 2015, "Delving Deep into Rectifiers"; Xavier: Glorot & Bengio 2010.
//
// Every helper fills a tensor in place, draws from a Generator (Generator.Default when none is
// given), and returns the tensor. Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~NN"
namespace Denoise.NN;

public static class Init
{
    // ───────────────────── persistent allocation ─────────────────────

    /// <summary>A tensor that outlives any open TensorScope (for parameters and buffers); uninitialised.</summary>
    public static Tensor Empty(params int[] shape)
    {
        using (TensorScope.Suspend()) return Tensor.Empty(shape);
    }

    public static Tensor ZerosPersistent(params int[] shape) => Zeros(Empty(shape));
    public static Tensor OnesPersistent(params int[] shape) => Ones(Empty(shape));

    // ───────────────────── fills ─────────────────────

    public static Tensor Uniform(Tensor t, float lo, float hi, Generator? gen = null)
    {
        var s = Writable(t, "Uniform");
        (gen ?? Generator.Default).FillUniform(s);
        for (int i = 0; i < s.Length; i++) s[i] = lo + (hi - lo) * s[i];
        return t;
    }

    public static Tensor Normal(Tensor t, float mean = 0f, float std = 1f, Generator? gen = null)
    {
        var s = Writable(t, "Normal");
        (gen ?? Generator.Default).FillNormal(s);
        for (int i = 0; i < s.Length; i++) s[i] = mean + std * s[i];
        return t;
    }

    public static Tensor Constant(Tensor t, float value) { Writable(t, "Constant").Fill(value); return t; }
    public static Tensor Zeros(Tensor t) => Constant(t, 0f);
    public static Tensor Ones(Tensor t) => Constant(t, 1f);

    /// <summary>Glorot uniform: U(−b, b), b = gain·√(6 / (fan_in + fan_out)).</summary>
    public static Tensor XavierUniform(Tensor t, float gain = 1f, Generator? gen = null)
    {
        var (fanIn, fanOut) = Fans(t);
        float b = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        return Uniform(t, -b, b, gen);
    }

    /// <summary>Glorot normal: N(0, σ²), σ = gain·√(2 / (fan_in + fan_out)).</summary>
    public static Tensor XavierNormal(Tensor t, float gain = 1f, Generator? gen = null)
    {
        var (fanIn, fanOut) = Fans(t);
        return Normal(t, 0f, gain * MathF.Sqrt(2f / (fanIn + fanOut)), gen);
    }

    /// <summary>He uniform for leaky_relu(a): U(−b, b), b = √3·gain/√fan, gain = √(2/(1+a²)).
    /// a = 0 is ReLU; a = √5 is PyTorch's Linear/Conv default, giving b = 1/√fan_in.</summary>
    public static Tensor KaimingUniform(Tensor t, float a = 0f, bool fanOutMode = false, Generator? gen = null)
    {
        var (fanIn, fanOut) = Fans(t);
        float std = LeakyReluGain(a) / MathF.Sqrt(fanOutMode ? fanOut : fanIn);
        float b = MathF.Sqrt(3f) * std;
        return Uniform(t, -b, b, gen);
    }

    /// <summary>He normal for leaky_relu(a): N(0, σ²), σ = gain/√fan.</summary>
    public static Tensor KaimingNormal(Tensor t, float a = 0f, bool fanOutMode = false, Generator? gen = null)
    {
        var (fanIn, fanOut) = Fans(t);
        return Normal(t, 0f, LeakyReluGain(a) / MathF.Sqrt(fanOutMode ? fanOut : fanIn), gen);
    }

    static float LeakyReluGain(float a) => MathF.Sqrt(2f / (1f + a * a));

    /// <summary>(fan_in, fan_out) = (shape[1]·r, shape[0]·r), r = Π shape[2..]; needs rank ≥ 2.</summary>
    public static (int FanIn, int FanOut) Fans(Tensor t)
    {
        if (t.Rank < 2)
            throw new ArgumentException($"Init: fan in/out need a tensor of rank ≥ 2, got{t.NameSuffix} {t.ShapeStr}.");
        int receptive = 1;
        for (int d = 2; d < t.Rank; d++) receptive *= t.Shape[d];
        return (t.Shape[1] * receptive, t.Shape[0] * receptive);
    }

    /// <summary>PyTorch's reset_parameters for Linear, Conv and ConvTranspose: weight
    /// kaiming_uniform(a=√5) and bias U(−1/√fan_in, 1/√fan_in), both from the weight's fan_in.</summary>
    public static void DefaultLinearOrConv(Tensor weight, Tensor? bias, Generator? gen = null)
    {
        KaimingUniform(weight, MathF.Sqrt(5f), gen: gen);
        if (bias == null) return;
        int fanIn = Fans(weight).FanIn;
        float b = fanIn > 0 ? 1f / MathF.Sqrt(fanIn) : 0f;
        Uniform(bias, -b, b, gen);
    }

    // Initialisation writes parameters directly: it is not an op, so neither the tape nor the
    // in-place RequiresGrad check applies.
    static Span<float> Writable(Tensor t, string op)
    {
        if (t.DType != DType.Float32) throw new ArgumentException($"Init.{op}: tensor{t.NameSuffix} is {t.DType}; expected Float32.");
        if (!t.IsContiguous) throw new ArgumentException($"Init.{op}: tensor{t.NameSuffix} of shape {t.ShapeStr} is a non-contiguous view.");
        return t.Span;
    }
}
