// GpuOps — the engine's GPU fast paths: each takes tensors whose storage is a GpuStorage and launches
// kernels/Gpu kernels on the device buffers (no host copy). The op code in engine/Ops calls these after
// one type test (`y.Storage is GpuStorage`), so the CPU path pays nothing more.
//
// Covered (the hot set of a training step): strided/broadcast element-wise unary and binary maps
// (incl. host-scalar operands and the fused activation backwards, which are binary maps), where, strided
// copies (Contiguous, Cat, Pad, views), Fill, Sum over any axes (trailing → row sums, leading → column
// sums, all → two-stage, otherwise a permuting copy then row sums), max/min over the last axes
// (softmax's shift), MatMul (GEMM, transposed views without copies, batched), conv2d / conv-transpose
// (im2col + GEMM), GroupNorm(+SiLU), index_select / index_add (embedding, nearest upsampling,
// reflect/replicate padding), average and max pooling, gather / scatter_add along the last axis, one-hot
// targets (cross-entropy), in-place Add/Mul/Copy,
// the Adam/AdamW and SGD updates, and Philox uniform/normal fills (the CPU's stream). Losses are
// compositions of these and need nothing more.
//
// Fused kernels (GpuOps.Fused.cs): row softmax / log-softmax and LayerNorm forward and backward
// (kernels/Gpu/Norm), and flash attention forward + FA-2 backward (kernels/Gpu/Attention), taken by
// F.ScaledDotProductAttention / F.LayerNorm / Softmax for GPU tensors in the same cases as the CPU's fused
// kernels (under create-graph they compose, so second order still works).
//
// The coverage region (the end of this file): gather / scatter_add along any axis (owner-computes scatter,
// no float atomics: same bits every run), cumsum / cumprod and cumprod's linear-scan gradient (a scan per
// line), argmax / argmin, top-k (one group per row), multinomial (the CPU's Philox draws, bit-identical
// picks), one_hot, the RMSprop and EMA updates, batched LU (inverse, slogdet, det), BatchNorm's num_batches_tracked counter, and the
// device-side index range check (a kernel counts out-of-range indices; the host reads two ints, not the
// index). Bernoulli and dropout were already device ops (Philox fill + compare); gradient clipping and
// the loss-argument checks (BCE in [0, 1], Gaussian NLL variance ≥ 0) are device reductions read as one
// float. tests/Gpu/CoverageAuditTests.cs runs (nearly) every public op on a device and fails on any
// fallback not listed here.
//
// inverse / slogdet / det run kernels/Gpu/Linalg.cs: one thread per matrix, the CPU's partial-pivot LU in
// double (PyTorch calls cuSOLVER/MAGMA here; a blocked group-per-matrix LU is the next step for n > 64).
//
// Still on the host (through the host accessors of GpuStorage: correct, counted in DeviceFallbacks):
//   • gather / scatter_add on tensors of rank > 6 (StridedLayout's limit) and CPU-side index tensors.
//   • Explicit host reads that are not fallbacks: one_hot with numClasses = −1 (needs max(labels)), the
//     error paths of the index/multinomial checks, Randint / Randperm (they create CPU tensors by design).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using Denoise.Kernels.Gpu;
using ILGPU;
using K = Denoise.Kernels.Ops;
using KStrided = Denoise.Kernels.Gpu.Strided;

namespace Denoise;

internal static partial class GpuOps
{
    static GpuStorage S(Tensor t) => (GpuStorage)t.Storage;
    static GpuContext Gpu(Tensor t) => S(t).GpuDevice.Gpu;

    /// <summary>The float elements of a contiguous tensor.</summary>
    static ArrayView<float> Read(Tensor t) => S(t).DeviceRead().SubView(t.offset, t.Numel);
    static ArrayView<float> Write(Tensor t) => S(t).DeviceWrite().SubView(t.offset, t.Numel);

