// Benchmarks.
//   dotnet run -c Release --project bench -- workloads [--only M2,K1] [--quick]   the WORKLOADS runner (one JSON object)
//   dotnet run -c Release --project bench -- peak                                  FP32 FMA peak (1, 2 threads) and triad bandwidth
//   dotnet run -c Release --project bench -- versions [--quick] [--conv]            kernel versions side by side (Kernels/KernelCompare.cs)
//   dotnet run -c Release --project bench -- m1 [--steps 10] [--profile]            M1 step, timed and profiled per op (Kernels/M1Step.cs)
//   dotnet run -c Release --project bench -- m1conv [--versions V1Chunked,...]      M1's convolutions per map and version (Kernels/ConvM1Compare.cs)
//   dotnet run -c Release --project bench -- m4 [--profile] [--threads 1]             M4 (DCGAN-S) step, CPU time and op profile (Kernels/M4Step.cs)
//   dotnet run -c Release --project bench -- gemm [--cpu-time] [--only k1|m2|m3]     GEMM versions on K1/M2/M3 shapes (Kernels/GemmCompare.cs)
//   dotnet run -c Release --project bench -- step m2|m3 [--profile] [--threads 1]    M2/M3 step, CPU time and op profile (Kernels/ModelStep.cs)
//   bench/compare.sh [--only K2,M3] [--quick]                                      Denoise vs the PyTorch peer, one table
//   dotnet run -c Release --project bench -- --filter '*GemmBench*'              BenchmarkDotNet microbenchmarks
//   dotnet run -c Release --project bench -- --filter '*TrainingStepBench*'     M1–M4 steps with BenchmarkDotNet's memory diagnoser (bytes/step)
using BenchmarkDotNet.Running;

namespace Denoise.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "workloads") return Workloads.Run(args[1..]);
        if (args.Length > 0 && args[0] == "peak") return Peak.Run(args[1..]);
        if (args.Length > 0 && args[0] == "versions") return KernelCompare.Run(args[1..]);
        if (args.Length > 0 && args[0] == "m1") return M1Step.Run(args[1..]);
        if (args.Length > 0 && args[0] == "m1conv") return ConvM1Compare.Run(args[1..]);
        if (args.Length > 0 && args[0] == "m4") return M4Step.Run(args[1..]);
        if (args.Length > 0 && args[0] == "gemm") return GemmCompare.Run(args[1..]);
        if (args.Length > 0 && args[0] == "step") return ModelStep.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
