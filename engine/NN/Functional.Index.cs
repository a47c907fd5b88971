// Index-based nn functions: embedding, pooling (avg, max, adaptive avg), upsampling (nearest,
// bilinear), padding (constant, reflect, replicate). Semantics follow torch.nn.functional
// (embedding, avg_pool2d with count_include_pad=True, max_pool2d, adaptive_avg_pool2d,
// interpolate, pad); the rules quoted in each function are PyTorch's.
//
// How gradients work here:
//   - embedding, bilinear upsampling, reflect/replicate padding and nearest upsampling off the CPU are
//     compositions of IndexSelect (whose backward is IndexAdd and vice versa) with elementwise ops,
//     so they need no rule of their own.
//   - nearest upsampling on the CPU is one kernel pass (kernels/Cpu/Resample/Nearest.cs) with its
//     adjoint as backward, as average pooling below: the two IndexSelects and their ZerosLike +
//     IndexAdd backward were 14 ms of M1's step on 1 thread (35 ms on 2, the IndexAdds serial).
//   - average pooling (fixed and adaptive) is a linear map P: x ↦ y. One kernel pair does both
//     kinds: PoolForward computes P·x, PoolAdjoint computes Pᵀ·g. Each is recorded with the other as
//     its backward, so P's gradient is Pᵀ, Pᵀ's gradient is P, and second order works.
//   - max pooling computes flat argmax positions per (n, c) plane in its kernel; the backward
//     scatter-adds g at those positions (ScatterAdd, whose own backward is Gather).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~PoolingTests"
using System.Numerics.Tensors;
using Denoise.Kernels.Cpu;

namespace Denoise;

public static partial class F
{
    // ───────────────────── embedding ─────────────────────

    /// <summary>
    /// Rows of <paramref name="weight"/> (V, D) at Int32 <paramref name="ids"/> of any shape → (..., D).
    /// Repeated ids accumulate their gradients into the same row.
    /// </summary>
    public static Tensor Embedding(Tensor ids, Tensor weight)
    {
        if (ids.DType != DType.Int32) throw new ArgumentException($"embedding: ids of shape {ids.ShapeStr} are {ids.DType}; expected Int32.");
        if (weight.Rank != 2) throw new ArgumentException($"embedding: weight{weight.NameSuffix} must be (V, D), got shape {weight.ShapeStr}.");
        int D = weight.Shape[1];
        var rows = weight.IndexSelect(0, ids.Reshape(-1));     // (ids.Numel, D)
        return rows.Reshape([.. ids.Shape, D]);                // (..., D)
    }

    // ───────────────────── average pooling ─────────────────────

    /// <summary>
    /// 2-D average pooling of (N, C, H, W), count_include_pad = true (the PyTorch default): every
    /// window is divided by kernel², padded zeros included. Output size ⌊(H + 2p − k)/s⌋ + 1.
    /// </summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int? stride = null, int padding = 0) =>
        AvgPool2d(x, (kernel, kernel), stride is int s ? (s, s) : null, (padding, padding));

