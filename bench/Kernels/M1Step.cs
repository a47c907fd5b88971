// M1Step.cs — the WORKLOADS M1 training step (UNet-S, B = 64, DDPM ε-loss, AdamW) timed and
// profiled per op, the same step as `examples/Diffusion -- --time-step`.
//   wall ms: min and median of the timed steps (the machine is shared: trust the min, and compare
//            versions run in the same session);
//   cpu ms:  process CPU time per step (both cores; less sensitive to other users than wall time);
//   fresh pool MB / managed MB per step: memory first touched in a steady-state step (should be ~0).
// --profile runs extra steps with Denoise.Diagnostics.OpProfiler on and prints its table.
// --cpu-time (with --threads 1) charges the profile in thread CPU time: robust on a loaded machine.
// Run: dotnet run -c Release --project bench -- m1 [--steps 10] [--profile [--cpu-time]] [--top 25] [--threads 1]
using System.Diagnostics;
using Denoise.Diagnostics;
using Denoise.Kernels.Cpu;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Optim;

namespace Denoise.Bench;

public static class M1Step
{
    public static int Run(string[] args)
    {
        int Arg(string name, int def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def; }
        int steps = Arg("--steps", 10), top = Arg("--top", 25), threads = Arg("--threads", Environment.ProcessorCount);
        WorkerPool.Threads = threads; Gemm.MaxThreads = threads;

        var g = new Generator(0);
        var unet = new UNet(UNetConfig.M1(), g);
        var model = new Ddpm(unet, new DdpmConfig(LabelDropout: 0f));
        var opt = new AdamW(unet.Parameters(), lr: 2e-4f, weightDecay: 0f);
        var x = Tensor.Randn([64, 1, 28, 28], g);
        float lastLoss = 0;
        void Step()
        {
            using var scope = TensorScope.Begin();
            OpProfiler.Mark();
            var loss = model.Loss(x, g);
            opt.ZeroGrad();
            loss.Backward();
            using (OpProfiler.Section("(optimizer: AdamW step)")) opt.Step();
            lastLoss = loss.Item();
        }

        for (int i = 0; i < 2; i++) Step();                                  // JIT, pool, workers
        long fresh0 = CpuPool.Floats.AllocatedBytes, managed0 = GC.GetTotalAllocatedBytes(precise: true);
        var (wall, cpu) = StepTimer.Measure(Step, steps);
        double freshMb = (CpuPool.Floats.AllocatedBytes - fresh0) / 1e6 / steps;
        double managedMb = (GC.GetTotalAllocatedBytes(precise: true) - managed0) / 1e6 / steps;
        Console.WriteLine($"M1 step B=64 ({unet.ParameterCount():N0} params, {threads} threads, {steps} steps): wall min {wall[0]:F0} ms, " +
            $"median {wall[steps / 2]:F0} ms; cpu min {cpu[0]:F0}, median {cpu[steps / 2]:F0} ms; fresh pool {freshMb:F1} MB/step, " +
            $"managed {managedMb:F1} MB/step; loss {lastLoss:F4}");

        if (args.Contains("--profile"))
        {
            int profSteps = Math.Max(1, Arg("--profile-steps", 3));
            OpProfiler.Enabled = true;
            OpProfiler.ThreadCpuTime = args.Contains("--cpu-time") && OperatingSystem.IsLinux();   // with --threads 1: the work itself
            OpProfiler.Reset();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < profSteps; i++) Step();
            double ms = sw.Elapsed.TotalMilliseconds / profSteps;
            OpProfiler.Enabled = false;
            Console.WriteLine($"\nOp profile{(OpProfiler.ThreadCpuTime ? " in thread CPU time" : "")}, mean of {profSteps} steps (wall {ms:F0} ms/step while profiling):");
            Console.Write(OpProfiler.Report(top, profSteps));
        }
        return 0;
    }
}