    /// <summary>Fills a contiguous float tensor.</summary>
    public static void Fill(Tensor t, float value)
    {
        if (t.Numel == 0) return;
        KStrided.Fill(Gpu(t), Write(t), value);
    }

    /// <summary>y = op(x): x any view, y any view of the same shape. False when the layout has too many dims after coalescing.</summary>
    public static bool Unary<TOp>(Tensor x, Tensor y) where TOp : struct, K.IUnaryOp
    {
        if (y.Numel == 0) return true;
        var gpu = Gpu(y);
        if (x.IsContiguous && y.IsContiguous) { Map.Unary<TOp>(gpu, Read(x), Write(y)); return true; }
        var (shape, st) = Strided.Coalesce(y.shape, Strided.BroadcastStrides(x, y.shape), y.strides);
        if (shape.Length > StridedLayout.MaxRank) return false;
        var xv = S(x).DeviceRead();
        KStrided.Unary<TOp>(gpu, xv, S(y).DeviceWrite(), StridedLayout.Create(shape, st[0], x.offset, null, 0, st[1], y.offset));
        return true;
    }

    /// <summary>y = op(a, b) with broadcasting; one of a, b may be a host (CPU) 0-d scalar.</summary>
    public static bool Binary<TOp>(Tensor a, Tensor b, Tensor y) where TOp : struct, K.IBinaryOp
    {
        if (y.Numel == 0) return true;
        var gpu = Gpu(y);
        bool aHost = a.Storage is CpuStorage, bHost = b.Storage is CpuStorage;
        if (aHost || bHost)
        {
            var x = aHost ? b : a;
            float s = aHost ? a.Data[a.offset] : b.Data[b.offset];   // a CPU scalar: a plain host read
            bool full = x.IsContiguous && x.Numel == y.Numel && y.IsContiguous;
            if (full && aHost) { Map.BinaryScalarA<TOp>(gpu, s, Read(x), Write(y)); return true; }
            if (full) { Map.BinaryScalarB<TOp>(gpu, Read(x), s, Write(y)); return true; }
            var (sh, st) = Strided.Coalesce(y.shape, Strided.BroadcastStrides(x, y.shape), y.strides);
            if (sh.Length > StridedLayout.MaxRank) return false;
            var xv = S(x).DeviceRead();
            KStrided.Scalar<TOp>(gpu, xv, s, aHost, S(y).DeviceWrite(), StridedLayout.Create(sh, st[0], x.offset, null, 0, st[1], y.offset));
            return true;
        }
        bool sameShape = ShapeUtil.Equal(a.Shape, y.Shape) && ShapeUtil.Equal(b.Shape, y.Shape);
        if (sameShape && a.IsContiguous && b.IsContiguous && y.IsContiguous) { Map.Binary<TOp>(gpu, Read(a), Read(b), Write(y)); return true; }
        var (shape, strides) = Strided.Coalesce(y.shape, Strided.BroadcastStrides(a, y.shape), Strided.BroadcastStrides(b, y.shape), y.strides);
        if (shape.Length > StridedLayout.MaxRank) return false;
        var av = S(a).DeviceRead(); var bv = S(b).DeviceRead();
        KStrided.Binary<TOp>(gpu, av, bv, S(y).DeviceWrite(),
            StridedLayout.Create(shape, strides[0], a.offset, strides[1], b.offset, strides[2], y.offset));
        return true;
    }

    /// <summary>dst[...] = src[...] (same shape, any views, float or Int32).</summary>
    public static bool Copy(Tensor src, Tensor dst)
    {
        if (dst.Numel == 0) return true;
        if (src.DType == DType.Float32) return Unary<K.Identity>(src, dst);
        var (shape, st) = Strided.Coalesce(dst.shape, Strided.BroadcastStrides(src, dst.shape), dst.strides);
        if (shape.Length > StridedLayout.MaxRank) return false;
        var sv = S(src).DeviceReadInts();
        KStrided.CopyInt(Gpu(dst), sv, S(dst).DeviceWriteInts(), StridedLayout.Create(shape, st[0], src.offset, null, 0, st[1], dst.offset));
        return true;
    }