    public static Tensor AvgPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null, (int H, int W) padding = default)
    {
        const string op = "avg_pool2d";
        var (N, C, H, W) = Check4d(x, op);
        var s = stride ?? kernel;
        var (hs, he, hScale) = FixedWindows(op, "height", H, kernel.H, s.H, padding.H);
        var (ws, we, wScale) = FixedWindows(op, "width", W, kernel.W, s.W, padding.W);
        return PoolForward(x, new PoolWindows(H, W, hs, he, hScale, ws, we, wScale));
    }

    /// <summary>
    /// Adaptive average pooling to (outH, outW): output row i averages input rows
    /// [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) (windows may overlap), likewise for columns.
    /// </summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, (int H, int W) outputSize)
    {
        const string op = "adaptive_avg_pool2d";
        var (N, C, H, W) = Check4d(x, op);
        if (outputSize.H <= 0 || outputSize.W <= 0)
            throw new ArgumentException($"{op}: output size ({outputSize.H}, {outputSize.W}) must be positive (input shape {x.ShapeStr}).");
        var (hs, he, hScale) = AdaptiveWindows(H, outputSize.H);
        var (ws, we, wScale) = AdaptiveWindows(W, outputSize.W);
        return PoolForward(x, new PoolWindows(H, W, hs, he, hScale, ws, we, wScale));
    }

    public static Tensor AdaptiveAvgPool2d(Tensor x, int outputSize) => AdaptiveAvgPool2d(x, (outputSize, outputSize));

    /// <summary>
    /// Separable window description of an average pool: output (i, j) is
    /// RowScale[i]·ColScale[j]·Σ x[h, w] over h ∈ [Hs[i], He[i]), w ∈ [Ws[j], We[j]) (already clipped
    /// to the input). Both fixed and adaptive pooling have a divisor that factors this way.
    /// </summary>
    sealed record PoolWindows(int H, int W, int[] Hs, int[] He, float[] RowScale, int[] Ws, int[] We, float[] ColScale)
    {
        public int Ho => Hs.Length;
        public int Wo => Ws.Length;
    }

    static (int[] start, int[] end, float[] scale) FixedWindows(string op, string axis, int size, int k, int s, int p)
    {
        if (k <= 0 || s <= 0 || p < 0)
            throw new ArgumentException($"{op}: kernel {k} and stride {s} must be positive and padding {p} non-negative ({axis}).");
        if (p > k / 2)
            throw new ArgumentException($"{op}: padding {p} must be at most half the kernel size {k} ({axis}).");
        int outSize = (size + 2 * p - k) / s + 1;
        if (size + 2 * p < k || outSize <= 0)
            throw new ArgumentException($"{op}: kernel {k} is larger than the padded input {axis} {size} + 2·{p}.");
        var start = new int[outSize]; var end = new int[outSize]; var scale = new float[outSize];
        for (int i = 0; i < outSize; i++)
        {
            int a = i * s - p;
            start[i] = Math.Max(a, 0);
            end[i] = Math.Min(a + k, size);
            scale[i] = 1f / k;   // count_include_pad: the padded positions count in the divisor
        }
        return (start, end, scale);
    }

    static (int[] start, int[] end, float[] scale) AdaptiveWindows(int size, int outSize)
    {
        var start = new int[outSize]; var end = new int[outSize]; var scale = new float[outSize];
        for (int i = 0; i < outSize; i++)
        {
            start[i] = (int)((long)i * size / outSize);                               // ⌊i·H/out⌋
            end[i] = (int)(((long)(i + 1) * size + outSize - 1) / outSize);           // ⌈(i+1)·H/out⌉
            scale[i] = 1f / (end[i] - start[i]);
        }
        return (start, end, scale);
    }

    /// <summary>y = P·x (recorded; backward is PoolAdjoint).</summary>
    static Tensor PoolForward(Tensor x, PoolWindows pw)
    {
        int N = x.Shape[0], C = x.Shape[1];
        var y = Tensor.Empty([N, C, pw.Ho, pw.Wo], DType.Float32, x.Device);
        var xc = x.ContiguousNoGrad();
        if (y.Storage is GpuStorage)
        {
            GpuOps.AvgPool(xc, y, N * C, pw.H, pw.W, pw.Hs, pw.He, pw.RowScale, pw.Ws, pw.We, pw.ColScale);
            return Autograd.Record("avg_pool2d", y, [x], g => [x.RequiresGrad ? PoolAdjoint(g, pw) : null]);
        }
        var xs = xc.Data; int xo = xc.Offset;
        var yd = y.Data; int yo = y.Offset;
        int planeIn = pw.H * pw.W, planeOut = pw.Ho * pw.Wo;
        ForPlanes(N * C, planeOut * (pw.He[0] - pw.Hs[0]) * (pw.We[0] - pw.Ws[0]), p =>
        {
            var src = xs.AsSpan(xo + p * planeIn, planeIn);
            var dst = yd.AsSpan(yo + p * planeOut, planeOut);
            for (int i = 0; i < pw.Ho; i++)
                for (int j = 0; j < pw.Wo; j++)
                {
                    float sum = 0f;
                    int w0 = pw.Ws[j], len = pw.We[j] - w0;
                    for (int h = pw.Hs[i]; h < pw.He[i]; h++) sum += TensorPrimitives.Sum(src.Slice(h * pw.W + w0, len));
                    dst[i * pw.Wo + j] = sum * pw.RowScale[i] * pw.ColScale[j];
                }
        });
        return Autograd.Record("avg_pool2d", y, [x], g => [x.RequiresGrad ? PoolAdjoint(g, pw) : null]);
    }

    /// <summary>dx = Pᵀ·g: each output's scaled gradient spread over its window (recorded; backward is PoolForward).</summary>
    static Tensor PoolAdjoint(Tensor g, PoolWindows pw)
    {
        int N = g.Shape[0], C = g.Shape[1];
        var gc = g.ContiguousNoGrad();
        if (g.Storage is GpuStorage)
        {
            var dxg = Tensor.Empty([N, C, pw.H, pw.W], DType.Float32, g.Device);
            GpuOps.AvgPoolAdjoint(gc, dxg, N * C, pw.H, pw.W, pw.Hs, pw.He, pw.RowScale, pw.Ws, pw.We, pw.ColScale);
            return Autograd.Record("avg_pool2d_backward", dxg, [g], gg => [g.RequiresGrad ? PoolForward(gg, pw) : null]);
        }
        var dx = Tensor.Full([N, C, pw.H, pw.W], 0f, g.Device);
        var gd = gc.Data; int go = gc.Offset;
        var dd = dx.Data; int dof = dx.Offset;
        int planeIn = pw.H * pw.W, planeOut = pw.Ho * pw.Wo;
        ForPlanes(N * C, planeOut * (pw.He[0] - pw.Hs[0]) * (pw.We[0] - pw.Ws[0]), p =>
        {
            var src = gd.AsSpan(go + p * planeOut, planeOut);
            var dst = dd.AsSpan(dof + p * planeIn, planeIn);
            for (int i = 0; i < pw.Ho; i++)
                for (int j = 0; j < pw.Wo; j++)
                {
                    float v = src[i * pw.Wo + j] * pw.RowScale[i] * pw.ColScale[j];
                    int w0 = pw.Ws[j], len = pw.We[j] - w0;
                    for (int h = pw.Hs[i]; h < pw.He[i]; h++)
                    {
                        var row = dst.Slice(h * pw.W + w0, len);
                        TensorPrimitives.Add(row, v, row);
                    }
                }
        });
        return Autograd.Record("avg_pool2d_backward", dx, [g], gg => [g.RequiresGrad ? PoolForward(gg, pw) : null]);
    }

    /// <summary>Runs body over (n, c) planes, in parallel when there is enough work to pay for it.</summary>
    static void ForPlanes(int planes, long workPerPlane, Action<int> body)
    {
        if (planes > 1 && planes * workPerPlane >= 1 << 16) Parallel.For(0, planes, body);
        else for (int p = 0; p < planes; p++) body(p);
    }

    // ───────────────────── max pooling ─────────────────────

    /// <summary>
    /// 2-D max pooling of (N, C, H, W); padding counts as −∞ (never chosen). The gradient goes to
    /// the first maximum in each window (row-major scan order, as PyTorch's CPU kernel).
    /// </summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int? stride = null, int padding = 0) =>
        MaxPool2dWithIndices(x, (kernel, kernel), stride is int s ? (s, s) : null, (padding, padding)).Values;

    public static Tensor MaxPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null, (int H, int W) padding = default) =>
        MaxPool2dWithIndices(x, kernel, stride, padding).Values;

    /// <summary>
    /// Max pooling that also returns, per output, the flat position h·W + w of the chosen input in
    /// its (n, c) plane (Int32, shape (N, C, Ho, Wo)), like max_pool2d(return_indices=True).
    /// </summary>
    public static (Tensor Values, Tensor Indices) MaxPool2dWithIndices(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null, (int H, int W) padding = default)
    {
        const string op = "max_pool2d";
        var (N, C, H, W) = Check4d(x, op);
        var s = stride ?? kernel;
        var (hs, he, _) = FixedWindows(op, "height", H, kernel.H, s.H, padding.H);
        var (ws, we, _) = FixedWindows(op, "width", W, kernel.W, s.W, padding.W);
        int Ho = hs.Length, Wo = ws.Length;
        var y = Tensor.Empty([N, C, Ho, Wo], DType.Float32, x.Device);
        var idx = Tensor.Empty([N, C, Ho, Wo], DType.Int32, x.Device);
        var xc = x.ContiguousNoGrad();
        int planeIn = H * W, planeOut = Ho * Wo;
        if (y.Storage is GpuStorage) GpuOps.MaxPool(xc, y, idx, N * C, H, W, hs, he, ws, we);
        else MaxPoolHost(xc, y, idx, hs, he, ws, we, N * C, W, planeIn, planeOut, kernel);
        var values = Autograd.Record(op, y, [x], g =>
        {
            // Backward: g scatter-added at the argmax positions of each plane (a recorded ScatterAdd,
            // whose own backward gathers at the same positions).
            var flat = idx.Reshape(N, C, planeOut);
            var dx = Tensor.Full([N, C, planeIn], 0f, g.Device).ScatterAdd(2, flat, g.Reshape(N, C, planeOut));
            return [dx.Reshape(N, C, H, W)];
        });
        return (values, idx);
    }

    static void MaxPoolHost(Tensor xc, Tensor y, Tensor idx, int[] hs, int[] he, int[] ws, int[] we, int planes, int W, int planeIn, int planeOut, (int H, int W) kernel)
    {
        int Ho = hs.Length, Wo = ws.Length;
        var xd = xc.Data; int xo = xc.Offset;
        var yd = y.Data; var id = idx.IntData;
        ForPlanes(planes, planeOut * kernel.H * kernel.W, p =>
        {
            var src = xd.AsSpan(xo + p * planeIn, planeIn);
            int o = p * planeOut;
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++, o++)
                {
                    float best = float.NegativeInfinity; int at = hs[i] * W + ws[j];
                    for (int h = hs[i]; h < he[i]; h++)
                        for (int w = ws[j]; w < we[j]; w++)
                        {
                            float v = src[h * W + w];
                            if (v > best || float.IsNaN(v)) { best = v; at = h * W + w; if (float.IsNaN(v)) goto done; }
                        }
                    done:
                    yd[y.Offset + o] = best; id[idx.Offset + o] = at;
                }
        });
    }

    // ───────────────────── upsampling ─────────────────────

    /// <summary>
    /// Resizes (N, C, H, W) by <paramref name="scaleFactor"/> (output ⌊H·s⌋ × ⌊W·s⌋), like
    /// F.interpolate(scale_factor=s). mode "nearest" or "bilinear".
    /// </summary>
    public static Tensor Upsample(Tensor x, float scaleFactor, string mode = "nearest", bool alignCorners = false)
    {
        var (_, _, H, W) = Check4d(x, "upsample");
        if (!(scaleFactor > 0) || float.IsInfinity(scaleFactor))
            throw new ArgumentException($"upsample: scale factor must be positive and finite, got {scaleFactor} (input shape {x.ShapeStr}).");
        int Ho = (int)Math.Floor(H * (double)scaleFactor), Wo = (int)Math.Floor(W * (double)scaleFactor);
        // With scale_factor given, PyTorch maps coordinates with 1/scale_factor rather than in/out.
        return Resize(x, Ho, Wo, 1f / scaleFactor, 1f / scaleFactor, mode, alignCorners, "upsample");
    }

    /// <summary>Resizes (N, C, H, W) to <paramref name="size"/>, like F.interpolate(size=...). mode "nearest" or "bilinear".</summary>
    public static Tensor Interpolate(Tensor x, (int H, int W) size, string mode = "nearest", bool alignCorners = false)
    {
        var (_, _, H, W) = Check4d(x, "interpolate");
        return Resize(x, size.H, size.W, (float)H / size.H, (float)W / size.W, mode, alignCorners, "interpolate");
    }

    static Tensor Resize(Tensor x, int Ho, int Wo, float scaleH, float scaleW, string mode, bool alignCorners, string op)
    {
        int H = x.Shape[2], W = x.Shape[3];
        if (Ho <= 0 || Wo <= 0)
            throw new ArgumentException($"{op}: output size ({Ho}, {Wo}) must be positive (input shape {x.ShapeStr}).");
        switch (mode)
        {
            case "nearest":
                if (alignCorners) throw new ArgumentException($"{op}: alignCorners only applies to bilinear mode, not '{mode}'.");
                // PyTorch's legacy nearest rule: src = min(⌊dst·scale⌋, in − 1), computed in float.
                if (x.Device == Device.Cpu)
                    return NearestForward(x, new NearestTables(H, W, NearestSource(H, Ho, scaleH), NearestSource(W, Wo, scaleW)));
                return x.IndexSelect(2, NearestIndex(H, Ho, scaleH).To(x.Device)).IndexSelect(3, NearestIndex(W, Wo, scaleW).To(x.Device));
            case "bilinear":
                var (h0, h1, hw0, hw1) = LinearTaps(H, Ho, scaleH, alignCorners, x.Device);
                var rows = x.IndexSelect(2, h0) * hw0.Reshape(1, 1, Ho, 1) + x.IndexSelect(2, h1) * hw1.Reshape(1, 1, Ho, 1);
                var (w0, w1, ww0, ww1) = LinearTaps(W, Wo, scaleW, alignCorners, x.Device);
                return rows.IndexSelect(3, w0) * ww0.Reshape(1, 1, 1, Wo) + rows.IndexSelect(3, w1) * ww1.Reshape(1, 1, 1, Wo);
            default:
                throw new ArgumentException($"{op}: unknown mode '{mode}'; expected \"nearest\" or \"bilinear\".");
        }
    }

    static Tensor NearestIndex(int inSize, int outSize, float scale)
    {
        var idx = NearestSource(inSize, outSize, scale);
        return Tensor.FromArray(idx, outSize);
    }

    static int[] NearestSource(int inSize, int outSize, float scale)
    {
        var idx = new int[outSize];
        for (int i = 0; i < outSize; i++) idx[i] = Math.Min((int)MathF.Floor(i * scale), inSize - 1);
        return idx;
    }

    /// <summary>Source row of each output row (Hi) and column (Wi) of a nearest resize from H × W.</summary>
    sealed record NearestTables(int H, int W, int[] Hi, int[] Wi);

    /// <summary>
    /// Nearest resize on the CPU as one kernel pass (kernels/Cpu/Resample/Nearest.cs), recorded with
    /// its adjoint as backward and vice versa (a linear map: second order works, as for PoolForward).
    /// On other devices Resize composes two IndexSelects instead.
    /// </summary>
    static Tensor NearestForward(Tensor x, NearestTables t)
    {
        int N = x.Shape[0], C = x.Shape[1];
        var s = new NearestShape(N * C, t.H, t.W, t.Hi.Length, t.Wi.Length);
        var y = Tensor.Empty([N, C, s.Ho, s.Wo], DType.Float32, x.Device);
        Nearest.Forward(x.ContiguousNoGrad().Span, y.Span, t.Hi, t.Wi, s);
        return Autograd.Record("upsample_nearest", y, [x], g => [x.RequiresGrad ? NearestAdjoint(g, t) : null]);
    }

    /// <summary>dx = the nearest resize's transpose applied to g (N, C, Ho, Wo) → (N, C, H, W).</summary>
    static Tensor NearestAdjoint(Tensor g, NearestTables t)
    {
        int N = g.Shape[0], C = g.Shape[1];
        var s = new NearestShape(N * C, t.H, t.W, t.Hi.Length, t.Wi.Length);
        var dx = Tensor.Empty([N, C, t.H, t.W], DType.Float32, g.Device);
        Nearest.Adjoint(g.ContiguousNoGrad().Span, dx.Span, t.Hi, t.Wi, s);
        return Autograd.Record("upsample_nearest_backward", dx, [g], gg => [g.RequiresGrad ? NearestForward(gg, t) : null]);
    }

    /// <summary>
    /// Two source taps and their weights per output position. align_corners=false:
    /// src = max(scale·(dst + ½) − ½, 0); align_corners=true: src = dst·(in − 1)/(out − 1).
    /// Taps i0 = ⌊src⌋, i1 = min(i0 + 1, in − 1); weights 1 − λ and λ = src − i0.
    /// </summary>
    static (Tensor i0, Tensor i1, Tensor w0, Tensor w1) LinearTaps(int inSize, int outSize, float scale, bool alignCorners, Device device)
    {
        var a = new int[outSize]; var b = new int[outSize];
        var wa = new float[outSize]; var wb = new float[outSize];
        float s = alignCorners ? (outSize > 1 ? (float)(inSize - 1) / (outSize - 1) : 0f) : scale;
        for (int i = 0; i < outSize; i++)
        {
            float src = alignCorners ? s * i : Math.Max(s * (i + 0.5f) - 0.5f, 0f);
            int i0 = Math.Min((int)src, inSize - 1);
            a[i] = i0;
            b[i] = Math.Min(i0 + 1, inSize - 1);
            float lambda = Math.Clamp(src - i0, 0f, 1f);
            wa[i] = 1f - lambda; wb[i] = lambda;
        }
        return (Tensor.FromArray(a, outSize).To(device), Tensor.FromArray(b, outSize).To(device), Tensor.FromArray(wa, outSize).To(device), Tensor.FromArray(wb, outSize).To(device));
    }

    // ───────────────────── padding ─────────────────────

    /// <summary>
    /// Pads the last pad.Length/2 dimensions, PyTorch order: (left, right) of the last dim, then
    /// (top, bottom) of the one before, … mode "constant" (fill with value; negative pads crop),
    /// "reflect" (mirror without repeating the edge; each pad &lt; that dim's size) or "replicate"
    /// (repeat the edge).
    /// </summary>
    public static Tensor Pad(Tensor x, int[] pad, string mode = "constant", float value = 0f)
    {
        const string op = "pad";
        if (pad.Length % 2 != 0 || pad.Length / 2 > x.Rank)
            throw new ArgumentException($"{op}: pad {ShapeUtil.Str(pad)} must have an even length of at most 2·rank = {2 * x.Rank} for input of shape {x.ShapeStr}.");
        int R = x.Rank;
        var before = new int[R]; var after = new int[R];
        for (int k = 0; k < pad.Length / 2; k++) { before[R - 1 - k] = pad[2 * k]; after[R - 1 - k] = pad[2 * k + 1]; }

        switch (mode)
        {
            case "constant":
            {
                // Negative pads crop first (as torch's constant pad does), then the rest is a plain pad.
                var y = x;
                for (int d = 0; d < R; d++)
                {
                    int lo = Math.Max(-before[d], 0), hi = Math.Max(-after[d], 0);
                    if (lo + hi > x.Shape[d])
                        throw new ArgumentException($"{op}: negative padding ({-lo}, {-hi}) removes more than dimension {d} of size {x.Shape[d]} (input shape {x.ShapeStr}).");
                    if (lo + hi > 0) y = y.Narrow(d, lo, x.Shape[d] - lo - hi);
                }
                var b = before.Select(v => Math.Max(v, 0)).ToArray();
                var a = after.Select(v => Math.Max(v, 0)).ToArray();
                return b.Any(v => v > 0) || a.Any(v => v > 0) ? y.PadDims(b, a, value) : y;
            }
            case "reflect":
            case "replicate":
            {
                var y = x;
                for (int d = 0; d < R; d++)
                {
                    if (before[d] == 0 && after[d] == 0) continue;
                    int n = x.Shape[d];
                    if (before[d] < 0 || after[d] < 0)
                        throw new ArgumentException($"{op}: {mode} padding must be non-negative, got ({before[d]}, {after[d]}) for dimension {d} (input shape {x.ShapeStr}).");
                    if (mode == "reflect" && (before[d] >= n || after[d] >= n))
                        throw new ArgumentException($"{op}: reflect padding ({before[d]}, {after[d]}) must be less than dimension {d} of size {n} (input shape {x.ShapeStr}).");
                    if (n == 0)
                        throw new ArgumentException($"{op}: cannot {mode}-pad the empty dimension {d} (input shape {x.ShapeStr}).");
                    y = y.IndexSelect(d, PadIndex(n, before[d], after[d], mode == "reflect").To(y.Device));
                }
                return y;
            }
            default:
                throw new ArgumentException($"{op}: unknown mode '{mode}'; expected \"constant\", \"reflect\" or \"replicate\".");
        }
    }

    /// <summary>Source position of each padded position: reflect mirrors about the edge element (−1 → 1), replicate clamps.</summary>
    static Tensor PadIndex(int n, int lo, int hi, bool reflect)
    {
        var idx = new int[lo + n + hi];
        for (int i = 0; i < idx.Length; i++)
        {
            int s = i - lo;
            if (reflect) { if (s < 0) s = -s; else if (s >= n) s = 2 * (n - 1) - s; }
            else s = Math.Clamp(s, 0, n - 1);
            idx[i] = s;
        }
        return Tensor.FromArray(idx, idx.Length);
    }

    // ───────────────────── helpers ─────────────────────

    static (int N, int C, int H, int W) Check4d(Tensor x, string op)
    {
        x.CheckFloat(op);
        if (x.Rank != 4) throw new ArgumentException($"{op}: expected a 4-D (N, C, H, W) input, got tensor{x.NameSuffix} of shape {x.ShapeStr}.");
        return (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
    }
}
