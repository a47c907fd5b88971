// Benchmarks.
//   dotnet run -c Release --project bench -- workloads [--only M2,K1] [--quick]   the WORKLOADS runner (one JSON object)
//   dotnet run -c Release --project bench -- compare [--quick]                      kernel versions side by side (Kernels/KernelCompare.cs)
//   dotnet run -c Release --project bench -- --filter '*GemmBench*'              BenchmarkDotNet microbenchmarks
using BenchmarkDotNet.Running;

namespace Denoise.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "workloads") return Workloads.Run(args[1..]);
        if (args.Length > 0 && args[0] == "compare") return KernelCompare.Run(args[1..]);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