    /// <summary>y = where(cond, a, b), all broadcast to y's shape; host scalars become device fills.</summary>
    public static void Where(Tensor cond, Tensor a, Tensor b, Tensor y)
    {
        var c = Dense(cond, y); var av = Dense(a, y); var bv = Dense(b, y);
        KStrided.Where(Gpu(y), Read(c), Read(av), Read(bv), Write(y));

        static Tensor Dense(Tensor t, Tensor y) => Tensor.IsHostScalar(t)
            ? Tensor.Full(y.shape, t.Item(), y.Device)
            : t.Expand(y.shape).ContiguousNoGrad();
    }

    /// <summary>y (contiguous, keptShape) = Σ of x over the axes flagged in <paramref name="reduce"/>.</summary>
    public static void Sum(Tensor x, bool[] reduce, Tensor y)
    {
        var gpu = Gpu(y);
        if (x.Numel == 0) { Fill(y, 0f); return; }
        int firstReduced = Array.IndexOf(reduce, true), lastKept = Array.LastIndexOf(reduce, false);
        if (firstReduced < 0) { Copy(x, y); return; }
        int lastReduced = Array.LastIndexOf(reduce, true), firstKept = Array.IndexOf(reduce, false);
        if (x.IsContiguous && firstKept >= 0 && lastReduced < firstKept)
        {
            // Leading axes reduced (bias gradients, SumTo): column sums, row by row like the CPU.
            int cols = y.Numel, rows = x.Numel / cols;
            KStrided.ColSum(gpu, Read(x), Write(y), rows, cols);
            return;
        }
        var rowsOf = x;
        if (!(x.IsContiguous && lastKept < firstReduced))
        {
            // General case: move the reduced axes last with a device copy, then row sums.
            var perm = Enumerable.Range(0, x.Rank).Where(d => !reduce[d]).Concat(Enumerable.Range(0, x.Rank).Where(d => reduce[d])).ToArray();
            var p = new Tensor(x.Storage, perm.Select(d => x.shape[d]).ToArray(), perm.Select(d => x.strides[d]).ToArray(), x.offset);
            rowsOf = p.ContiguousCopy();
        }
        int count = y.Numel, length = x.Numel / count;
        if (count == 1 && length > 4096)
        {
            var partial = Tensor.Empty([Reduce.PartialCount(gpu, length)], DType.Float32, y.Device);
            Reduce.SumAll(gpu, Read(rowsOf), Write(partial), Write(y));
            return;
        }
        Reduce.RowSum(gpu, Read(rowsOf), Write(y), count, length);
    }

    /// <summary>y[i] = max (or min) of row i of a contiguous (count, length) tensor.</summary>
    public static void RowMaxMin(Tensor rows, Tensor y, int count, int length, bool max)
    {
        var gpu = Gpu(y);
        if (max) { Reduce.RowMax(gpu, Read(rows), Write(y), count, length); return; }
        // min(x) = −max(−x): two cheap maps instead of a second reduction kernel.
        var neg = Tensor.Empty([count * length], DType.Float32, y.Device);
        Map.Unary<K.Neg>(gpu, Read(rows), Write(neg));
        Reduce.RowMax(gpu, Read(neg), Write(y), count, length);
        var yv = Write(y);
        Map.Unary<K.Neg>(gpu, yv, yv);
    }

