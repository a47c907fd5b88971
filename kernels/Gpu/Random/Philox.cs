// Random/Philox.cs — the Philox4x32-10 streams of kernels/Random/Philox.cs as GPU kernels.
//
// Same mapping as the CPU (see that file's header): key = (lo32 seed, hi32 seed), counter =
// (lo32 c, hi32 c, 0, 0), element i of a fill with offset o is lane i % 4 of block o + i / 4.
// One thread computes one block and writes its four elements (the last block is cut short), so a
// fill with (seed, offset) gives exactly the CPU's numbers and the caller advances its offset by
// Philox.CountersUsed(n) either way.
//
// Parity: the bits (FillBits) and the uniforms are integer ops plus one exact multiply by 2^-24,
// so they are bit-identical on every backend. Normals go through log/sin/cos: bit-identical on
// ILGPU's CPU accelerator (it calls .NET's MathF), within a few ulp on CUDA, whose log/sin/cos
// are different (approximate) implementations.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Philox
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class PhiloxKernel
{
    // Constants of Salmon et al. 2011, as in kernels/Random/Philox.cs.
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;
    const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Philox4x32-10 of (seed, counter): the CPU's Block(ulong, ulong), round by round.</summary>
    static void Block(ulong seed, ulong counter, out uint x0, out uint x1, out uint x2, out uint x3)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        x0 = c0; x1 = c1; x2 = c2; x3 = c3;
    }

    static float ToUnit(uint u) => (u >> 8) * (1f / (1 << 24));

    /// <summary>Box–Muller exactly as the CPU writes it (u1 in (0, 1], so log never sees 0).</summary>
    static void BoxMuller(uint a, uint b, out float z0, out float z1)
    {
        float u1 = ((a >> 8) + 1) * (1f / (1 << 24));
        float u2 = (b >> 8) * (1f / (1 << 24));
        float r = MathF.Sqrt(-2f * MathF.Log(u1));
        float angle = 2f * MathF.PI * u2;
        z0 = r * MathF.Cos(angle);
        z1 = r * MathF.Sin(angle);
    }

    /// <summary>Writes the block's 4 values at 4·b … 4·b + 3, cut short at n.</summary>
    static void Put<T>(ArrayView<T> dst, long i, T a, T b, T c, T d) where T : unmanaged
    {
        long n = dst.Length;
        if (i + 4 <= n) { dst[i] = a; dst[i + 1] = b; dst[i + 2] = c; dst[i + 3] = d; return; }
        dst[i] = a;
        if (i + 1 < n) dst[i + 1] = b;
        if (i + 2 < n) dst[i + 2] = c;
    }

    // ---- kernels: grid-stride over blocks -----------------------------------------------------

    public static void BitsKernel(ArrayView<uint> dst, ulong seed, ulong offset)
    {
        long blocks = (dst.Length + 3) / 4, stride = (long)Grid.DimX * Group.DimX;
        for (long b = Grid.GlobalIndex.X; b < blocks; b += stride)
        {
            Block(seed, offset + (ulong)b, out uint x0, out uint x1, out uint x2, out uint x3);
            Put(dst, 4 * b, x0, x1, x2, x3);
        }
    }

    public static void UniformKernel(ArrayView<float> dst, ulong seed, ulong offset)
    {
        long blocks = (dst.Length + 3) / 4, stride = (long)Grid.DimX * Group.DimX;
        for (long b = Grid.GlobalIndex.X; b < blocks; b += stride)
        {
            Block(seed, offset + (ulong)b, out uint x0, out uint x1, out uint x2, out uint x3);
            Put(dst, 4 * b, ToUnit(x0), ToUnit(x1), ToUnit(x2), ToUnit(x3));
        }
    }

    public static void NormalKernel(ArrayView<float> dst, ulong seed, ulong offset)
    {
        long blocks = (dst.Length + 3) / 4, stride = (long)Grid.DimX * Group.DimX;
        for (long b = Grid.GlobalIndex.X; b < blocks; b += stride)
        {
            Block(seed, offset + (ulong)b, out uint x0, out uint x1, out uint x2, out uint x3);
            BoxMuller(x0, x1, out float z0, out float z1);
            BoxMuller(x2, x3, out float z2, out float z3);
            Put(dst, 4 * b, z0, z1, z2, z3);
        }
    }

    // ---- launchers -----------------------------------------------------------------------------

    public static void FillBits(GpuContext gpu, ArrayView<uint> dst, ulong seed, ulong offset)
        => gpu.Kernels.Get("Philox.Bits", a => a.LoadStreamKernel<ArrayView<uint>, ulong, ulong>(BitsKernel))
              (gpu.StreamConfig((dst.Length + 3) / 4), dst, seed, offset);

    public static void FillUniform(GpuContext gpu, ArrayView<float> dst, ulong seed, ulong offset)
        => gpu.Kernels.Get("Philox.Uniform", a => a.LoadStreamKernel<ArrayView<float>, ulong, ulong>(UniformKernel))
              (gpu.StreamConfig((dst.Length + 3) / 4), dst, seed, offset);

    public static void FillNormal(GpuContext gpu, ArrayView<float> dst, ulong seed, ulong offset)
        => gpu.Kernels.Get("Philox.Normal", a => a.LoadStreamKernel<ArrayView<float>, ulong, ulong>(NormalKernel))
              (gpu.StreamConfig((dst.Length + 3) / 4), dst, seed, offset);
}
