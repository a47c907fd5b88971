// ConvBench.cs — times F.Conv2d (im2col + GEMM, engine/Ops/ConvKernels.cs) at the WORKLOADS K2
// shape (N, Cin, H, W) = (64, 32, 28, 28) → Cout = 32, 3×3, stride 1, pad 1, bias: forward, and
// forward + backward (dX, dW, db). Each iteration runs inside a TensorScope, as a training step
// does, so pooled buffers are reused and nothing leaks between iterations. GlobalSetup checks one
// image of the output against a direct double-precision convolution before anything is timed.
// GFLOP/s counts 2·N·Cout·Hout·Wout·Cin·kH·kW per convolution (forward 1×, forward+backward 3×).
// Run (with a BenchmarkSwitcher in bench/Program.cs):
//   dotnet run -c Release --project bench -- --filter '*ConvBench*'
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Denoise.Bench;

[Config(typeof(ConvBenchConfig))]
public class ConvBench
{
    // K2 "(64,32,28,28,32)"; the other K2 shapes can be added here as "N,Cin,H,W,Cout".
    [Params("64,32,28,28,32")]
    public string Shape { get; set; } = "64,32,28,28,32";

    internal const int K = 3;
    Tensor x = null!, w = null!, b = null!, xg = null!;

    [GlobalSetup]
    public void Setup()
    {
        var d = Shape.Split(',').Select(int.Parse).ToArray();
        int N = d[0], Cin = d[1], H = d[2], W = d[3], Cout = d[4];
        var gen = new Generator(42);
        x = Tensor.Randn([N, Cin, H, W], gen);
        w = Tensor.Randn([Cout, Cin, K, K], gen) * (1f / MathF.Sqrt(Cin * K * K));
        b = Tensor.Randn([Cout], gen);
        xg = x.Detach().RequiresGrad_();
        w.RequiresGrad_(); b.RequiresGrad_();

        // Check image 0 against a direct convolution (float32 sums of Cin·9 terms: 1e-3 is generous).
        float[] y = F.Conv2d(x, w, b, padding: 1).ToArray(), xa = x.ToArray(), wa = w.ToArray(), ba = b.ToArray();
        double worst = 0;
        for (int f = 0; f < Cout; f++)
            for (int oh = 0; oh < H; oh++)
                for (int ow = 0; ow < W; ow++)
                {
                    double s = ba[f];
                    for (int c = 0; c < Cin; c++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++)
                            {
                                int ih = oh - 1 + ki, iw = ow - 1 + kj;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    s += (double)xa[(c * H + ih) * W + iw] * wa[((f * Cin + c) * K + ki) * K + kj];
                            }
                    worst = Math.Max(worst, Math.Abs(s - y[(f * H + oh) * W + ow]));
                }
        if (!(worst <= 1e-3)) throw new InvalidOperationException($"ConvBench {Shape}: max |y − reference| = {worst}");
    }

    [Benchmark]
    public void Forward()
    {
        using var scope = TensorScope.Begin();
        using (Autograd.NoGrad()) F.Conv2d(x, w, b, padding: 1);
    }

    [Benchmark]
    public void ForwardBackward()
    {
        using var scope = TensorScope.Begin();
        // .Grad is persistent and accumulated in place; zeroing keeps every iteration the same work.
        xg.Grad?.ZeroInPlace(); w.Grad?.ZeroInPlace(); b.Grad?.ZeroInPlace();
        F.Conv2d(xg, w, b, padding: 1).Sum().Backward();
    }
}

public class ConvBenchConfig : ManualConfig
{
    /// <summary>2·N·Cout·H·W·Cin·9 per convolution (same-size output); forward+backward counts 3 convolutions.</summary>
    public ConvBenchConfig() => AddColumn(new GflopsColumn(c =>
    {
        if (c.Parameters["Shape"] is not string shape) return null;
        var d = shape.Split(',').Select(double.Parse).ToArray();
        double flops = 2.0 * d[0] * d[4] * d[2] * d[3] * d[1] * ConvBench.K * ConvBench.K;
        return c.Descriptor.WorkloadMethod.Name == nameof(ConvBench.ForwardBackward) ? 3 * flops : flops;
    }, "convolution multiply-adds ×2 per second, ×1e9 (forward+backward counts 3 convolutions)"));
}