    /// <summary>y (batch…, M, N) = a @ b with the GEMM kernels; transposed views go in as transA/transB.</summary>
    public static void MatMul(Tensor a, Tensor b, Tensor y, int[] batchShape, int M, int N, int K)
    {
        var gpu = Gpu(y);
        if (y.Numel == 0) return;
        if (K == 0) { Fill(y, 0f); return; }
        var (ta, transA, lda) = Tensor.GemmOperand(a);
        var (tb, transB, ldb) = Tensor.GemmOperand(b);
        var sa = Tensor.BatchStrides(ta, batchShape);
        var sb = Tensor.BatchStrides(tb, batchShape);
        var av = S(ta).DeviceRead(); var bv = S(tb).DeviceRead(); var yv = S(y).DeviceWrite();
        int batch = ShapeUtil.Numel(batchShape);
        var idx = new int[batchShape.Length];
        for (int bi = 0; bi < batch; bi++)
        {
            long oa = ta.offset, ob = tb.offset;
            for (int d = 0; d < idx.Length; d++) { oa += (long)idx[d] * sa[d]; ob += (long)idx[d] * sb[d]; }
            Gemm.Run(gpu, S(y).GpuDevice.GemmVersion, transA, transB, M, N, K, 1f, av.SubView(oa), lda, bv.SubView(ob), ldb, 0f,
                yv.SubView(y.offset + (long)bi * M * N, (long)M * N), N);
            for (int d = idx.Length - 1; d >= 0; d--) { if (++idx[d] < batchShape[d]) break; idx[d] = 0; }
        }
    }

    // ---- convolution: im2col + GEMM per image (kernels/Gpu/Conv2d.cs); one image's col matrix as workspace ----

    static (GpuContext gpu, GpuGemmVersion version, ConvGeometry g, Tensor col) ConvSetup(Tensor y, in ConvSpec s)
    {
        var g = new ConvGeometry(s.Cin, s.H, s.W, s.KH, s.KW, s.SH, s.SW, s.PH, s.PW, s.DH, s.DW, s.Hout, s.Wout);
        var col = Tensor.Empty([Math.Max(1, g.ColRows * g.P)], DType.Float32, y.Device);
        return (Gpu(y), S(y).GpuDevice.GemmVersion, g, col);
    }

    public static void ConvForward(Tensor x, Tensor w, Tensor y, in ConvSpec s)
    {
        if (y.Numel == 0) return;
        var (gpu, version, g, col) = ConvSetup(y, s);
        Kernels.Gpu.Conv2d.Forward(gpu, version, Read(x), Read(w), Write(y), Write(col), x.shape[0], s.Cout, s.Groups, g);
    }

    public static void ConvInputGrad(Tensor gy, Tensor w, Tensor dx, in ConvSpec s)
    {
        if (dx.Numel == 0) return;
        var (gpu, version, g, col) = ConvSetup(dx, s);
        Kernels.Gpu.Conv2d.InputGrad(gpu, version, Read(gy), Read(w), Write(dx), Write(col), gy.shape[0], s.Cout, s.Groups, g);
    }

    public static void ConvWeightGrad(Tensor x, Tensor gy, Tensor dw, in ConvSpec s)
    {
        if (dw.Numel == 0) return;
        if (x.shape[0] == 0 || s.Hout * s.Wout == 0) { Fill(dw, 0f); return; }
        var (gpu, version, g, col) = ConvSetup(dw, s);
        Kernels.Gpu.Conv2d.WeightGrad(gpu, version, Read(x), Read(gy), Write(dw), Write(col), x.shape[0], s.Cout, s.Groups, g);
    }

    // ---- GroupNorm(+SiLU), fused (kernels/Gpu/Norm/GroupNorm.cs) ----

    static GroupNormArgs NormArgs(in Kernels.Cpu.GroupNormShape s, Tensor? w, Tensor? b) => new(s.N, s.C, s.S, s.G, s.Eps, s.SiLU, w != null, b != null);

    public static void GroupNormForward(Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd, in Kernels.Cpu.GroupNormShape s)
        => GroupNorm.Forward(Gpu(y), Read(x), w == null ? default : Read(w), b == null ? default : Read(b), Write(y), Write(mean), Write(rstd), NormArgs(s, w, b));

