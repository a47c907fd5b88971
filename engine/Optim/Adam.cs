// Adam.cs — Adam (Kingma & Ba, 2015) with optional AMSGrad (Reddi et al., "On the Convergence of Adam
// and Beyond", 2018) and L2 weight decay added to the gradient; and AdamW (Loshchilov & Hutter, 2019)
// whose weight decay is decoupled: p ← p·(1 − lr·wd) before the Adam step.
// Both follow torch.optim.Adam / AdamW (single-tensor path) including its bias correction:
//   stepSize = lr / (1 − β1^t),   denom = √v / √(1 − β2^t) + eps,   p ← p − stepSize · m / denom
// The scalars are computed here in double (as Python does) and the element loop is the fused
// kernel in kernels/Cpu/Optim/AdamKernel.cs.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
using Denoise.Kernels.Cpu;

namespace Denoise.Optim;

public class Adam : Optimizer
{
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }
    public bool Amsgrad { get; }
    /// <summary>True for AdamW: weight decay shrinks the parameter instead of adding wd·p to the gradient.</summary>
    public bool DecoupledWeightDecay { get; }

    const int ExpAvg = 0, ExpAvgSq = 1, MaxExpAvgSq = 2;

    /// <summary>Adam with torch's defaults; <paramref name="weightDecay"/> is an L2 term added to the gradient.</summary>
    public Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
        float eps = 1e-8f, float weightDecay = 0f, bool amsgrad = false)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad, decoupled: false) { }

    protected Adam(IEnumerable<Tensor> parameters, float lr, float beta1, float beta2, float eps, float weightDecay,
        bool amsgrad, bool decoupled)
        : base(parameters, lr, amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"])
    {
        CheckHyper(beta1 >= 0f && beta1 < 1f, $"beta1 must be in [0, 1), got {beta1}");
        CheckHyper(beta2 >= 0f && beta2 < 1f, $"beta2 must be in [0, 1), got {beta2}");
        CheckHyper(eps >= 0f, $"eps must be ≥ 0, got {eps}");
        CheckHyper(weightDecay >= 0f, $"weightDecay must be ≥ 0, got {weightDecay}");
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay; Amsgrad = amsgrad; DecoupledWeightDecay = decoupled;
    }

    protected override void Update(int index, Span<float> p, ReadOnlySpan<float> g, long step)
    {
        double lr = LearningRate;
        double bc1 = 1 - Math.Pow(Beta1, step), bc2 = 1 - Math.Pow(Beta2, step);
        float stepSize = (float)(lr / bc1), bc2Sqrt = (float)Math.Sqrt(bc2);
        float decay = DecoupledWeightDecay ? (float)(1 - lr * WeightDecay) : 1f;
        float l2 = DecoupledWeightDecay ? 0f : WeightDecay;
        AdamKernel.Step(p, g, State(ExpAvg, index), State(ExpAvgSq, index), Amsgrad ? State(MaxExpAvgSq, index) : [],
            Beta1, Beta2, Eps, l2, decay, stepSize, bc2Sqrt);
    }

    /// <summary>The same step as <see cref="Update"/> (same scalars, computed in double) as one GPU kernel (kernels/Gpu/Optim/AdamKernel.cs).</summary>
    protected override void UpdateOnDevice(int index, Tensor p, Tensor g, long step)
    {
        double lr = LearningRate;
        double bc1 = 1 - Math.Pow(Beta1, step), bc2 = 1 - Math.Pow(Beta2, step);
        float stepSize = (float)(lr / bc1), bc2Sqrt = (float)Math.Sqrt(bc2);
        float decay = DecoupledWeightDecay ? (float)(1 - lr * WeightDecay) : 1f;
        float l2 = DecoupledWeightDecay ? 0f : WeightDecay;
        GpuOps.Adam(p, g, StateTensor(ExpAvg, index), StateTensor(ExpAvgSq, index), Amsgrad ? StateTensor(MaxExpAvgSq, index) : null,
            new Kernels.Gpu.AdamStep(Beta1, Beta2, Eps, l2, decay, stepSize, bc2Sqrt, Amsgrad));
    }
}

/// <summary>AdamW: Adam with decoupled weight decay (default 1e-2, as torch.optim.AdamW).</summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
        float eps = 1e-8f, float weightDecay = 1e-2f, bool amsgrad = false)
        : base(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad, decoupled: true) { }
}
