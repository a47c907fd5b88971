// RMSprop.cs — RMSprop (Hinton, 2012) with optional centering (Graves, 2013), momentum and L2 weight
// decay, as torch.optim.RMSprop: square_avg, grad_avg (centered) and momentum_buffer all start at zero.
// The element loop is kernels/Cpu/Optim/RmspropKernel.cs; on a GPU device kernels/Gpu/Optim/RmspropKernel.cs.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using Denoise.Kernels.Cpu;

namespace Denoise.Optim;

public sealed class RMSprop : Optimizer
{
    public float Alpha { get; }
    public float Eps { get; }
    public float WeightDecay { get; }
    public float Momentum { get; }
    public bool Centered { get; }

    readonly int gradAvgSlot, momentumSlot;

    public RMSprop(IEnumerable<Tensor> parameters, float lr = 1e-2f, float alpha = 0.99f, float eps = 1e-8f,
        float weightDecay = 0f, float momentum = 0f, bool centered = false)
        : base(parameters, lr, Slots(momentum, centered))
    {
        CheckHyper(alpha >= 0f && alpha < 1f, $"alpha must be in [0, 1), got {alpha}");
        CheckHyper(eps >= 0f, $"eps must be ≥ 0, got {eps}");
        CheckHyper(weightDecay >= 0f, $"weightDecay must be ≥ 0, got {weightDecay}");
        CheckHyper(momentum >= 0f, $"momentum must be ≥ 0, got {momentum}");
        Alpha = alpha; Eps = eps; WeightDecay = weightDecay; Momentum = momentum; Centered = centered;
        gradAvgSlot = centered ? 1 : -1;
        momentumSlot = momentum > 0f ? (centered ? 2 : 1) : -1;
    }

    static string[] Slots(float momentum, bool centered)
    {
        var s = new List<string> { "square_avg" };
        if (centered) s.Add("grad_avg");
        if (momentum > 0f) s.Add("momentum_buffer");
        return s.ToArray();
    }

    protected override void Update(int index, Span<float> p, ReadOnlySpan<float> g, long step) =>
        RmspropKernel.Step(p, g, State(0, index),
            gradAvgSlot >= 0 ? State(gradAvgSlot, index) : [],
            momentumSlot >= 0 ? State(momentumSlot, index) : [],
            LearningRate, Alpha, Eps, WeightDecay, Momentum);

    /// <summary>The same step as one GPU kernel (kernels/Gpu/Optim/RmspropKernel.cs).</summary>
    protected override void UpdateOnDevice(int index, Tensor p, Tensor g, long step) =>
        GpuOps.Rmsprop(p, g, StateTensor(0, index),
            gradAvgSlot >= 0 ? StateTensor(gradAvgSlot, index) : null,
            momentumSlot >= 0 ? StateTensor(momentumSlot, index) : null,
            new Kernels.Gpu.RmspropStep(LearningRate, Alpha, Eps, WeightDecay, Momentum, Centered));
}