    public static void GroupNormBackward(Tensor x, Tensor dy, Tensor? w, Tensor? b, Tensor mean, Tensor rstd, Tensor dx, Tensor? dw, Tensor? db,
        in Kernels.Cpu.GroupNormShape s)
    {
        var partials = Tensor.Empty([Math.Max(1, 2 * s.N * s.C)], DType.Float32, dx.Device);
        GroupNorm.Backward(Gpu(dx), Read(x), Read(dy), w == null ? default : Read(w), b == null ? default : Read(b), Read(mean), Read(rstd),
            Write(dx), dw == null ? default : Write(dw), db == null ? default : Write(db), Write(partials), NormArgs(s, w, b));
    }

    // ---- index_select / index_add along one axis (kernels/Gpu/IndexRows.cs) ----

    /// <summary>
    /// The index values on the host, for the range check every index op makes before touching memory: a
    /// small explicit read (like Item), not a fallback; free when the index came from the CPU and its
    /// host copy is still current.
    /// </summary>
    public static int[] IndexValues(Tensor index) => index.ToIntArray();

    public static void IndexSelect(Tensor x, Tensor index, Tensor y, int outer, int size, int inner)
    {
        var s = new IndexShape(outer, size, inner, index.Numel);
        var ic = OnDevice(index, y);
        var iv = S(ic).DeviceReadInts().SubView(ic.offset, ic.Numel);
        if (x.DType == DType.Int32)
            IndexRows.Select(Gpu(y), S(x).DeviceReadInts().SubView(x.offset, x.Numel), iv, S(y).DeviceWriteInts().SubView(y.offset, y.Numel), s);
        else IndexRows.Select(Gpu(y), Read(x), iv, Write(y), s);
    }

    /// <summary>A contiguous index on y's device (a CPU 0-d index is the one allowed to arrive from the host).</summary>
    static Tensor OnDevice(Tensor index, Tensor y) => (index.Storage is CpuStorage ? index.To(y.Device) : index).ContiguousNoGrad();

    /// <summary>y (a contiguous copy of the tensor added into) += index_add(source).</summary>
    public static void IndexAdd(Tensor source, Tensor index, Tensor y, int outer, int size, int inner)
    {
        var ic = OnDevice(index, y);
        IndexRows.Add(Gpu(y), Read(source), S(ic).DeviceReadInts().SubView(ic.offset, ic.Numel), Write(y), new IndexShape(outer, size, inner, index.Numel));
    }

    /// <summary>hot (zero-filled, input's shape (N, C, inner…)) gets w[c] at each kept target's class (cross-entropy, NLL).</summary>
    public static void OneHotTargets(Tensor targets, Tensor? classWeights, Tensor hot, int classes, int inner, int ignoreIndex)
    {
        var t = OnDevice(targets, hot);
        var w = classWeights == null ? null : (classWeights.Storage is CpuStorage ? classWeights.To(hot.Device) : classWeights).ContiguousNoGrad();
        IndexRows.OneHot(Gpu(hot), S(t).DeviceReadInts().SubView(t.offset, t.Numel), w == null ? default : Read(w), Write(hot), classes, inner, ignoreIndex);
    }

    // ---- average pooling (kernels/Gpu/Pool.cs); the window tables are uploaded per call (a few ints) ----

    static (Tensor win, Tensor scale) PoolTables(int[] hs, int[] he, float[] rowScale, int[] ws, int[] we, float[] colScale, Device device)
    {
        var win = Tensor.FromArray(hs.Concat(he).Concat(ws).Concat(we).ToArray()).To(device);
        var scale = Tensor.FromArray(rowScale.Concat(colScale).ToArray()).To(device);
        return (win, scale);
    }

    public static void MaxPool(Tensor x, Tensor y, Tensor at, int planes, int H, int W, int[] hs, int[] he, int[] ws, int[] we)
    {
        var win = Tensor.FromArray(hs.Concat(he).Concat(ws).Concat(we).ToArray()).To(y.Device);
        Pool.MaxForward(Gpu(y), Read(x), Write(y), S(at).DeviceWriteInts().SubView(at.offset, at.Numel), S(win).DeviceReadInts(),
            new PoolShape(planes, H, W, hs.Length, ws.Length));
    }

