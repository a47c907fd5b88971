// Attention/FlashAttention.V2.cs — V2MicroTiles: V1's algorithm, tiles, shared layout and loop order
// (FlashAttention.cs), with every block product computed as 2×2 micro-tiles per thread. In V1 a thread
// computes one output of a product at a time, two shared-memory loads per multiply-add; here it computes
// rows (r, r + ⌈rows/2⌉) × columns (c, c + ⌈cols/2⌉) together, two loads per two multiply-adds — half the
// shared traffic, which bounds V1 (all its products read both operands from shared memory). Columns
// stay the fast thread index, so the bank pattern is V1's. Rows or columns of odd count leave the last
// micro-tile half empty: its loads are clamped into the tile and its results dropped.
// Same results as V1 up to float rounding order (each sum still runs over k in order).
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedKernels
// Bench: bench/GpuBench ("fused": V1 and V2 side by side), through bench/gpu/run-on-device.sh
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static partial class FlashAttention
{
    /// <summary>The four sums Σ_k A[a + i·aStep + k·ak]·B[b + j·bStep + k·bk] for i, j ∈ {0, 1}, as (C0, C1, C2, C3) = (00, 01, 10, 11).</summary>
    static Row4 Dot2x2(ArrayView<float> sh, int a, int aStep, int ak, int b, int bStep, int bk, int K)
    {
        float s00 = 0f, s01 = 0f, s10 = 0f, s11 = 0f;
        for (int k = 0; k < K; k++)
        {
            float x0 = sh[a], x1 = sh[a + aStep], y0 = sh[b], y1 = sh[b + bStep];
            s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
            a += ak;
            b += bk;
        }
        return new Row4 { C0 = s00, C1 = s01, C2 = s10, C3 = s11 };
    }

    /// <summary>Micro-tile m of a rows × cols product: rows R0, R1 = R0 + ⌈rows/2⌉ and columns C0, C1 = C0 + ⌈cols/2⌉,
    /// the second ones clamped into range when they do not exist (RowOk, ColOk). A value, not out
    /// parameters: ILGPU puts out-parameter locals in .local memory.</summary>
    readonly struct MicroTile
    {
        public readonly int R0, R1, C0, C1;
        public readonly bool RowOk, ColOk;

        public MicroTile(int m, int rows, int cols)
        {
            int hr = (rows + 1) >> 1, hc = (cols + 1) >> 1;
            R0 = m / hc;
            C0 = m - R0 * hc;
            RowOk = R0 + hr < rows;
            ColOk = C0 + hc < cols;
            R1 = RowOk ? R0 + hr : R0;
            C1 = ColOk ? C0 + hc : C0;
        }
    }

    static int MicroCount(int rows, int cols) => ((rows + 1) >> 1) * ((cols + 1) >> 1);

    // ───────────────────────────── forward ─────────────────────────────

    public static void V2ForwardKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, FlashArgs a)
    {
        var sh = SharedMemory.GetDynamic<float>();
        int Br = a.Br, Bc = a.Bc, D = a.D, Dv = a.Dv, ldk = D + 1;
        int sQ = 0, sK = sQ + Br * D, sV = sK + Bc * ldk, sS = sV + Bc * Dv, sO = sS + Br * Bc, sM = sO + Br * Dv, sL = sM + Br, sA = sL + Br;
        int tid = Group.IdxX, nt = Group.DimX, gridStride = Grid.DimX;
        int qBlocks = (a.Tq + Br - 1) / Br, work = a.B * a.H * qBlocks;
        for (int w = Grid.IdxX; w < work; w += gridStride)
        {
            int bh = w / qBlocks, q0 = (w - bh * qBlocks) * Br, b = bh / a.H, h = bh - b * a.H;
            int rows = Math.Min(Br, a.Tq - q0);
            int kBase = a.K.Offset + b * a.K.StrideB + h * a.K.StrideH, vBase = a.V.Offset + b * a.V.StrideB + h * a.V.StrideH;
            LoadRows(q, a.Q.Offset + b * a.Q.StrideB + h * a.Q.StrideH + q0 * a.Q.StrideT, a.Q.StrideT, rows, D, sh, sQ, D);
            for (int i = tid; i < rows * Dv; i += nt) sh[sO + i] = 0f;
            for (int r = tid; r < rows; r += nt) { sh[sM + r] = float.NegativeInfinity; sh[sL + r] = 0f; }
            int kEnd = a.Causal != 0 ? Math.Min(a.Tk, q0 + rows) : a.Tk;
            for (int k0 = 0; k0 < kEnd; k0 += Bc)
            {
                int cols = Math.Min(Bc, a.Tk - k0);
                Group.Barrier();
                LoadRows(k, kBase + k0 * a.K.StrideT, a.K.StrideT, cols, D, sh, sK, ldk);
                LoadRows(v, vBase + k0 * a.V.StrideT, a.V.StrideT, cols, Dv, sh, sV, Dv);
                Group.Barrier();
                // S = scale·Q·Kᵀ in 2×2 micro-tiles, −∞ where causal masks
                for (int m = tid; m < MicroCount(rows, cols); m += nt)
                {
                    var t = new MicroTile(m, rows, cols);
                    int r0 = t.R0, r1 = t.R1, c0 = t.C0, c1 = t.C1;
                    bool rowOk = t.RowOk, colOk = t.ColOk;
                    var s = Dot2x2(sh, sQ + r0 * D, (r1 - r0) * D, 1, sK + c0 * ldk, (c1 - c0) * ldk, 1, D);
                    StoreScore(sh, sS + r0 * Bc + c0, s.C0, a, q0 + r0, k0 + c0);
                    if (colOk) StoreScore(sh, sS + r0 * Bc + c1, s.C1, a, q0 + r0, k0 + c1);
                    if (rowOk) StoreScore(sh, sS + r1 * Bc + c0, s.C2, a, q0 + r1, k0 + c0);
                    if (rowOk && colOk) StoreScore(sh, sS + r1 * Bc + c1, s.C3, a, q0 + r1, k0 + c1);
                }
                Group.Barrier();
                // online softmax, a thread per row (as V1)
                for (int r = tid; r < rows; r += nt)
                {
                    int sr = sS + r * Bc;
                    float mOld = sh[sM + r], mNew = mOld, alpha = 1f, sum = 0f;
                    for (int c = 0; c < cols; c++) mNew = MathF.Max(mNew, sh[sr + c]);
                    if (mNew == float.NegativeInfinity)
                        for (int c = 0; c < cols; c++) sh[sr + c] = 0f;
                    else
                    {
                        alpha = MathF.Exp(mOld - mNew);
                        for (int c = 0; c < cols; c++) { float p = MathF.Exp(sh[sr + c] - mNew); sh[sr + c] = p; sum += p; }
                    }
                    sh[sL + r] = sh[sL + r] * alpha + sum;
                    sh[sM + r] = mNew;
                    sh[sA + r] = alpha;
                }
                Group.Barrier();
                // O = diag(α)·O + P·V in 2×2 micro-tiles of (row, value column)
                for (int m = tid; m < MicroCount(rows, Dv); m += nt)
                {
                    var t = new MicroTile(m, rows, Dv);
                    int r0 = t.R0, r1 = t.R1, e0 = t.C0, e1 = t.C1;
                    bool rowOk = t.RowOk, colOk = t.ColOk;
                    var pv = Dot2x2(sh, sS + r0 * Bc, (r1 - r0) * Bc, 1, sV + e0, e1 - e0, Dv, cols);
                    Rescale(sh, sO + r0 * Dv + e0, sh[sA + r0], pv.C0);
                    if (colOk) Rescale(sh, sO + r0 * Dv + e1, sh[sA + r0], pv.C1);
                    if (rowOk) Rescale(sh, sO + r1 * Dv + e0, sh[sA + r1], pv.C2);
                    if (rowOk && colOk) Rescale(sh, sO + r1 * Dv + e1, sh[sA + r1], pv.C3);
                }
            }
            Group.Barrier();
            int oBase = (bh * a.Tq + q0) * Dv;
            for (int i = tid; i < rows * Dv; i += nt) o[oBase + i] = sh[sO + i] / sh[sL + i / Dv];
            for (int r = tid; r < rows; r += nt) lse[bh * a.Tq + q0 + r] = sh[sM + r] + MathF.Log(sh[sL + r]);
            Group.Barrier();
        }
    }

    static void StoreScore(ArrayView<float> sh, int at, float dot, FlashArgs a, int i, int j) =>
        sh[at] = a.Causal == 0 || j <= i ? dot * a.Scale : float.NegativeInfinity;

    static void Rescale(ArrayView<float> sh, int at, float alpha, float add) => sh[at] = sh[at] * alpha + add;

    // ───────────────────────────── backward ─────────────────────────────

    /// <summary>V1's ScoresAndGrads in 2×2 micro-tiles: P and dS of one (query block, key block) pair.</summary>
    static void V2ScoresAndGrads(ArrayView<float> sh, int sQ, int sG, int sK, int sV, int sLse, int sDelta, int sP, int sDS,
        int rows, int cols, int q0, int k0, FlashArgs a)
    {
        int D = a.D, Dv = a.Dv, ldk = D + 1, ldv = Dv + 1, Bc = a.Bc, tid = Group.IdxX, nt = Group.DimX;
        for (int m = tid; m < MicroCount(rows, cols); m += nt)
        {
            var t = new MicroTile(m, rows, cols);
            int r0 = t.R0, r1 = t.R1, c0 = t.C0, c1 = t.C1;
            bool rowOk = t.RowOk, colOk = t.ColOk;
            var s = Dot2x2(sh, sQ + r0 * D, (r1 - r0) * D, 1, sK + c0 * ldk, (c1 - c0) * ldk, 1, D);
            var dp = Dot2x2(sh, sG + r0 * Dv, (r1 - r0) * Dv, 1, sV + c0 * ldv, (c1 - c0) * ldv, 1, Dv);
            StoreGrad(sh, sP, sDS, r0, c0, s.C0, dp.C0, q0, k0, sLse, sDelta, Bc, a);
            if (colOk) StoreGrad(sh, sP, sDS, r0, c1, s.C1, dp.C1, q0, k0, sLse, sDelta, Bc, a);
            if (rowOk) StoreGrad(sh, sP, sDS, r1, c0, s.C2, dp.C2, q0, k0, sLse, sDelta, Bc, a);
            if (rowOk && colOk) StoreGrad(sh, sP, sDS, r1, c1, s.C3, dp.C3, q0, k0, sLse, sDelta, Bc, a);
        }
    }

    static void StoreGrad(ArrayView<float> sh, int sP, int sDS, int r, int c, float s, float dp, int q0, int k0, int sLse, int sDelta, int Bc, FlashArgs a)
    {
        float p = 0f, ds = 0f;
        if (a.Causal == 0 || k0 + c <= q0 + r)
        {
            p = MathF.Exp(s * a.Scale - sh[sLse + r]);
            ds = p * (dp - sh[sDelta + r]);
        }
        if (sP >= 0) sh[sP + r * Bc + c] = p;
        sh[sDS + r * Bc + c] = ds;
    }

    /// <summary>acc[i·ld + e] += Σ_r X[r·Bc + i]·Y[r·ldy + e] over r &lt; rows, for i &lt; n, e &lt; C (a transposed-A block product).</summary>
    static void AddTransposedProduct(ArrayView<float> sh, int acc, int x, int y, int ldy, int rows, int n, int C, int Bc)
    {
        int tid = Group.IdxX, nt = Group.DimX;
        for (int m = tid; m < MicroCount(n, C); m += nt)
        {
            var t = new MicroTile(m, n, C);
            int i0 = t.R0, i1 = t.R1, e0 = t.C0, e1 = t.C1;
            bool rowOk = t.RowOk, colOk = t.ColOk;
            var s = Dot2x2(sh, x + i0, i1 - i0, Bc, y + e0, e1 - e0, ldy, rows);
            sh[acc + i0 * C + e0] += s.C0;
            if (colOk) sh[acc + i0 * C + e1] += s.C1;
            if (rowOk) sh[acc + i1 * C + e0] += s.C2;
            if (rowOk && colOk) sh[acc + i1 * C + e1] += s.C3;
        }
    }

    public static void V2KeyGradsKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> g,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv, FlashArgs a)
    {
        var sh = SharedMemory.GetDynamic<float>();
        int Br = a.Br, Bc = a.Bc, D = a.D, Dv = a.Dv;
        int sK = 0, sV = sK + Bc * (D + 1), sdK = sV + Bc * (Dv + 1), sdV = sdK + Bc * D, sQ = sdV + Bc * Dv, sG = sQ + Br * D,
            sP = sG + Br * Dv, sDS = sP + Br * Bc, sLse = sDS + Br * Bc, sDelta = sLse + Br;
        int tid = Group.IdxX, nt = Group.DimX, gridStride = Grid.DimX;
        int kBlocks = (a.Tk + Bc - 1) / Bc, work = a.B * a.H * kBlocks;
        for (int w = Grid.IdxX; w < work; w += gridStride)
        {
            int bh = w / kBlocks, k0 = (w - bh * kBlocks) * Bc, b = bh / a.H, h = bh - b * a.H;
            int cols = Math.Min(Bc, a.Tk - k0);
            LoadRows(k, a.K.Offset + b * a.K.StrideB + h * a.K.StrideH + k0 * a.K.StrideT, a.K.StrideT, cols, D, sh, sK, D + 1);
            LoadRows(v, a.V.Offset + b * a.V.StrideB + h * a.V.StrideH + k0 * a.V.StrideT, a.V.StrideT, cols, Dv, sh, sV, Dv + 1);
            for (int i = tid; i < cols * D; i += nt) sh[sdK + i] = 0f;
            for (int i = tid; i < cols * Dv; i += nt) sh[sdV + i] = 0f;
            int qStart = a.Causal != 0 ? k0 / Br * Br : 0;
            for (int q0 = qStart; q0 < a.Tq; q0 += Br)
            {
                int rows = Math.Min(Br, a.Tq - q0);
                Group.Barrier();
                LoadRows(q, a.Q.Offset + b * a.Q.StrideB + h * a.Q.StrideH + q0 * a.Q.StrideT, a.Q.StrideT, rows, D, sh, sQ, D);
                LoadRows(g, a.G.Offset + b * a.G.StrideB + h * a.G.StrideH + q0 * a.G.StrideT, a.G.StrideT, rows, Dv, sh, sG, Dv);
                for (int r = tid; r < rows; r += nt) { sh[sLse + r] = lse[bh * a.Tq + q0 + r]; sh[sDelta + r] = delta[bh * a.Tq + q0 + r]; }
                Group.Barrier();
                V2ScoresAndGrads(sh, sQ, sG, sK, sV, sLse, sDelta, sP, sDS, rows, cols, q0, k0, a);
                Group.Barrier();
                AddTransposedProduct(sh, sdV, sP, sG, Dv, rows, cols, Dv, Bc);    // dV += Pᵀ·dO
                AddTransposedProduct(sh, sdK, sDS, sQ, D, rows, cols, D, Bc);    // dK += dSᵀ·Q (scale at the end)
            }
            Group.Barrier();
            int kOut = (bh * a.Tk + k0) * D, vOut = (bh * a.Tk + k0) * Dv;
            for (int i = tid; i < cols * D; i += nt) dk[kOut + i] = sh[sdK + i] * a.Scale;
            for (int i = tid; i < cols * Dv; i += nt) dv[vOut + i] = sh[sdV + i];
            Group.Barrier();
        }
    }

    public static void V2QueryGradsKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> g,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dq, FlashArgs a)
    {
        var sh = SharedMemory.GetDynamic<float>();
        int Br = a.Br, Bc = a.Bc, D = a.D, Dv = a.Dv, ldk = D + 1;
        int sQ = 0, sG = sQ + Br * D, sdQ = sG + Br * Dv, sK = sdQ + Br * D, sV = sK + Bc * ldk, sDS = sV + Bc * (Dv + 1),
            sLse = sDS + Br * Bc, sDelta = sLse + Br;
        int tid = Group.IdxX, nt = Group.DimX, gridStride = Grid.DimX;
        int qBlocks = (a.Tq + Br - 1) / Br, work = a.B * a.H * qBlocks;
        for (int w = Grid.IdxX; w < work; w += gridStride)
        {
            int bh = w / qBlocks, q0 = (w - bh * qBlocks) * Br, b = bh / a.H, h = bh - b * a.H;
            int rows = Math.Min(Br, a.Tq - q0);
            LoadRows(q, a.Q.Offset + b * a.Q.StrideB + h * a.Q.StrideH + q0 * a.Q.StrideT, a.Q.StrideT, rows, D, sh, sQ, D);
            LoadRows(g, a.G.Offset + b * a.G.StrideB + h * a.G.StrideH + q0 * a.G.StrideT, a.G.StrideT, rows, Dv, sh, sG, Dv);
            for (int r = tid; r < rows; r += nt) { sh[sLse + r] = lse[bh * a.Tq + q0 + r]; sh[sDelta + r] = delta[bh * a.Tq + q0 + r]; }
            for (int i = tid; i < rows * D; i += nt) sh[sdQ + i] = 0f;
            int kEnd = a.Causal != 0 ? Math.Min(a.Tk, q0 + rows) : a.Tk;
            int kBase = a.K.Offset + b * a.K.StrideB + h * a.K.StrideH, vBase = a.V.Offset + b * a.V.StrideB + h * a.V.StrideH;
            for (int k0 = 0; k0 < kEnd; k0 += Bc)
            {
                int cols = Math.Min(Bc, a.Tk - k0);
                Group.Barrier();
                LoadRows(k, kBase + k0 * a.K.StrideT, a.K.StrideT, cols, D, sh, sK, ldk);
                LoadRows(v, vBase + k0 * a.V.StrideT, a.V.StrideT, cols, Dv, sh, sV, Dv + 1);
                Group.Barrier();
                V2ScoresAndGrads(sh, sQ, sG, sK, sV, sLse, sDelta, -1, sDS, rows, cols, q0, k0, a);
                Group.Barrier();
                // dQ += dS·K in 2×2 micro-tiles of (row, column of K)
                for (int m = tid; m < MicroCount(rows, D); m += nt)
                {
                    var t = new MicroTile(m, rows, D);
                    int r0 = t.R0, r1 = t.R1, e0 = t.C0, e1 = t.C1;
                    bool rowOk = t.RowOk, colOk = t.ColOk;
                    var s = Dot2x2(sh, sDS + r0 * Bc, (r1 - r0) * Bc, 1, sK + e0, e1 - e0, ldk, cols);
                    sh[sdQ + r0 * D + e0] += s.C0;
                    if (colOk) sh[sdQ + r0 * D + e1] += s.C1;
                    if (rowOk) sh[sdQ + r1 * D + e0] += s.C2;
                    if (rowOk && colOk) sh[sdQ + r1 * D + e1] += s.C3;
                }
            }
            Group.Barrier();
            int qOut = (bh * a.Tq + q0) * D;
            for (int i = tid; i < rows * D; i += nt) dq[qOut + i] = sh[sdQ + i] * a.Scale;
            Group.Barrier();
        }
    }
}
