// Strided loops: run a Map kernel over tensors whose layouts are arbitrary views (transposes,
// slices, broadcast stride-0 axes). The output is always a fresh contiguous tensor.
//
// Trick: first coalesce dimensions — adjacent dims merge when every operand steps through them as
// one (stride[d] == stride[d+1]·size[d+1]), and size-1 dims drop. A bias add (N,C,H,W)+(1,C,1,1)
// becomes [N, C, H·W] with the bias stride 0 along H·W, so the innermost loop is a Map kernel
// over a contiguous run with a scalar — SIMD speed on a broadcast.
using Denoise.Kernels.Cpu;
using Denoise.Kernels.Ops;

namespace Denoise;

internal static class Strided
{
    /// <summary>Strides of <paramref name="t"/> viewed at the broadcast shape <paramref name="outShape"/> (0 on broadcast axes).</summary>
    public static int[] BroadcastStrides(Tensor t, int[] outShape)
    {
        int r = outShape.Length, lead = r - t.Rank;
        var s = new int[r];
        for (int d = 0; d < r; d++)
            s[d] = d < lead || t.shape[d - lead] == 1 ? 0 : t.strides[d - lead];
        return s;
    }

    /// <summary>Merges dims where all operands are mergeable; drops size-1 dims. Output is contiguous.</summary>
    internal static (int[] shape, int[][] strides) Coalesce(int[] shape, params int[][] strides)
    {
        var outShape = new List<int>();
        var outStrides = strides.Select(_ => new List<int>()).ToArray();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            if (outShape.Count > 0)
            {
                int last = outShape.Count - 1;
                bool mergeable = true;
                for (int k = 0; k < strides.Length; k++)
                    if (outStrides[k][last] != strides[k][d] * shape[d]) { mergeable = false; break; }
                if (mergeable)
                {
                    outShape[last] *= shape[d];
                    for (int k = 0; k < strides.Length; k++) outStrides[k][last] = strides[k][d];
                    continue;
                }
            }
            outShape.Add(shape[d]);
            for (int k = 0; k < strides.Length; k++) outStrides[k].Add(strides[k][d]);
        }
        if (outShape.Count == 0) { outShape.Add(1); foreach (var l in outStrides) l.Add(0); }
        return (outShape.ToArray(), outStrides.Select(l => l.ToArray()).ToArray());
    }

    /// <summary>y = op(x) elementwise; x any view, y contiguous of x's shape.</summary>
    public static void Unary<TOp>(Tensor x, Tensor y) where TOp : struct, IUnaryOp
    {
        if (y.Numel == 0) return;
        if (y.Storage is GpuStorage && GpuOps.Unary<TOp>(x, y)) return;
        if (x.IsContiguous) { Map.Unary<TOp>(x.Span, y.Span); return; }
        var (shape, st) = Coalesce(x.shape, x.strides);
        var xs = st[0];
        var xd = x.Data; var yd = y.Data;
        int r = shape.Length, inner = shape[r - 1], innerStride = xs[r - 1];
        int outer = y.Numel / inner;
        var idx = new int[r];
        int xo = x.offset, yo = y.offset;
        for (int o = 0; o < outer; o++)
        {
            var dst = yd.AsSpan(yo, inner);
            if (innerStride == 1) Map.Unary<TOp>(xd.AsSpan(xo, inner), dst);
            else if (innerStride == 0) dst.Fill(TOp.Apply(xd[xo]));
            else for (int i = 0, p = xo; i < inner; i++, p += innerStride) dst[i] = TOp.Apply(xd[p]);
            yo += inner;
            for (int d = r - 2; d >= 0; d--)
            {
                xo += xs[d];
                if (++idx[d] < shape[d]) break;
                xo -= xs[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    /// <summary>y = op(a, b) with broadcasting; y contiguous of the broadcast shape.</summary>
    public static void Binary<TOp>(Tensor a, Tensor b, Tensor y) where TOp : struct, IBinaryOp
    {
        if (y.Numel == 0) return;
        if (y.Storage is GpuStorage && GpuOps.Binary<TOp>(a, b, y)) return;
        bool sameShape = ShapeUtil.Equal(a.Shape, y.Shape) && ShapeUtil.Equal(b.Shape, y.Shape);
        if (sameShape && a.IsContiguous && b.IsContiguous) { Map.Binary<TOp>(a.Span, b.Span, y.Span); return; }
        if (b.Numel == 1 && a.IsContiguous && a.Numel == y.Numel) { Map.BinaryScalarB<TOp>(a.Span, b.Data[b.offset], y.Span); return; }
        if (a.Numel == 1 && b.IsContiguous && b.Numel == y.Numel) { Map.BinaryScalarA<TOp>(a.Data[a.offset], b.Span, y.Span); return; }

        var (shape, st) = Coalesce(y.shape, BroadcastStrides(a, y.shape), BroadcastStrides(b, y.shape));
        int[] sa = st[0], sb = st[1];
        var ad = a.Data; var bd = b.Data; var yd = y.Data;
        int r = shape.Length, inner = shape[r - 1], ia = sa[r - 1], ib = sb[r - 1];
        int outer = y.Numel / inner;
        var idx = new int[r];
        int ao = a.offset, bo = b.offset, yo = y.offset;
        for (int o = 0; o < outer; o++)
        {
            var dst = yd.AsSpan(yo, inner);
            if (ia == 1 && ib == 1) Map.Binary<TOp>(ad.AsSpan(ao, inner), bd.AsSpan(bo, inner), dst);
            else if (ia == 1 && ib == 0) Map.BinaryScalarB<TOp>(ad.AsSpan(ao, inner), bd[bo], dst);
            else if (ia == 0 && ib == 1) Map.BinaryScalarA<TOp>(ad[ao], bd.AsSpan(bo, inner), dst);
            else for (int i = 0, pa = ao, pb = bo; i < inner; i++, pa += ia, pb += ib) dst[i] = TOp.Apply(ad[pa], bd[pb]);
            yo += inner;
            for (int d = r - 2; d >= 0; d--)
            {
                ao += sa[d]; bo += sb[d];
                if (++idx[d] < shape[d]) break;
                ao -= sa[d] * shape[d]; bo -= sb[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    /// <summary>Copies any Int32 view into a contiguous Int32 tensor of the same shape.</summary>
    public static void CopyInts(Tensor x, Tensor y)
    {
        if (y.Storage is GpuStorage && GpuOps.Copy(x, y)) return;
        var xs = x.IntData; var ys = y.IntSpan;
        var idx = new int[x.Rank];
        for (int i = 0; i < y.Numel; i++)
        {
            int p = x.offset;
            for (int d = 0; d < x.Rank; d++) p += idx[d] * x.strides[d];
            ys[i] = xs[p];
            for (int d = x.Rank - 1; d >= 0; d--) { if (++idx[d] < x.shape[d]) break; idx[d] = 0; }
        }
    }
}

internal static class StridedCopy
{
    /// <summary>
    /// y = x (y contiguous) when x is, after coalescing, a batch of transposed planes: stride 1 on the
    /// second-last dim, not on the last (x.Transpose(1, 2) of a contiguous (B, C, T)). Such a copy, element
    /// by element, reads every source element from a different cache line; TransposeCopy moves 16 × 16
    /// tiles in registers. False (nothing written) for any other layout.
    /// </summary>
    public static unsafe bool TryTransposed(Tensor x, Tensor y)
    {
        if (x.Rank < 2 || x.Numel < 256) return false;
        var (shape, st) = Strided.Coalesce(x.shape, x.strides);
        var sx = st[0];
        int r = shape.Length;
        if (r < 2) return false;
        int n1 = shape[r - 2], n2 = shape[r - 1], si = sx[r - 1];
        if (sx[r - 2] != 1 || si < n1 || n1 < 16 || n2 < 16) return false;
        int outer = y.Numel / (n1 * n2);
        var idx = new int[r];
        fixed (float* px = x.Data, py = y.Data)
        {
            float* src = px + x.offset, dst = py + y.offset;
            long so = 0;
            for (int o = 0; o < outer; o++)
            {
                // y plane o: y[i·n2 + j] = x[i + j·si], i < n1, j < n2 (x's rows j become y's columns).
                TransposeCopy.Run(src + so, si, dst + (long)o * n1 * n2, n2, n2, n1);
                for (int d = r - 3; d >= 0; d--)
                {
                    so += sx[d];
                    if (++idx[d] < shape[d]) break;
                    so -= (long)sx[d] * shape[d];
                    idx[d] = 0;
                }
            }
        }
        return true;
    }

    /// <summary>Copies contiguous inner blocks number first … first + count − 1 of a coalesced (shape, strides) pair.</summary>
    unsafe readonly struct BlockCopyJob(float* src, float* dst, int[] shape, int[] ss, int[] ds, int outer, int parts) : IParallelJob
    {
        public void Execute(int part)
        {
            var (first, count) = WorkerPool.Range(outer, parts, part);
            int r = shape.Length, inner = shape[r - 1];
            for (int o = first; o < first + count; o++)
            {
                long so = 0, dof = 0;
                for (int d = r - 2, rest = o; d >= 0; d--)   // block o's position: outer index in mixed radix
                {
                    int i = rest % shape[d]; rest /= shape[d];
                    so += (long)i * ss[d]; dof += (long)i * ds[d];
                }
                new ReadOnlySpan<float>(src + so, inner).CopyTo(new Span<float>(dst + dof, inner));
            }
        }
    }

    /// <summary>dst[...] = src[...] for two views of the same shape (dst may be a strided region of a bigger tensor).</summary>
    public static void Copy(Tensor src, Tensor dst)
    {
        if (dst.Numel == 0) return;
        if (dst.Storage is GpuStorage && GpuOps.Copy(src, dst)) return;
        var sd = src.Data; var dd = dst.Data;
        if (dst.Rank == 0) { dd[dst.offset] = sd[src.offset]; return; }
        // Merge the dims both sides step through as one: Cat along channels of NCHW then copies whole
        // (C_i·H·W) blocks instead of rows of W floats (M1's skip concatenations: rows of 7–28 floats).
        var (shape, st) = Strided.Coalesce(dst.shape, src.strides, dst.strides);
        var ss = st[0]; var ds = st[1];
        int r = shape.Length;
        int inner = shape[r - 1], si = ss[r - 1], di = ds[r - 1];
        int outer = dst.Numel / inner;
        if (si == 1 && di == 1 && outer > 1 && (long)outer * inner >= Map.ParallelThreshold && WorkerPool.Threads > 1)
        {
            // Large block copies (Cat of activations) on the pool: one core does not saturate memory.
            int parts = Math.Min(outer, WorkerPool.PartsFor((long)outer * inner, 1 << 16));
            unsafe
            {
                fixed (float* ps = sd, pd = dd)
                    WorkerPool.Run(new BlockCopyJob(ps + src.offset, pd + dst.offset, shape, ss, ds, outer, parts), parts);
            }
            return;
        }
        var idx = new int[r];
        int so = src.offset, dof = dst.offset;
        for (int o = 0; o < outer; o++)
        {
            if (si == 1 && di == 1) sd.AsSpan(so, inner).CopyTo(dd.AsSpan(dof, inner));
            else if (si == 0 && di == 1) dd.AsSpan(dof, inner).Fill(sd[so]);
            else for (int i = 0, ps = so, pd = dof; i < inner; i++, ps += si, pd += di) dd[pd] = sd[ps];
            for (int d = r - 2; d >= 0; d--)
            {
                so += ss[d]; dof += ds[d];
                if (++idx[d] < shape[d]) break;
                so -= ss[d] * shape[d]; dof -= ds[d] * shape[d];
                idx[d] = 0;
            }
        }
    }
}