    /// <summary>
    /// The last-axis case of gather / scatter_add with contiguous operands whose shapes agree outside the last
    /// axis (max-pool backward, top-k style picks): true when handled; other layouts take the host path.
    /// </summary>
    public static bool GatherLast(Tensor x, Tensor index, Tensor y)
    {
        if (!x.IsContiguous || !index.IsContiguous || !SameOutsideLast(x, index)) return false;
        int cols = x.shape[^1], L = index.shape[^1], rows = L == 0 ? 0 : index.Numel / L;
        IndexRows.GatherLast(Gpu(y), Read(x), S(index).DeviceReadInts().SubView(index.offset, index.Numel), Write(y), rows, cols, L);
        return true;
    }

    public static bool ScatterAddLast(Tensor src, Tensor index, Tensor y)
    {
        if (!src.IsContiguous || !index.IsContiguous || !ShapeUtil.Equal(src.Shape, index.Shape) || !SameOutsideLast(y, index)) return false;
        int cols = y.shape[^1], L = index.shape[^1], rows = cols == 0 ? 0 : y.Numel / cols;
        IndexRows.ScatterAddLast(Gpu(y), Read(src), S(index).DeviceReadInts().SubView(index.offset, index.Numel), Write(y), rows, cols, L);
        return true;
    }

    static bool SameOutsideLast(Tensor a, Tensor b)
    {
        if (a.Rank != b.Rank || a.Rank == 0) return false;
        for (int d = 0; d < a.Rank - 1; d++) if (a.shape[d] != b.shape[d]) return false;
        return true;
    }

    public static void AvgPool(Tensor x, Tensor y, int planes, int H, int W, int[] hs, int[] he, float[] rowScale, int[] ws, int[] we, float[] colScale)
    {
        var (win, scale) = PoolTables(hs, he, rowScale, ws, we, colScale, y.Device);
        Pool.AvgForward(Gpu(y), Read(x), Write(y), S(win).DeviceReadInts(), Read(scale), new PoolShape(planes, H, W, hs.Length, ws.Length));
    }

    public static void AvgPoolAdjoint(Tensor g, Tensor dx, int planes, int H, int W, int[] hs, int[] he, float[] rowScale, int[] ws, int[] we, float[] colScale)
    {
        var (win, scale) = PoolTables(hs, he, rowScale, ws, we, colScale, dx.Device);
        Pool.AvgAdjoint(Gpu(dx), Read(g), Write(dx), S(win).DeviceReadInts(), Read(scale), new PoolShape(planes, H, W, hs.Length, ws.Length));
    }

    /// <summary>One Adam/AdamW step on device buffers (vMax null unless amsgrad).</summary>
    public static void Adam(Tensor p, Tensor g, Tensor m, Tensor v, Tensor? vMax, AdamStep h)
        => AdamKernel.Step(Gpu(p), Write(p), Read(g), Write(m), Write(v), vMax == null ? default : Write(vMax), h);

    public static void Sgd(Tensor p, Tensor g, Tensor? buf, SgdStep h)
        => Kernels.Gpu.SgdKernel.Step(Gpu(p), Write(p), Read(g), buf == null ? default : Write(buf), h);

    /// <summary>Philox uniform [0, 1) or standard normal fill of a contiguous tensor: the CPU generator's stream.</summary>
    public static void Random(Tensor t, Generator gen, bool normal)
    {
        if (t.Numel == 0) return;
        ulong offset = gen.Advance(t.Numel);
        if (normal) PhiloxKernel.FillNormal(Gpu(t), Write(t), gen.Seed, offset);
        else PhiloxKernel.FillUniform(Gpu(t), Write(t), gen.Seed, offset);
    }

    // ═════════════ gpu-cover: the ops that used to fall back to the host (kernels/Gpu/GatherScatter.cs, Scan.cs,
    // TopK.cs, Random/Multinomial.cs, Optim/RmspropKernel.cs, Optim/EmaKernel.cs, IntOps.cs) ═════════════

