// SGD.cs — stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// exactly as torch.optim.SGD (the momentum buffer starts as the first gradient, undampened).
// The per-element rule is in kernels/Cpu/Optim/SgdKernel.cs; Nesterov's form is Sutskever et al. (2013).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using Denoise.Kernels.Cpu;

namespace Denoise.Optim;

public sealed class SGD : Optimizer
{
    public float Momentum { get; }
    public float Dampening { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

    const int MomentumBuffer = 0;

    public SGD(IEnumerable<Tensor> parameters, float lr, float momentum = 0f, float dampening = 0f,
        float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr, momentum != 0f ? ["momentum_buffer"] : [])
    {
        CheckHyper(momentum >= 0f, $"momentum must be ≥ 0, got {momentum}");
        CheckHyper(weightDecay >= 0f, $"weightDecay must be ≥ 0, got {weightDecay}");
        CheckHyper(!nesterov || (momentum > 0f && dampening == 0f), "Nesterov momentum requires momentum > 0 and dampening = 0");
        Momentum = momentum; Dampening = dampening; WeightDecay = weightDecay; Nesterov = nesterov;
    }

    protected override void Update(int index, Span<float> p, ReadOnlySpan<float> g, long step)
    {
        if (Momentum == 0f)
        {
            SgdKernel.Step(p, g, [], LearningRate, 0f, Dampening, WeightDecay, Nesterov, firstStep: false);
            return;
        }
        bool first = !HasState(MomentumBuffer, index);
        SgdKernel.Step(p, g, State(MomentumBuffer, index), LearningRate, Momentum, Dampening, WeightDecay, Nesterov, first);
    }

    /// <summary>The same step as one GPU kernel (kernels/Gpu/Optim/SgdKernel.cs).</summary>
    protected override void UpdateOnDevice(int index, Tensor p, Tensor g, long step)
    {
        bool first = Momentum != 0f && !HasState(MomentumBuffer, index);
        GpuOps.Sgd(p, g, Momentum != 0f ? StateTensor(MomentumBuffer, index) : null,
            new Kernels.Gpu.SgdStep(LearningRate, Momentum, Dampening, WeightDecay, Nesterov, first));
    }
}
