// The one SIMD loop per arity. Every element-wise op on the CPU runs through here:
//   Map.Unary<TOp>(x, y)             y[i] = op(x[i])
//   Map.Binary<TOp>(a, b, y)         y[i] = op(a[i], b[i])
//   Map.BinaryScalarB<TOp>(a, s, y)  y[i] = op(a[i], s)   (broadcast of a scalar or a stride-0 axis)
//   Map.BinaryScalarA<TOp>(s, b, y)  y[i] = op(s, b[i])
// Vector512 when the CPU accelerates it (AVX-512), else Vector256, then a scalar tail.
// Spans may alias (y == x) for in-place use: each vector is loaded before its store.
// Large calls (≥ ParallelThreshold elements) are cut into contiguous, 64-byte-aligned ranges that
// run on the WorkerPool: one SiLU over 16M floats is memory-bound, and one core reaches only about
// half the machine's bandwidth (shared/docs/MACHINE.md). Every element is computed by the same
// code whatever the split, so the bits do not depend on the thread count.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Denoise.Kernels.Ops;

namespace Denoise.Kernels.Cpu;

public static unsafe class Map
{
    /// <summary>Below this many elements a map runs on the calling thread. SiLU over 2^17 floats takes
    /// ~30 µs on one core; a hand-off to a spinning worker costs ~1–5 µs, and measured on this machine
    /// 2^16 floats already ran 2.3× faster on two threads than on one (26 → 11 µs). On a machine
    /// oversubscribed by other processes (load 19 on 2 cores) two threads gained nothing but lost
    /// nothing at the median up to 2^18 either: the caller claims the parts a descheduled worker has
    /// not started. (The old 4M threshold answered "stalls" that were really tier-0 JIT code.)</summary>
    public static int ParallelThreshold { get; set; } = 1 << 17;

    // Parts of at least 2^16 elements, a multiple of 16 floats (one cache line) each.
    static int Parts(int n) => n < ParallelThreshold || WorkerPool.Threads == 1 ? 1 : Math.Clamp(n >> 16, 2, 16);

    static (int Start, int Length) Range(int n, int parts, int part)
    {
        int lo = part == 0 ? 0 : (int)((long)n * part / parts) & ~15;
        int hi = part == parts - 1 ? n : (int)((long)n * (part + 1) / parts) & ~15;
        return (lo, hi - lo);
    }

    readonly struct UnaryJob<TOp>(float* x, float* y, int n, int parts) : IParallelJob where TOp : struct, IUnaryOp
    {
        public void Execute(int part)
        {
            var (lo, len) = Range(n, parts, part);
            UnarySerial<TOp>(new ReadOnlySpan<float>(x + lo, len), new Span<float>(y + lo, len));
        }
    }

    /// <summary>Binary, or a scalar operand (bp == null: s on the side given by scalarA).</summary>
    readonly struct BinaryJob<TOp>(float* a, float* b, float s, int mode, float* y, int n, int parts) : IParallelJob where TOp : struct, IBinaryOp
    {
        public void Execute(int part)
        {
            var (lo, len) = Range(n, parts, part);
            var ys = new Span<float>(y + lo, len);
            if (mode == 0) BinarySerial<TOp>(new ReadOnlySpan<float>(a + lo, len), new ReadOnlySpan<float>(b + lo, len), ys);
            else if (mode == 1) BinaryScalarBSerial<TOp>(new ReadOnlySpan<float>(a + lo, len), s, ys);
            else BinaryScalarASerial<TOp>(s, new ReadOnlySpan<float>(b + lo, len), ys);
        }
    }

    public static void Unary<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOp
    {
        int n = CheckLengths(x.Length, y.Length), parts = Parts(n);
        if (parts == 1) { UnarySerial<TOp>(x, y); return; }
        fixed (float* px = x, py = y) WorkerPool.Run(new UnaryJob<TOp>(px, py, n, parts), parts);
    }

    public static void Binary<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = CheckLengths(a.Length, y.Length), parts = Parts(n);
        CheckLengths(b.Length, y.Length);
        if (parts == 1) { BinarySerial<TOp>(a, b, y); return; }
        fixed (float* pa = a, pb = b, py = y) WorkerPool.Run(new BinaryJob<TOp>(pa, pb, 0f, 0, py, n, parts), parts);
    }

    public static void BinaryScalarB<TOp>(ReadOnlySpan<float> a, float s, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = CheckLengths(a.Length, y.Length), parts = Parts(n);
        if (parts == 1) { BinaryScalarBSerial<TOp>(a, s, y); return; }
        fixed (float* pa = a, py = y) WorkerPool.Run(new BinaryJob<TOp>(pa, null, s, 1, py, n, parts), parts);
    }

    public static void BinaryScalarA<TOp>(float s, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = CheckLengths(b.Length, y.Length), parts = Parts(n);
        if (parts == 1) { BinaryScalarASerial<TOp>(s, b, y); return; }
        fixed (float* pb = b, py = y) WorkerPool.Run(new BinaryJob<TOp>(null, pb, s, 2, py, n, parts), parts);
    }

    // ───────────────────── the serial SIMD loops ─────────────────────

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void UnarySerial<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOp
    {
        int n = y.Length;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref xr, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BinarySerial<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = y.Length;
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref ar, (nuint)i), Vector512.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref ar, (nuint)i), Vector256.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref ar, i), Unsafe.Add(ref br, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BinaryScalarBSerial<TOp>(ReadOnlySpan<float> a, float s, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = y.Length;
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sv = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref ar, (nuint)i), sv).StoreUnsafe(ref yr, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref ar, (nuint)i), sv).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref ar, i), s);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BinaryScalarASerial<TOp>(float s, ReadOnlySpan<float> b, Span<float> y) where TOp : struct, IBinaryOp
    {
        int n = y.Length;
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sv = Vector512.Create(s);
            for (; i <= n - 16; i += 16)
                TOp.Apply(sv, Vector512.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sv = Vector256.Create(s);
            for (; i <= n - 8; i += 8)
                TOp.Apply(sv, Vector256.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = TOp.Apply(s, Unsafe.Add(ref br, i));
    }

    static int CheckLengths(int input, int output)
    {
        if (input != output) throw new ArgumentException($"Map: input length {input} != output length {output}.");
        return output;
    }
}