    /// <summary>
    /// The device-side range check of an index tensor: a kernel counts the values outside [0, size) and the
    /// first offending position; the host reads back two ints (not the index). Returns null when all pass,
    /// else (position, value) of the first bad index (one more small read, on the error path only).
    /// </summary>
    public static (int position, int value)? FirstOutOfRange(Tensor index, int size)
    {
        if (index.Numel == 0) return null;
        var ic = index.ContiguousNoGrad();
        var device = ((GpuStorage)ic.Storage).Device;
        var status = Tensor.FromArray(new[] { 0, int.MaxValue }, 2).To(device);
        GatherScatter.RangeCheck(Gpu(ic), S(ic).DeviceReadInts().SubView(ic.offset, ic.Numel), size, S(status).DeviceWriteInts().SubView(status.offset, 2));
        var st = status.ToIntArray();
        if (st[0] == 0) return null;
        int value = ic.Reshape(-1).Narrow(0, st[1], 1).ToIntArray()[0];
        return (st[1], value);
    }

    /// <summary>y (contiguous, index's shape) = gather of x along <paramref name="d"/> (any views; indices checked). False above rank 6.</summary>
    public static bool Gather(Tensor x, Tensor index, Tensor y, int d)
    {
        if (index.Rank > StridedLayout.MaxRank) return false;
        var xs = (int[])x.strides.Clone(); xs[d] = 0;
        var L = StridedLayout.Create(index.shape, xs, x.offset, index.strides, index.offset, Tensor.ContiguousStrides(index.shape), y.offset);
        GatherScatter.Gather(Gpu(y), S(x).DeviceRead(), S(index).DeviceReadInts(), S(y).DeviceWrite(), L, x.strides[d]);
        return true;
    }

    /// <summary>y (a contiguous copy of the tensor added into) += scatter_add of src at index along <paramref name="d"/>; owner computes, deterministic.</summary>
    public static bool ScatterAdd(Tensor src, Tensor index, Tensor y, int d)
    {
        if (index.Rank > StridedLayout.MaxRank) return false;
        var q = (int[])index.shape.Clone(); q[d] = y.shape[d];
        int inner = 1;
        for (int k = d + 1; k < q.Length; k++) inner *= q[k];
        var ss = (int[])src.strides.Clone(); ss[d] = 0;
        var ist = (int[])index.strides.Clone(); ist[d] = 0;
        var L = StridedLayout.Create(q, ss, src.offset, ist, index.offset, y.strides, y.offset);
        var ax = new ScatterAxis(y.shape[d], Math.Max(1, inner), index.shape[d], src.strides[d], index.strides[d]);
        GatherScatter.ScatterAdd(Gpu(y), S(src).DeviceRead(), S(index).DeviceReadInts(), S(y).DeviceWrite(), L, ax);
        return true;
    }

    /// <summary>y = cumsum / cumprod / linear scan of contiguous x (and a) over the middle axis of (outer, n, inner).</summary>
    public static void Scan(Tensor x, Tensor? a, Tensor y, ScanShape s)
        => Kernels.Gpu.Scan.Run(Gpu(y), Read(x), a == null ? default : Read(a), Write(y), s);

    /// <summary>idx (Int32, rows × k) = top-k column indices of each row of the contiguous x (rows × cols).</summary>
    public static void TopKIndices(Tensor x, Tensor idx, int rows, int cols, int k)
        => Kernels.Gpu.TopK.Rows(Gpu(idx), Read(x), S(idx).DeviceWriteInts().SubView(idx.offset, idx.Numel), rows, cols, k);

    /// <summary>y (Int32, count) = argmax / argmin of each row of the contiguous (count, length) rows.</summary>
    public static void ArgExtreme(Tensor rows, Tensor y, int count, int length, bool max)
        => Kernels.Gpu.TopK.ArgExtreme(Gpu(y), Read(rows), S(y).DeviceWriteInts().SubView(y.offset, y.Numel), count, length, max);

