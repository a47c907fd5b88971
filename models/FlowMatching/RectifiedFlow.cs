// Conditional flow matching with the straight (rectified) path.
//
// Papers: Lipman et al., "Flow Matching for Generative Modeling" (2023); Liu et al., "Flow
// Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow" (2023).
//
//   x₀ ~ N(0, I) (noise),  x₁ ~ data,  t ~ U(0, 1)
//   x_t = (1 − t)·x₀ + t·x₁           a straight line from noise to data
//   target velocity  u = x₁ − x₀      constant along that line
//   loss  = ‖v_θ(x_t, t) − u‖²        (Algorithm 1: training)
//   sample: x ← x + Δt·v_θ(x, t), t = 0 … 1 in equal Euler steps   (Algorithm 2: sampling)
//
// The network is passed in as v(x, t) with t of shape (B); this file does not care whether it is
// the 2-D MLP of WORKLOADS M2 or a UNet. Run: dotnet run -c Release --project examples/Toy2D
namespace Denoise.Models.FlowMatching;

public sealed class RectifiedFlow
{
    readonly Func<Tensor, Tensor, Tensor> velocity;

    /// <param name="velocity">v_θ(x_t, t): x_t of shape (B, …), t of shape (B) in [0, 1].</param>
    public RectifiedFlow(Func<Tensor, Tensor, Tensor> velocity) { this.velocity = velocity; }

    /// <summary>Algorithm 1: the flow-matching loss on a batch of data x₁.</summary>
    public Tensor Loss(Tensor x1, Generator gen)
    {
        int B = x1.Shape[0];
        var x0 = Tensor.Randn(x1.Shape.ToArray(), gen);
        var t = Tensor.Rand([B], gen);
        var tb = t.Reshape(BroadcastShape(B, x1.Rank));     // (B, 1, …) to scale whole samples
        var xt = (1f - tb) * x0 + tb * x1;
        var target = x1 - x0;
        var predicted = velocity(xt, t);
        return (predicted - target).Square().Mean();
    }

    /// <summary>Algorithm 2: integrate dx/dt = v_θ(x, t) from noise at t = 0 to data at t = 1 with Euler steps.</summary>
    /// <param name="onStep">Called after each step with (step, x) — for trajectories and progress.</param>
    public Tensor Sample(int[] shape, int steps, Generator gen, Action<int, Tensor>? onStep = null)
    {
        using var _ = Autograd.NoGrad();
        var x = Tensor.Randn(shape, gen);
        float dt = 1f / steps;
        for (int i = 0; i < steps; i++)
        {
            using var scope = TensorScope.Begin();           // this step's temporaries go back to the pool
            var t = Tensor.Full([shape[0]], i * dt);
            x = scope.Keep(x + velocity(x, t) * dt);
            onStep?.Invoke(i + 1, x);
        }
        return x;
    }

    static int[] BroadcastShape(int batch, int rank)
    {
        var s = Enumerable.Repeat(1, rank).ToArray();
        s[0] = batch;
        return s;
    }
}
