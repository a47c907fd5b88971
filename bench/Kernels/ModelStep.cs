// ModelStep.cs — the WORKLOADS M2 (MLP-2D flow-matching step, B = 512, Adam) and M3 (GPT-char, B = 32,
// T = 128, AdamW) training steps, the same steps as bench `workloads --only M2,M3`, timed in wall and
// process CPU time and profiled per op with Denoise.Diagnostics.OpProfiler.
//   cpu ms: process CPU time per step; with --threads 1 it is the work itself, steady on a loaded machine.
// The profiler charges the time since the previous Record to the op now recording; this bench marks the
// clock right after ZeroGrad, so the first op of the forward is charged only its own work.
// Run: dotnet run -c Release --project bench -- step m2|m3 [--steps 20] [--profile [--cpu-time]] [--top 25] [--threads 1] [--gemm V2Packed]
using System.Diagnostics;
using Denoise.Diagnostics;
using Denoise.Kernels.Cpu;
using Denoise.Bench.Networks;
using Denoise.Models.Common;
using Denoise.Optim;

namespace Denoise.Bench;

public static class ModelStep
{
    public static int Run(string[] args)
    {
        int Arg(string name, int def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def; }
        string model = args.Length > 0 ? args[0] : "m2";
        int steps = Arg("--steps", 20), top = Arg("--top", 25), threads = Arg("--threads", Environment.ProcessorCount);
        WorkerPool.Threads = threads; Gemm.MaxThreads = threads;
        int gi = Array.IndexOf(args, "--gemm");
        if (gi >= 0) Gemm.Current = Enum.Parse<GemmVersion>(args[gi + 1]);
        Action step = model switch
        {
            "m2" => M2(),
            "m3" => M3(),
            _ => throw new ArgumentException($"step: unknown model '{model}' (m2 or m3)"),
        };

        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || (warm.Elapsed.TotalSeconds < 1.0 && i < 300); i++) step();   // past tier-0 JIT
        var (wall, cpu) = StepTimer.Measure(step, steps);
        Console.WriteLine($"{model} step (GEMM {Gemm.Current}, {threads} threads, {steps} steps): wall min {wall[0]:F2} ms, median {wall[steps / 2]:F2} ms; " +
            $"cpu min {cpu[0]:F2}, median {cpu[steps / 2]:F2} ms");
        if (args.Contains("--profile"))
        {
            int profSteps = Math.Max(1, Arg("--profile-steps", 10));
            OpProfiler.Enabled = true;
            OpProfiler.ThreadCpuTime = args.Contains("--cpu-time") && OperatingSystem.IsLinux();
            OpProfiler.Reset();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < profSteps; i++) step();
            double ms = sw.Elapsed.TotalMilliseconds / profSteps;
            OpProfiler.Enabled = false;
            Console.WriteLine($"\nOp profile{(OpProfiler.ThreadCpuTime ? " in thread CPU time" : "")}, mean of {profSteps} steps (wall {ms:F2} ms/step while profiling):");
            Console.Write(OpProfiler.Report(top, profSteps));
        }
        return 0;
    }

    static Action M2()
    {
        var net = new Mlp2D(gen: new Generator(40));
        var opt = new Adam(net.Parameters(), lr: 1e-3f);
        const int B = 512;
        var x = Tensor.Randn([B, 2], new Generator(41));
        var t = Tensor.Rand([B], new Generator(42));
        var target = Tensor.Randn([B, 2], new Generator(43));
        return () =>
        {
            using var s = TensorScope.Begin();
            using (OpProfiler.Section("(zero grad)")) opt.ZeroGrad();
            F.MseLoss(net.Forward(x, t), target).Backward();
            using (OpProfiler.Section("(optimizer: Adam)")) opt.Step();
        };
    }

    static Action M3()
    {
        var net = new GptChar(gen: new Generator(50));
        var opt = new AdamW(net.Parameters(), lr: 3e-4f, weightDecay: 0.1f);
        const int B = 32;
        int T = net.Config.Context, V = net.Config.Vocab;
        var ids = Tensor.Randint(0, V, [B, T], new Generator(51));
        var targets = Tensor.Randint(0, V, [B * T], new Generator(52));
        return () =>
        {
            using var s = TensorScope.Begin();
            using (OpProfiler.Section("(zero grad)")) opt.ZeroGrad();
            F.CrossEntropy(net.Forward(ids).Reshape(B * T, V), targets).Backward();
            using (OpProfiler.Section("(optimizer: AdamW)")) opt.Step();
        };
    }
}
