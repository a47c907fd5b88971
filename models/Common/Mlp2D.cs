// The 2-D velocity / noise network of WORKLOADS M2: concat(x ∈ R², t ∈ R) → Linear(3→256), SiLU,
// Linear(256→256), SiLU, Linear(256→256), SiLU, Linear(256→2). 133,122 parameters, as PyTorch counts.
using Denoise.NN;

namespace Denoise.Models.Common;

public sealed class Mlp2D : Module
{
    public readonly Sequential Net;

    public Mlp2D(int hidden = 256, Generator? gen = null)
    {
        Net = Add("net", new Sequential(
            new Linear(3, hidden, gen: gen), new SiLU(),
            new Linear(hidden, hidden, gen: gen), new SiLU(),
            new Linear(hidden, hidden, gen: gen), new SiLU(),
            new Linear(hidden, 2, gen: gen)));
    }

    /// <summary>v(x, t): x (B, 2), t (B) → (B, 2).</summary>
    public Tensor Forward(Tensor x, Tensor t) => Net.Forward(Tensor.Cat([x, t.Unsqueeze(1)], 1));
}
