// NormBench.cs — times each version of the norm and softmax kernels (kernels/Cpu/Norm: GroupNorm,
// LayerNorm, Softmax) on the shapes the reference workloads run them at, and reports the bandwidth
// beside the time: bytes that must cross memory (x read + y written forward; x or y, dy read and dx
// written backward) per second. Measured limits (shared/docs/MACHINE.md): ~45 GB/s one core, ~86 two.
// Every version is checked against V0Reference in GlobalSetup before it is timed.
//   GroupNormSiLU  K3 (64, 64, 14·14), 8 groups, affine, fused SiLU
//   LayerNorm      M3's pre-LN rows: (32·128, 128), affine
//   Softmax        M3's attention rows: (32·4·128, 128)
//   LogSoftmax     M3's cross-entropy rows: (32·128, 96)
// Run: dotnet run -c Release --project bench -- --filter '*NormBench*'
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

[Config(typeof(NormBenchConfig))]
public class NormBench
{
    public enum Kernel { GroupNormSiLU, LayerNorm, Softmax, LogSoftmax }

    [Params(NormVersion.V0Reference, NormVersion.V1Fused)]
    public NormVersion Version { get; set; }

    [ParamsAllValues]
    public Kernel Op { get; set; }

    [ParamsAllValues]
    public bool Backward { get; set; }

    GroupNormShape gn;
    int rows, width;
    float[] x = [], dy = [], y = [], dx = [], gamma = [], beta = [], dgamma = [], dbeta = [], mean = [], rstd = [];

    internal static (int Rows, int Width) ShapeOf(Kernel k) => k switch
    {
        Kernel.GroupNormSiLU => (64, 64 * 196),
        Kernel.LayerNorm => (32 * 128, 128),
        Kernel.Softmax => (32 * 4 * 128, 128),
        _ => (32 * 128, 96),
    };

    [GlobalSetup]
    public void Setup()
    {
        (rows, width) = ShapeOf(Op);
        int n = rows * width, C = Op == Kernel.GroupNormSiLU ? 64 : width;
        gn = new GroupNormShape(64, 64, 196, 8, 1e-5f, SiLU: true);
        var rng = new Random(7);
        float[] R(int len, float scale) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale; return a; }
        x = R(n, 3f); dy = R(n, 1f); gamma = R(C, 1f); beta = R(C, 0.5f);
        y = new float[n]; dx = new float[n]; dgamma = new float[C]; dbeta = new float[C];
        mean = new float[Math.Max(rows, 64 * 8)]; rstd = new float[mean.Length];

        // Check this version against V0 (forward, then backward from V0's saved statistics / output).
        var v = Version;
        Run(NormVersion.V0Reference, backward: false); var y0 = (float[])y.Clone();
        Run(NormVersion.V0Reference, backward: true); var dx0 = (float[])dx.Clone();
        Version = v;
        Run(Version, backward: false); Check(y, y0, "y");
        Run(Version, backward: true); Check(dx, dx0, "dx");
    }

    void Check(float[] got, float[] want, string what)
    {
        double worst = 0;
        for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - want[i]) / (1 + Math.Abs(want[i])));
        if (!(worst <= 1e-4)) throw new InvalidOperationException($"{Version} {Op}: max relative |{what} − {what}_V0| = {worst} > 1e-4");
    }

    void Run(NormVersion v, bool backward)
    {
        switch (Op)
        {
            case Kernel.GroupNormSiLU:
                if (!backward) GroupNorm.Forward(v, x, gamma, beta, y, mean, rstd, gn);
                else GroupNorm.Backward(v, x, dy, gamma, beta, mean, rstd, dx, dgamma, dbeta, gn);
                break;
            case Kernel.LayerNorm:
                if (!backward) LayerNorm.Forward(v, x, gamma, beta, y, mean, rstd, width, 1e-5f);
                else LayerNorm.Backward(v, x, dy, gamma, mean, rstd, dx, dgamma, dbeta, width);
                break;
            default:
                bool log = Op == Kernel.LogSoftmax;
                if (!backward) Softmax.Forward(v, x, y, width, log);
                else Softmax.Backward(v, y, dy, dx, width, log);
                break;
        }
    }

    /// <summary>The forward, or the backward from the statistics / output the setup's forward left.</summary>
    [Benchmark]
    public void Call() => Run(Version, Backward);
}

public class NormBenchConfig : ManualConfig
{
    public NormBenchConfig() => AddColumn(new GflopsColumn(c =>
        {
            if (c.Parameters["Op"] is not NormBench.Kernel k || c.Parameters["Backward"] is not bool bwd) return null;
            var (rows, width) = NormBench.ShapeOf(k);
            return (bwd ? 3.0 : 2.0) * 4 * rows * width;
        }, "bytes of x/y/dy/dx that must cross memory, ×1e9 per second", "GB/s"));
}
