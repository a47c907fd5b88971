// ReduceTests.cs — Gpu.Reduce.RowSum against a double-precision loop. The tree adds in a different
// order than a sequential sum: the 1e-5 relative tolerance covers float rounding over ≤ 300 terms.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Reduce
using Denoise.Kernels.Gpu;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;

namespace Denoise.Tests.Gpu;

[TestFixture]
public class ReduceTests
{
    [TestCaseSource(typeof(GpuDevices), nameof(GpuDevices.Kinds))]
    public void RowSum_MatchesDoubleSums_OnTileEdgeShapes(string kind)
    {
        var gpu = GpuDevices.Get(kind);
        foreach (var (rows, cols) in new[] { (1, 1), (3, 15), (5, 17), (2, 33), (4, 300) })
        {
            var x = GpuDevices.Rand(rows * 31 + cols, rows * cols);
            using var dx = gpu.Accelerator.Allocate1D(x);
            using var dy = gpu.Accelerator.Allocate1D<float>(rows);
            Reduce.RowSum(gpu, dx.View, dy.View, rows, cols);
            var y = dy.GetAsArray1D();
            for (int r = 0; r < rows; r++)
            {
                double s = 0;
                for (int c = 0; c < cols; c++) s += x[r * cols + c];
                Assert.That(y[r], Is.EqualTo(s).Within(1e-5 * Math.Max(1, Math.Abs(s)) + 1e-6), $"row {r} of {rows}×{cols}");
            }
        }
    }
}
