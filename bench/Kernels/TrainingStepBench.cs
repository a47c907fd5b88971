// TrainingStepBench.cs — one training step of each WORKLOADS model (M1 UNet-S, M2 MLP-2D, M3 GPT-char,
// M4 DCGAN-S) under BenchmarkDotNet with its memory diagnoser, so "bytes allocated per step" comes from
// BenchmarkDotNet's own accounting (GC allocations on every thread, Gen0/1/2 collections per 1000 steps),
// not ours. The step is the WORKLOADS runner's (Workloads.TrainingStep: same network, optimizer and fixed
// data, one TensorScope per step), so a steady state allocates only the tape's small managed objects:
// tensor storage comes back from the pool (the runner's "pool_new_kb" shows 0 fresh tensor memory).
// Run: dotnet run -c Release --project bench -- --filter '*TrainingStepBench*'
//      (add --job short for a quicker, rougher run; M1 is ~0.4 s a step on 2 cores)
using BenchmarkDotNet.Attributes;

namespace Denoise.Bench;

[MemoryDiagnoser]
public class TrainingStepBench
{
    [Params("M1", "M2", "M3", "M4")]
    public string Model { get; set; } = "M2";

    Action step = () => { };

    [GlobalSetup]
    public void Setup() => step = Workloads.TrainingStep(Model).Step;

    /// <summary>Forward, loss, backward and optimizer update.</summary>
    [Benchmark]
    public void Step() => step();
}