    /// <summary>
    /// Multinomial picks (Int32 N × S) from (N, C) weights with the generator's stream (the CPU's samples);
    /// returns null, or the status code 2·row + kind of the first failing row (see the kernel's header).
    /// </summary>
    public static int? Multinomial(Tensor weights, Tensor result, int N, int C, int samples, bool replacement, Generator gen)
    {
        var w = weights.ContiguousCopy();   // the kernel zeroes picked weights (without replacement)
        var status = Tensor.FromArray(new[] { int.MaxValue }, 1).To(result.Device);
        ulong offset = gen.Offset;
        MultinomialKernel.Rows(Gpu(result), Write(w), S(result).DeviceWriteInts().SubView(result.offset, result.Numel),
            S(status).DeviceWriteInts().SubView(status.offset, 1), N, C, samples, replacement, gen.Seed, offset);
        int code = status.ToIntArray()[0];
        if (code != int.MaxValue) return code;
        gen.Offset = offset + (ulong)N * (ulong)samples;   // one Philox block per draw, as N·S NextFloat calls
        return null;
    }

    /// <summary>One RMSprop step on device buffers (gAvg null unless centered, buf null unless momentum).</summary>
    public static void Rmsprop(Tensor p, Tensor g, Tensor sqAvg, Tensor? gAvg, Tensor? buf, RmspropStep h)
        => RmspropKernel.Step(Gpu(p), Write(p), Read(g), Write(sqAvg), gAvg == null ? default : Write(gAvg), buf == null ? default : Write(buf), h);

    /// <summary>shadow ← lerp(shadow, p, w) in place (the EMA update; the CPU's float.Lerp rounding).</summary>
    public static void EmaLerp(Tensor shadow, Tensor p, float w) => EmaKernel.Update(Gpu(shadow), Write(shadow), Read(p), w);

    /// <summary>
    /// Batched LU of the contiguous (batch, n, n) a: inverses into inverse (returns the first singular matrix's
    /// index, or null), or sign / log|det| into sign and logAbs (kernels/Gpu/Linalg.cs, one thread per matrix).
    /// </summary>
    public static int? Lu(Tensor a, int batch, int n, Tensor? inverse, Tensor? sign, Tensor? logAbs)
    {
        var device = a.Device;
        var work = Tensor.Empty([Math.Max(2, 2 * batch * (n * n + n))], DType.Float32, device);   // doubles, as float pairs
        var perm = Tensor.Empty([Math.Max(1, batch * n)], DType.Int32, device);
        var status = Tensor.FromArray(new[] { int.MaxValue }, 1).To(device);
        var y = inverse ?? sign!;
        Kernels.Gpu.Linalg.Run(Gpu(y), Read(a), Write(work).Cast<double>(), S(perm).DeviceWriteInts().SubView(perm.offset, perm.Numel),
            inverse == null ? default : Write(inverse), sign == null ? default : Write(sign), logAbs == null ? default : Write(logAbs),
            S(status).DeviceWriteInts().SubView(status.offset, 1), batch, n, inverse != null);
        if (inverse == null) return null;
        int first = status.ToIntArray()[0];
        return first == int.MaxValue ? null : first;
    }

    /// <summary>t += v for a contiguous Int32 tensor (a counter such as BatchNorm's num_batches_tracked).</summary>
    public static void AddInt(Tensor t, int v) => IntOps.AddScalar(Gpu(t), S(t).DeviceWriteInts().SubView(t.offset, t.Numel), v);

    /// <summary>hot (zero-filled, labels' shape + classes) = one_hot(labels); labels already range-checked.</summary>
    public static void OneHot(Tensor labels, Tensor hot, int classes)
    {
        var t = labels.ContiguousNoGrad();
        IndexRows.OneHot(Gpu(hot), S(t).DeviceReadInts().SubView(t.offset, t.Numel), default, Write(hot), classes, 1, int.MinValue);
    }
}
