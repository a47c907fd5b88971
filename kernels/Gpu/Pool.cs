// Pool.cs — average pooling (fixed and adaptive windows) and its adjoint on the GPU, over the window
// tables engine/NN/Functional.Index.cs builds (PoolWindows: per output row i the input rows
// [Hs[i], He[i]) and a scale, per output column j the columns [Ws[j], We[j]) and a scale):
//   y[p, i, j] = RowScale[i]·ColScale[j]·Σ_{h ∈ [Hs[i], He[i]), w ∈ [Ws[j], We[j])} x[p, h, w]
// The adjoint is a gather (one thread per input element, summing the outputs whose windows cover it,
// in (i, j) order — the CPU's order of additions): no atomics, deterministic.
// Window tables travel as one Int32 view [Hs | He | Ws | We] and one float view [RowScale | ColScale].
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>planes = N·C images of H×W pooled to Ho×Wo.</summary>
public readonly struct PoolShape(int planes, int h, int w, int ho, int wo)
{
    public readonly int Planes = planes, H = h, W = w, Ho = ho, Wo = wo;
}

public static class Pool
{
    public static void AvgForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<int> win, ArrayView<float> scale, PoolShape s)
    {
        int plane = s.Ho * s.Wo, n = s.Planes * plane, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int p = e / plane, rest = e - p * plane, i = rest / s.Wo, j = rest - i * s.Wo;
            int h0 = win[i], h1 = win[s.Ho + i], w0 = win[2 * s.Ho + j], w1 = win[2 * s.Ho + s.Wo + j];
            int basePix = p * s.H * s.W;
            float sum = 0f;
            for (int h = h0; h < h1; h++)
                for (int w = w0; w < w1; w++) sum += x[basePix + h * s.W + w];
            y[e] = sum * scale[i] * scale[s.Ho + j];
        }
    }

    public static void AvgAdjointKernel(ArrayView<float> g, ArrayView<float> dx, ArrayView<int> win, ArrayView<float> scale, PoolShape s)
    {
        int planeIn = s.H * s.W, n = s.Planes * planeIn, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int p = e / planeIn, rest = e - p * planeIn, h = rest / s.W, w = rest - h * s.W;
            int gBase = p * s.Ho * s.Wo;
            float acc = 0f;
            for (int i = 0; i < s.Ho; i++)
            {
                if (h < win[i] || h >= win[s.Ho + i]) continue;
                for (int j = 0; j < s.Wo; j++)
                    if (w >= win[2 * s.Ho + j] && w < win[2 * s.Ho + s.Wo + j])
                        acc += g[gBase + i * s.Wo + j] * scale[i] * scale[s.Ho + j];
            }
            dx[e] = acc;
        }
    }

    /// <summary>Max pooling with the flat in-plane position of the chosen input (first maximum; a NaN wins and stops the scan, as on the CPU).</summary>
    public static void MaxForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<int> at, ArrayView<int> win, PoolShape s)
    {
        int plane = s.Ho * s.Wo, n = s.Planes * plane, stride = Grid.DimX * Group.DimX;
        for (int e = Grid.GlobalIndex.X; e < n; e += stride)
        {
            int p = e / plane, rest = e - p * plane, i = rest / s.Wo, j = rest - i * s.Wo;
            int h0 = win[i], h1 = win[s.Ho + i], w0 = win[2 * s.Ho + j], w1 = win[2 * s.Ho + s.Wo + j];
            int basePix = p * s.H * s.W, best = h0 * s.W + w0;
            float bestV = float.NegativeInfinity;
            bool nan = false;
            for (int h = h0; h < h1 && !nan; h++)
                for (int w = w0; w < w1 && !nan; w++)
                {
                    float v = x[basePix + h * s.W + w];
#pragma warning disable CS1718   // v != v is the NaN test (a NaN wins the max, as on the CPU); it compiles to one compare on every backend
                    if (v > bestV || v != v) { bestV = v; best = h * s.W + w; nan = v != v; }
#pragma warning restore CS1718
                }
            y[e] = bestV;
            at[e] = best;
        }
    }

    public static void MaxForward(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, ArrayView<int> at, ArrayView<int> win, PoolShape s)
    {
        Check("MaxForward", x.Length, Math.Min(y.Length, at.Length), win.Length, s.Ho + s.Wo, s);
        long n = (long)s.Planes * s.Ho * s.Wo;
        if (n == 0) return;
        gpu.Kernels.Get("Pool.MaxForward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, PoolShape>(MaxForwardKernel))
            (gpu.StreamConfig(n), x, y, at, win, s);
    }

    static void Check(string what, long input, long output, long win, long scale, PoolShape s)
    {
        if (input < (long)s.Planes * s.H * s.W || output < (long)s.Planes * s.Ho * s.Wo || win < 2L * (s.Ho + s.Wo) || scale < s.Ho + s.Wo)
            throw new ArgumentException($"Gpu.Pool.{what}: views (in {input}, out {output}, windows {win}, scales {scale}) do not fit {s.Planes} planes {s.H}×{s.W} → {s.Ho}×{s.Wo}.");
    }

    public static void AvgForward(GpuContext gpu, ArrayView<float> x, ArrayView<float> y, ArrayView<int> win, ArrayView<float> scale, PoolShape s)
    {
        Check("AvgForward", x.Length, y.Length, win.Length, scale.Length, s);
        long n = (long)s.Planes * s.Ho * s.Wo;
        if (n == 0) return;
        gpu.Kernels.Get("Pool.AvgForward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolShape>(AvgForwardKernel))
            (gpu.StreamConfig(n), x, y, win, scale, s);
    }

    public static void AvgAdjoint(GpuContext gpu, ArrayView<float> g, ArrayView<float> dx, ArrayView<int> win, ArrayView<float> scale, PoolShape s)
    {
        Check("AvgAdjoint", dx.Length, g.Length, win.Length, scale.Length, s);
        long n = (long)s.Planes * s.H * s.W;
        if (n == 0) return;
        gpu.Kernels.Get("Pool.AvgAdjoint", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolShape>(AvgAdjointKernel))
            (gpu.StreamConfig(n), g, dx, win, scale, s);
    }
}
