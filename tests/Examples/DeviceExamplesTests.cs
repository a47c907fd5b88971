// DeviceExamplesTests.cs — the example programs honour --device: each runs a tiny config (2 training
// steps, a handful of samples) with `--device ilgpu-cpu` (ILGPU's CPU accelerator running the GPU
// kernels), finishes with exit code 0, and — while it trains and samples — no op falls back to the host
// (DeviceFallbacks), except the ones listed per program with the reason.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Examples.DeviceExamples
using Denoise.Examples;
using NUnit.Framework;

namespace Denoise.Tests.Examples;

[NonParallelizable]   // DeviceFallbacks is process-wide
public class DeviceExamplesTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-device-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static void RunsOnDevice(string program, Func<string[], TextWriter, TextWriter, int> run, string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var memory = Device.IlgpuCpu.Memory;
        long rentsBefore = memory.Hits + memory.DeviceAllocations;
        DeviceFallbacks.Reset();
        int exit = run([.. args, "--device", "ilgpu-cpu"], o, e);
        Assert.That(exit, Is.Zero, $"{program} exit code; stderr: {e}\nstdout: {o}");
        // The run really used the device: it rented device memory (zero fallbacks alone would also hold on the CPU).
        Assert.That(memory.Hits + memory.DeviceAllocations - rentsBefore, Is.GreaterThan(100), program + ": device buffers rented");
        Assert.That(DeviceFallbacks.Total, Is.Zero, $"{program}: {DeviceFallbacks.Report()}");
    }

    [TestCase("flow")]
    [TestCase("ddim")]
    [TestCase("reflow")]
    public void Toy2D_RunsOnTheDevice_WithoutHostFallbacks(string method) =>
        RunsOnDevice("toy2d " + method, (a, o, e) => Toy2DApp.Run(a, o, e),
            ["--method", method, "--steps", "2", "--batch-size", "8", "--samples", "16", "--sampling-steps", "2",
             "--reflow-pairs", "8", "--reflow-steps", "2", "--log-every", "1", "--checkpoint-every", "2", "--out", Path.Combine(dir, method)]);
}
