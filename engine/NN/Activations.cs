// Activation layers: thin Layer wrappers over the Tensor ops in engine/Ops/Elementwise.cs (where
// each derivative is written beside its forward), so they can sit in a Sequential.
namespace Denoise.NN;

public sealed class ReLU : Layer { public override Tensor Forward(Tensor x) => x.Relu(); }

public sealed class LeakyReLU(float negativeSlope = 0.01f) : Layer
{
    public float NegativeSlope { get; } = negativeSlope;
    public override Tensor Forward(Tensor x) => x.LeakyRelu(NegativeSlope);
}

public sealed class SiLU : Layer { public override Tensor Forward(Tensor x) => x.SiLU(); }

/// <summary>GELU, exact (erf) by default; the tanh approximation on request (torch approximate="tanh").</summary>
public sealed class GELU(bool approximateTanh = false) : Layer
{
    public bool ApproximateTanh { get; } = approximateTanh;
    public override Tensor Forward(Tensor x) => x.Gelu(ApproximateTanh);
}

public sealed class Tanh : Layer { public override Tensor Forward(Tensor x) => x.Tanh(); }

public sealed class Sigmoid : Layer { public override Tensor Forward(Tensor x) => x.Sigmoid(); }

public sealed class ELU(float alpha = 1f) : Layer
{
    public float Alpha { get; } = alpha;
    public override Tensor Forward(Tensor x) => x.Elu(Alpha);
}

/// <summary>softplus(x) = log(1 + eˣ) (β = 1).</summary>
public sealed class Softplus : Layer { public override Tensor Forward(Tensor x) => x.Softplus(); }
