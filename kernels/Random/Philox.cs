// Philox.cs — Philox4x32-10, a counter-based RNG (Salmon, Moraes, Dror & Shaw, "Parallel Random
// Numbers: As Easy as 1, 2, 3", SC 2011; constants and round function as in Random123).
//
// A counter-based generator is a pure function  (key, counter) → 128 random bits, so any element
// of a random stream can be computed directly, on any thread or device, with no state to carry:
// the same seed and offset give the same numbers on the CPU today and in a GPU kernel tomorrow.
//
// Mapping used throughout Denoise (so other kernels reproduce these streams):
//   key     = (lo32(seed), hi32(seed))
//   counter = (lo32(c), hi32(c), 0, 0)           for a 64-bit block counter c
//   element i of a Fill* call with offset o reads block c = o + i / 4, lane i % 4.
// Every Fill* call over n elements therefore consumes CountersUsed(n) = ceil(n / 4) counters; the
// caller advances its offset by that much to draw fresh numbers.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Philox
using System.Runtime.CompilerServices;

namespace Denoise.Kernels;

public static class Philox
{
    // Multipliers and Weyl key increments from Salmon et al. 2011 (Table 2 / Random123 philox.h):
    // the multipliers were chosen for avalanche, the increments are the golden ratio and √3 − 1.
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;
    const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Philox4x32-10 on raw words: 10 rounds, the key bumped between rounds.</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Block(uint k0, uint k1, uint c0, uint c1, uint c2, uint c3)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Block for a 64-bit seed and 64-bit counter, with the mapping in the file header.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint X0, uint X1, uint X2, uint X3) Block(ulong seed, ulong counter)
        => Block((uint)seed, (uint)(seed >> 32), (uint)counter, (uint)(counter >> 32), 0, 0);

    /// <summary>Counters consumed by any Fill* call over n elements: ceil(n / 4).</summary>
    public static ulong CountersUsed(int n) => ((ulong)n + 3) / 4;

    /// <summary>Raw 32-bit lanes: dst[i] = lane i % 4 of Block(seed, offset + i / 4).</summary>
    public static void FillBits(Span<uint> dst, ulong seed, ulong offset)
    {
        int i = 0;
        for (ulong c = offset; i < dst.Length; c++, i += 4)
        {
            var (x0, x1, x2, x3) = Block(seed, c);
            Put(dst, i, x0, x1, x2, x3);
        }
    }

    /// <summary>
    /// Uniform floats in [0, 1): (u >> 8) · 2^-24. The top 24 bits fill a float's mantissa exactly,
    /// so every value is a multiple of 2^-24 and 1 is never produced.
    /// </summary>
    public static void FillUniform(Span<float> dst, ulong seed, ulong offset)
    {
        int i = 0;
        for (ulong c = offset; i < dst.Length; c++, i += 4)
        {
            var (x0, x1, x2, x3) = Block(seed, c);
            Put(dst, i, ToUnit(x0), ToUnit(x1), ToUnit(x2), ToUnit(x3));
        }
    }

    /// <summary>
    /// Standard normals by Box–Muller (Box & Muller, 1958) over lane pairs (0, 1) and (2, 3):
    /// r = √(−2 ln u1), z = (r cos 2πu2, r sin 2πu2). u1 = ((x >> 8) + 1) · 2^-24 lies in (0, 1],
    /// so log(0) cannot occur; the price is a tail cut at √(−2 ln 2^-24) ≈ 5.8σ.
    /// Element i is still block offset + i / 4, lane i % 4.
    /// </summary>
    public static void FillNormal(Span<float> dst, ulong seed, ulong offset)
    {
        int i = 0;
        for (ulong c = offset; i < dst.Length; c++, i += 4)
        {
            var (x0, x1, x2, x3) = Block(seed, c);
            var (z0, z1) = BoxMuller(x0, x1);
            var (z2, z3) = BoxMuller(x2, x3);
            Put(dst, i, z0, z1, z2, z3);
        }
    }

    /// <summary>
    /// Uniform integers in [low, high) by 64-bit multiply-high reduction (Lemire, "Fast Random
    /// Integer Generation in an Interval", 2019, without the rejection step): value =
    /// low + ⌊u · range / 2^32⌋. Its bias is at most range / 2^32 per value, under 2^-16 for
    /// ranges below 65 536 — far below anything sampling indices or dropout can detect.
    /// </summary>
    public static void FillInt(Span<int> dst, int low, int high, ulong seed, ulong offset)
    {
        if (high <= low) throw new ArgumentOutOfRangeException(nameof(high), "need low < high");
        ulong range = (ulong)((long)high - low);
        int i = 0;
        for (ulong c = offset; i < dst.Length; c++, i += 4)
        {
            var (x0, x1, x2, x3) = Block(seed, c);
            Put(dst, i, Reduce(x0, range, low), Reduce(x1, range, low), Reduce(x2, range, low), Reduce(x3, range, low));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Reduce(uint u, ulong range, int low) => (int)(low + (long)((u * range) >> 32));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float ToUnit(uint u) => (u >> 8) * (1f / (1 << 24));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (float, float) BoxMuller(uint a, uint b)
    {
        float u1 = ((a >> 8) + 1) * (1f / (1 << 24));
        float u2 = (b >> 8) * (1f / (1 << 24));
        float r = MathF.Sqrt(-2f * MathF.Log(u1));
        var (s, co) = MathF.SinCos(2f * MathF.PI * u2);
        return (r * co, r * s);
    }

    /// <summary>Writes up to four lanes: the last block of an n not divisible by 4 is cut short.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put<T>(Span<T> dst, int i, T a, T b, T c, T d)
    {
        if (i + 4 <= dst.Length) { dst[i] = a; dst[i + 1] = b; dst[i + 2] = c; dst[i + 3] = d; return; }
        dst[i] = a;
        if (i + 1 < dst.Length) dst[i + 1] = b;
        if (i + 2 < dst.Length) dst[i + 2] = c;
    }
}
