// Gemm.Registers.cs — small value structs that hold a thread's register tile in V2/V3.
// ILGPU 1.5.3 does not unroll loops (#1353) and puts indexed local arrays in local memory, so a
// register tile must be scalars; these structs name 4 or 8 of them and keep the kernels readable.
// Each method is one line of straight-line FMAs that ILGPU inlines into registers.
using ILGPU;

namespace Denoise.Kernels.Gpu;

/// <summary>Four accumulators of one register-tile row, columns j, j+16, j+32, j+48.</summary>
public struct Row4
{
    public float C0, C1, C2, C3;

    /// <summary>this += a · b  (one rank-1 update of the row).</summary>
    public readonly Row4 Fma(float a, Row4 b) =>
        new() { C0 = C0 + a * b.C0, C1 = C1 + a * b.C1, C2 = C2 + a * b.C2, C3 = C3 + a * b.C3 };

    /// <summary>The four values at base, base + stride, … of a (shared-memory) view.</summary>
    public static Row4 Gather(ArrayView<float> v, int start, int stride) => new()
    {
        C0 = v[start], C1 = v[start + stride], C2 = v[start + 2 * stride], C3 = v[start + 3 * stride],
    };
}

/// <summary>Eight accumulators of one register-tile row, columns j, j+16, …, j+112.</summary>
public struct Row8
{
    public float C0, C1, C2, C3, C4, C5, C6, C7;

    public readonly Row8 Fma(float a, Row8 b) => new()
    {
        C0 = C0 + a * b.C0, C1 = C1 + a * b.C1, C2 = C2 + a * b.C2, C3 = C3 + a * b.C3,
        C4 = C4 + a * b.C4, C5 = C5 + a * b.C5, C6 = C6 + a * b.C6, C7 = C7 + a * b.C7,
    };

    public static Row8 Gather(ArrayView<float> v, int start, int stride) => new()
    {
        C0 = v[start], C1 = v[start + stride], C2 = v[start + 2 * stride], C3 = v[start + 3 * stride],
        C4 = v[start + 4 * stride], C5 = v[start + 5 * stride], C6 = v[start + 6 * stride], C7 = v[start + 7 * stride],
    };
}

public static partial class Gemm
{
    /// <summary>Row `row` of a register tile to C at columns col, col+16, … (masked on the Edge path).</summary>
    static void StoreRow4<TCheck>(ArrayView<float> C, Row4 r, int row, int col, GemmShape s) where TCheck : struct, IBounds
    {
        if (TCheck.Checked && row >= s.M) return;
        int at = row * s.Ldc + col;
        if (!TCheck.Checked || col < s.N) Store(C, at, r.C0, s);
        if (!TCheck.Checked || col + 16 < s.N) Store(C, at + 16, r.C1, s);
        if (!TCheck.Checked || col + 32 < s.N) Store(C, at + 32, r.C2, s);
        if (!TCheck.Checked || col + 48 < s.N) Store(C, at + 48, r.C3, s);
    }

    static void StoreRow8<TCheck>(ArrayView<float> C, Row8 r, int row, int col, GemmShape s) where TCheck : struct, IBounds
    {
        if (TCheck.Checked && row >= s.M) return;
        int at = row * s.Ldc + col;
        if (!TCheck.Checked || col < s.N) Store(C, at, r.C0, s);
        if (!TCheck.Checked || col + 16 < s.N) Store(C, at + 16, r.C1, s);
        if (!TCheck.Checked || col + 32 < s.N) Store(C, at + 32, r.C2, s);
        if (!TCheck.Checked || col + 48 < s.N) Store(C, at + 48, r.C3, s);
        if (!TCheck.Checked || col + 64 < s.N) Store(C, at + 64, r.C4, s);
        if (!TCheck.Checked || col + 80 < s.N) Store(C, at + 80, r.C5, s);
        if (!TCheck.Checked || col + 96 < s.N) Store(C, at + 96, r.C6, s);
        if (!TCheck.Checked || col + 112 < s.N) Store(C, at + 112, r.C7, s);
    }

    /// <summary>
    /// Element e of a rows×cols tile of op(X), numbered so that consecutive e are consecutive in
    /// memory (coalesced loads): along the tile's columns for X, along its rows for Xᵀ.
    /// </summary>
    static void TileCoord<TL>(int e, int rows, int cols, out int r, out int c) where TL : struct, IOperandLayout
    {
        if (TL.Transposed) { r = e % rows; c = e / rows; }
        else { r = e / cols; c = e % cols; }
    }
}
