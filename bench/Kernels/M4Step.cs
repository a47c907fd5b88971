// M4Step.cs — the WORKLOADS M4 training step (DCGAN-S, B = 64: one D update on real vs fake, one G
// update, non-saturating BCE, Adam), the same step as bench `workloads --only M4`, timed in process
// CPU time and profiled per op with Denoise.Diagnostics.OpProfiler, to find what besides the
// convolutions costs time (BatchNorm, LeakyReLU, BCE, Adam).
//   cpu ms: process CPU time per step; with --threads 1 it is the work itself, steady on a loaded machine.
// Run: dotnet run -c Release --project bench -- m4 [--steps 10] [--profile] [--top 30] [--threads 1]
using System.Diagnostics;
using Denoise.Diagnostics;
using Denoise.Kernels.Cpu;
using Denoise.Bench.Networks;
using Denoise.Optim;

namespace Denoise.Bench;

public static class M4Step
{
    public static int Run(string[] args)
    {
        int Arg(string name, int def) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : def; }
        int steps = Arg("--steps", 10), top = Arg("--top", 30), threads = Arg("--threads", Environment.ProcessorCount);
        WorkerPool.Threads = threads; Gemm.MaxThreads = threads;

        var G = new DcganGenerator(new Generator(60));
        var D = new DcganDiscriminator(new Generator(61));
        var optG = new Adam(G.Parameters(), lr: 2e-4f, beta1: 0.5f, beta2: 0.999f);
        var optD = new Adam(D.Parameters(), lr: 2e-4f, beta1: 0.5f, beta2: 0.999f);
        const int B = 64;
        var real = (Tensor.Rand([B, 1, 28, 28], new Generator(62)) * 2f - 1f).Detach();
        var ones = Tensor.Ones(B, 1);
        var zeros = Tensor.Zeros(B, 1);
        var zGen = new Generator(63);
        void Step()
        {
            using var s = TensorScope.Begin();
            OpProfiler.Mark();
            var fake = G.Forward(Tensor.Randn([B, DcganGenerator.ZDim], zGen));
            optD.ZeroGrad();
            var lossD = F.BinaryCrossEntropyWithLogits(D.Forward(real), ones)
                      + F.BinaryCrossEntropyWithLogits(D.Forward(fake.Detach()), zeros);
            lossD.Backward();
            using (OpProfiler.Section("(optimizer: Adam D)")) optD.Step();
            optG.ZeroGrad();
            F.BinaryCrossEntropyWithLogits(D.Forward(fake), ones).Backward();
            using (OpProfiler.Section("(optimizer: Adam G)")) optG.Step();
        }

        for (int i = 0; i < 2; i++) Step();
        var (wall, cpu) = StepTimer.Measure(Step, steps);
        Console.WriteLine($"M4 step B=64 ({threads} threads, {steps} steps): wall min {wall[0]:F1} ms, median {wall[steps / 2]:F1} ms; " +
            $"cpu min {cpu[0]:F1}, median {cpu[steps / 2]:F1} ms");
        if (args.Contains("--profile"))
        {
            int profSteps = Math.Max(1, Arg("--profile-steps", 5));
            OpProfiler.Enabled = true;
            OpProfiler.Reset();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < profSteps; i++) Step();
            double ms = sw.Elapsed.TotalMilliseconds / profSteps;
            OpProfiler.Enabled = false;
            Console.WriteLine($"\nOp profile, mean of {profSteps} steps (wall {ms:F1} ms/step while profiling):");
            Console.Write(OpProfiler.Report(top, profSteps));
        }
        return 0;
    }
}
