// The 2-D velocity / noise network of WORKLOADS M2: concat(x ∈ R², t ∈ R) → Linear(3→256), SiLU,
// Linear(256→256), SiLU, Linear(256→256), SiLU, Linear(256→2). 133,122 parameters, as PyTorch counts.
// Optional class conditioning (numClasses > 0, not part of M2): a label embedding (numClasses + 1
// rows, the last the null label of classifier-free guidance) added to the first hidden layer.
// It implements IDenoiser, so every sampler in models/Diffusion and models/FlowMatching accepts it;
// it reads t as given (a flow's t ∈ [0, 1]; wrap it to rescale DDPM's integer steps).
using Denoise.NN;

namespace Denoise.Models.Common;

public sealed class Mlp2D : Module, IDenoiser
{
    public readonly Sequential Net;
    readonly Embedding? labelEmbedding;
    readonly int numClasses;

    public Mlp2D(int hidden = 256, Generator? gen = null, int numClasses = 0)
    {
        Net = Add("net", new Sequential(
            new Linear(3, hidden, gen: gen), new SiLU(),
            new Linear(hidden, hidden, gen: gen), new SiLU(),
            new Linear(hidden, hidden, gen: gen), new SiLU(),
            new Linear(hidden, 2, gen: gen)));
        this.numClasses = numClasses;
        if (numClasses > 0) labelEmbedding = Add("label_embedding", new Embedding(numClasses + 1, hidden, gen));
    }

    /// <summary>v(x, t): x (B, 2), t (B) → (B, 2).</summary>
    public Tensor Forward(Tensor x, Tensor t) => Forward(x, t, null);

    /// <summary>v(x, t, c): labels (B) Int32 or null (a conditional model then sees the null label).</summary>
    public Tensor Forward(Tensor x, Tensor t, Tensor? labels)
    {
        var input = Tensor.Cat([x, t.Unsqueeze(1)], 1);                  // (B, 3)
        if (labelEmbedding == null)
        {
            if (labels != null) throw new ArgumentException($"Mlp2D: labels of shape {labels.ShapeStr} passed to an unconditional network.");
            return Net.Forward(input);
        }
        int B = x.Shape[0];
        labels ??= Tensor.FromArray(Enumerable.Repeat(numClasses, B).ToArray(), B).To(x.Device);
        var layers = Net.Children().Cast<Layer>().ToArray();
        var h = layers[0].Forward(input) + labelEmbedding.Forward(labels); // (B, hidden)
        for (int i = 1; i < layers.Length; i++) h = layers[i].Forward(h);
        return h;
    }
}
