// ConvVersionsBench.cs — each Conv2d version (kernels/Cpu/Conv: V1Chunked, V2Batched, V3Implicit, V4Shaped)
// per map (forward, input-grad, weight-grad) on the four WORKLOADS K2 shapes (3×3, stride 1, pad 1)
// and the M4 DCGAN-S discriminator conv (4×4, stride 2, pad 1, 64 → 128 at 14 × 14; its input-grad is
// also the generator's transposed convolution), and the 1 → 64 conv whose input-grad is M4's last
// transposed convolution (64 → 1, 4×4 s2 p1; V4's thin tile). GFLOP/s counts 2·MACs per map. Every version's three
// maps are checked against V0PerImage on the first two images' worth of the problem (N = 2) in
// GlobalSetup before anything is timed (tolerance: 1e-5 per summed term, as tests/Kernels/Conv2dTests).
// Run: dotnet run -c Release --project bench -- --filter '*ConvVersionsBench*'
//      (the quick interleaved view of the same ladder over M1's convolutions: bench -- m1conv)
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

[Config(typeof(ConvVersionsBenchConfig))]
public class ConvVersionsBench
{
    [Params(Conv2dVersion.V1Chunked, Conv2dVersion.V2Batched, Conv2dVersion.V3Implicit, Conv2dVersion.V4Shaped, Conv2dVersion.V5Pixels, Conv2dVersion.V6Stem, Conv2dVersion.V7, Conv2dVersion.V8Winograd)]
    public Conv2dVersion Version { get; set; }

    /// <summary>"N,Cin,H,W,Cout,k,stride,pad".</summary>
    [Params("64,1,28,28,32,3,1,1", "64,32,28,28,32,3,1,1", "64,64,14,14,64,3,1,1", "64,128,7,7,128,3,1,1", "64,64,14,14,128,4,2,1",
        "64,1,28,28,64,4,2,1")]
    public string Shape { get; set; } = "64,32,28,28,32,3,1,1";

    Conv2dProblem p;
    float[] x = [], w = [], y = [], gy = [], dx = [], dw = [];

    internal static Conv2dProblem Parse(string shape, int? n = null)
    {
        var d = shape.Split(',').Select(int.Parse).ToArray();
        return new Conv2dProblem(n ?? d[0], new Conv2dGeometry(d[1], d[2], d[3], d[5], d[5], d[6], d[6], d[7], d[7]), d[4]);
    }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        float[] R(long n) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = rng.NextSingle() * 2 - 1; return a; }
        var small = Parse(Shape, 2);
        float[] xs = R(small.InputLength), ws = R(small.WeightLength), gs = R(small.OutputLength);
        Check(small, xs, ws, gs);
        p = Parse(Shape);
        x = R(p.InputLength); w = R(p.WeightLength); gy = R(p.OutputLength);
        y = new float[p.OutputLength]; dx = new float[p.InputLength]; dw = new float[p.WeightLength];
    }

    void Check(Conv2dProblem s, float[] xs, float[] ws, float[] gs)
    {
        float[] y0 = new float[s.OutputLength], y1 = new float[s.OutputLength], dx0 = new float[s.InputLength], dx1 = new float[s.InputLength];
        float[] dw0 = new float[s.WeightLength], dw1 = new float[s.WeightLength];
        Conv2d.Forward(Conv2dVersion.V0PerImage, xs, ws, y0, s); Conv2d.Forward(Version, xs, ws, y1, s);
        Conv2d.InputGrad(Conv2dVersion.V0PerImage, gs, ws, dx0, s); Conv2d.InputGrad(Version, gs, ws, dx1, s);
        Conv2d.WeightGrad(Conv2dVersion.V0PerImage, xs, gs, dw0, s); Conv2d.WeightGrad(Version, xs, gs, dw1, s);
        void Cmp(string what, float[] a, float[] b, double tol)
        {
            for (int i = 0; i < a.Length; i++)
                if (!(Math.Abs(a[i] - b[i]) <= tol)) throw new InvalidOperationException($"{Version} {Shape} {what}[{i}] = {b[i]}, V0 {a[i]}");
        }
        Cmp("y", y0, y1, 1e-5 * (1 + s.KG));
        Cmp("dx", dx0, dx1, 1e-5 * (1 + s.Cout * s.Geo.KH * s.Geo.KW));
        Cmp("dw", dw0, dw1, 1e-5 * (1 + s.N * s.P));
    }

    [Benchmark] public void Forward() => Conv2d.Forward(Version, x, w, y, p);
    [Benchmark] public void InputGrad() => Conv2d.InputGrad(Version, gy, w, dx, p);
    [Benchmark] public void WeightGrad() => Conv2d.WeightGrad(Version, x, gy, dw, p);
}

public class ConvVersionsBenchConfig : ManualConfig
{
    public ConvVersionsBenchConfig() => AddColumn(new GflopsColumn(
        c => c.Parameters["Shape"] is string s ? 2.0 * ConvVersionsBench.Parse(s).Macs : null,
        "2·multiply-adds of one map per second, ×1e9"));
}
