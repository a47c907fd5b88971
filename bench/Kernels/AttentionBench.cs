// AttentionBench.cs — times each attention kernel version (kernels/Cpu/Attention) on the K4 shapes of
// shared/bench/WORKLOADS.md, forward and forward+backward, with GFLOP/s beside the time.
// FLOPs: forward 4·B·h·T²·d (Q·Kᵀ and P·V), halved for causal; forward+backward 3× that (the backward's
// four products dV, dP, dQ, dK; FlashAttention's recomputation of S is work it chooses, not counted).
// Every version is checked against V0 in GlobalSetup before it is timed (on the first (b, h) problem
// for the T = 1024 shape, where V0 on all 64 problems would take minutes). V0 is timed only on the
// small shapes. Peak for comparison (docs/MACHINE.md): 225 GFLOP/s one core, 445 two.
// Run: dotnet run -c Release --project bench -- --filter '*AttentionBench*'
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Denoise.Kernels.Cpu;

namespace Denoise.Bench;

[Config(typeof(AttentionBenchConfig))]
public class AttentionBench
{
    public static readonly (int B, int H, int T, int D, bool Causal)[] Shapes =
        [(64, 4, 49, 32, false), (32, 4, 128, 32, false), (8, 8, 1024, 64, true)];

    /// <summary>"V1Flash 8x8x1024x64/causal fwdbwd" etc.: only the combinations worth timing.</summary>
    public static IEnumerable<string> Cases()
    {
        foreach (var v in new[] { AttentionVersion.V0Reference, AttentionVersion.V1Flash })
            foreach (var s in Shapes)
                foreach (var pass in new[] { "fwd", "fwdbwd" })
                    if (v != AttentionVersion.V0Reference || s.T < 1024)
                        yield return $"{v} {s.B}x{s.H}x{s.T}x{s.D}{(s.Causal ? "/causal" : "")} {pass}";
    }

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "";

    AttentionVersion version;
    bool backward;
    AttentionShape s;
    AttentionLayout l;
    float[] q = [], k = [], v = [], o = [], lse = [], dO = [], dq = [], dk = [], dv = [];

    [GlobalSetup]
    public void Setup()
    {
        var parts = Case.Split(' ');
        version = Enum.Parse<AttentionVersion>(parts[0]);
        backward = parts[2] == "fwdbwd";
        var sh = Shapes.Single(x => parts[1].StartsWith($"{x.B}x{x.H}x{x.T}x{x.D}"));
        s = new AttentionShape(sh.B, sh.H, sh.T, sh.T, sh.D, sh.D, 1f / MathF.Sqrt(sh.D), sh.Causal);
        l = AttentionLayout.Contiguous(sh.H, sh.T, sh.D);
        int n = sh.B * sh.H * sh.T * sh.D;
        var rng = new Random(42);
        float[] R() => Enumerable.Range(0, n).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        (q, k, v, dO) = (R(), R(), R(), R());
        (o, dq, dk, dv, lse) = (new float[n], new float[n], new float[n], new float[n], new float[sh.B * sh.H * sh.T]);
        Check(sh);
    }

    /// <summary>This version against V0 on the first (b, h) problem: outputs to 1e-4 relative.</summary>
    void Check((int B, int H, int T, int D, bool Causal) sh)
    {
        var one = s with { B = 1, H = 1 };
        var l1 = AttentionLayout.Contiguous(1, sh.T, sh.D);
        int n = sh.T * sh.D;
        float[] Run(AttentionVersion ver)
        {
            float[] oo = new float[n], ll = new float[sh.T], gq = new float[n], gk = new float[n], gv = new float[n];
            Attention.Forward(ver, q, l1, k, l1, v, l1, oo, ll, one);
            Attention.Backward(ver, q, l1, k, l1, v, l1, oo, ll, dO, l1, gq, gk, gv, one);
            return [.. oo, .. gq, .. gk, .. gv];
        }
        float[] want = Run(AttentionVersion.V0Reference), got = Run(version);
        for (int i = 0; i < want.Length; i++)
            if (!(Math.Abs(got[i] - want[i]) <= 1e-4 * (1 + Math.Abs(want[i]))))
                throw new InvalidOperationException($"{Case}: element {i} is {got[i]}, V0 gives {want[i]}");
    }

    [Benchmark]
    public void Attention_()
    {
        Attention.Forward(version, q, l, k, l, v, l, o, lse, s);
        if (backward) Attention.Backward(version, q, l, k, l, v, l, o, lse, dO, l, dq, dk, dv, s);
    }

    public static double? Flops(string c)
    {
        var parts = c.Split(' ');
        var sh = Shapes.Single(x => parts[1].StartsWith($"{x.B}x{x.H}x{x.T}x{x.D}"));
        double fwd = 4.0 * sh.B * sh.H * sh.T * sh.T * sh.D * (sh.Causal ? 0.5 : 1.0);
        return parts[2] == "fwdbwd" ? 3 * fwd : fwd;
    }
}

public class AttentionBenchConfig : ManualConfig
{
    public AttentionBenchConfig()
    {
        AddColumn(new GflopsColumn(
            c => c.Parameters["Case"] is string s ? AttentionBench.Flops(s) : null,
            "forward 4·B·h·T²·d (halved when causal), forward+backward 3× that; ×1e9 per second"));
        SummaryStyle = SummaryStyle.Default.WithMaxParameterColumnWidth(40);   // case names are ~35 characters
    }
}
