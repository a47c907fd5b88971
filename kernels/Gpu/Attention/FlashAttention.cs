// Attention/FlashAttention.cs — the attention core O = softmax(scale·Q·Kᵀ [+ causal])·V on the GPU,
// forward and backward, over B×H (batch, head) problems: the math of kernels/Cpu/Attention/Attention.cs
// (see its header), with the same blockwise algorithm.
//   Forward (FlashAttention, Dao et al. 2022; the loop order of FlashAttention-2, Dao 2023): one thread
//     group per (b, h, block of Br query rows). Q's block stays in shared memory; for each block of Bc
//     keys (causal: only blocks with a key j ≤ the block's last query row) the group loads K and V,
//     computes S = scale·Q·Kᵀ, updates each row's running max m and sum l (online softmax: the O
//     accumulator is rescaled by e^(m_old − m_new)) and adds P·V. Saved: O and lse = m + ln l only.
//   Backward (FlashAttention-2): Δ_i = Σ_c dO_ic·O_ic first (RowDot); then P is recomputed from lse
//     block by block, dP = dO·Vᵀ, dS = P∘(dP − Δ), in two kernels so every output has one writer (no
//     atomics, deterministic): KeyGrads — a group per (b, h, key block) accumulates dV = Pᵀ·dO and
//     dK = scale·dSᵀ·Q over the query blocks; QueryGrads — a group per (b, h, query block) accumulates
//     dQ = scale·dS·K over the key blocks. S and dP are computed twice (once in each): the price of no atomics.
// Shared memory holds every tile (K and V rows padded to D+1 / Dv+1 floats so the threads of a warp,
// which read different key rows, hit different banks); accumulators (O, dK, dV, dQ) live there too,
// because ILGPU 1.5.3 puts per-thread arrays in .local memory. The tile sizes (Br, Bc) are the largest
// of a fixed list whose tiles fit in 48 KiB (the default dynamic shared-memory limit), so head dims
// up to 256 run: forward d = 32 → 64×32, d = 64 → 32×32, d = 128 → 16×16. Each group thread is an
// OS thread on ILGPU's CPU accelerator: there the tiles are 8×8 and groups 16 threads, so tests with
// T = 13 or 17 cross block edges. Reductions run in a fixed order per (device kind, shape).
//
// Versions (each tested against the CPU's V0 reference in tests/Gpu/FusedKernelsTests.cs and timed side
// by side by bench/GpuBench; the composition of GEMM + softmax kernels in the engine,
// F.ScaledDotProductAttentionComposed, is the path they replaced):
//   V1SharedTiles  this file: every block product one output per thread, both operands from shared
//                  memory (two loads per multiply-add)                                      (current)
//   V2MicroTiles   FlashAttention.V2.cs: the same with 2×2 micro-tiles per thread (one load per
//                  multiply-add). Written without a GPU; the engine switches to it once a GPU run of
//                  bench/gpu/run-on-device.sh shows it faster.
//
// Run:   dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.FusedKernels
// Bench: bench/GpuBench (section "attention": WORKLOADS K4 vs torch SDPA), through bench/gpu/run-on-device.sh
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

/// <summary>Element (b, h, t, c) of an operand is at Offset + b·StrideB + h·StrideH + t·StrideT + c
/// (kernels/Cpu/Attention's AttentionLayout in ints: device buffers are int-indexed).</summary>
public readonly struct FlashLayout(int offset, int strideB, int strideH, int strideT)
{
    public readonly int Offset = offset, StrideB = strideB, StrideH = strideH, StrideT = strideT;

    /// <summary>Dense (B, H, T, C) storage.</summary>
    public static FlashLayout Contiguous(int H, int T, int C) => new(0, H * T * C, T * C, C);
}

/// <summary>Sizes, tiles and operand layouts of one launch (ints for flags: see AdamStep). G is dO's layout.</summary>
public readonly struct FlashArgs(int b, int h, int tq, int tk, int d, int dv, float scale, bool causal, int br, int bc,
    FlashLayout q, FlashLayout k, FlashLayout v, FlashLayout g)
{
    public readonly int B = b, H = h, Tq = tq, Tk = tk, D = d, Dv = dv, Causal = causal ? 1 : 0, Br = br, Bc = bc;
    public readonly float Scale = scale;
    public readonly FlashLayout Q = q, K = k, V = v, G = g;
}

public enum GpuAttentionVersion { V1SharedTiles, V2MicroTiles }

public static partial class FlashAttention
{
    /// <summary>The version the engine launches (see the file header).</summary>
    public const GpuAttentionVersion Current = GpuAttentionVersion.V1SharedTiles;

    // ───────────────────────────── forward ─────────────────────────────

    /// <summary>Shared floats of the forward: Q (Br·D), K (Bc·(D+1)), V (Bc·Dv), S/P (Br·Bc), O (Br·Dv), m, l, α (Br each).</summary>
    public static int ForwardFloats(int Br, int Bc, int D, int Dv) => Br * D + Bc * (D + 1) + Bc * Dv + Br * Bc + Br * Dv + 3 * Br;

    public static void ForwardKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, FlashArgs a)
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
            int qBase = a.Q.Offset + b * a.Q.StrideB + h * a.Q.StrideH + q0 * a.Q.StrideT;
            int kBase = a.K.Offset + b * a.K.StrideB + h * a.K.StrideH, vBase = a.V.Offset + b * a.V.StrideB + h * a.V.StrideH;
            // 1. the Q block; O = 0, m = −∞, l = 0
            for (int i = tid; i < rows * D; i += nt) { int r = i / D; sh[sQ + i] = q[qBase + r * a.Q.StrideT + (i - r * D)]; }
            for (int i = tid; i < rows * Dv; i += nt) sh[sO + i] = 0f;
            for (int r = tid; r < rows; r += nt) { sh[sM + r] = float.NegativeInfinity; sh[sL + r] = 0f; }
            int kEnd = a.Causal != 0 ? Math.Min(a.Tk, q0 + rows) : a.Tk;   // causal: later keys are masked for every row here
            for (int k0 = 0; k0 < kEnd; k0 += Bc)
            {
                int cols = Math.Min(Bc, a.Tk - k0);
                Group.Barrier();                              // the previous block's readers of K, V, P are done
                // 2. the K and V blocks
                for (int i = tid; i < cols * D; i += nt) { int c = i / D, d = i - c * D; sh[sK + c * ldk + d] = k[kBase + (k0 + c) * a.K.StrideT + d]; }
                for (int i = tid; i < cols * Dv; i += nt) { int c = i / Dv; sh[sV + i] = v[vBase + (k0 + c) * a.V.StrideT + (i - c * Dv)]; }
                Group.Barrier();
                // 3. S = scale·Q·Kᵀ, −∞ where causal masks
                for (int i = tid; i < rows * cols; i += nt)
                {
                    int r = i / cols, c = i - r * cols;
                    float s = float.NegativeInfinity;
                    if (a.Causal == 0 || k0 + c <= q0 + r)
                    {
                        int qr = sQ + r * D, kr = sK + c * ldk;
                        float acc = 0f;
                        for (int d = 0; d < D; d++) acc += sh[qr + d] * sh[kr + d];
                        s = acc * a.Scale;
                    }
                    sh[sS + r * Bc + c] = s;
                }
                Group.Barrier();
                // 4. online softmax, a thread per row: P = e^(S − m_new), l = α·l + Σ P, α = e^(m_old − m_new)
                for (int r = tid; r < rows; r += nt)
                {
                    int sr = sS + r * Bc;
                    float mOld = sh[sM + r], mNew = mOld, alpha = 1f, sum = 0f;
                    for (int c = 0; c < cols; c++) mNew = MathF.Max(mNew, sh[sr + c]);
                    if (mNew == float.NegativeInfinity)
                        for (int c = 0; c < cols; c++) sh[sr + c] = 0f;   // nothing seen yet: keep O = 0, l = 0
                    else
                    {
                        alpha = MathF.Exp(mOld - mNew);               // 0 when m_old = −∞
                        for (int c = 0; c < cols; c++) { float p = MathF.Exp(sh[sr + c] - mNew); sh[sr + c] = p; sum += p; }
                    }
                    sh[sL + r] = sh[sL + r] * alpha + sum;
                    sh[sM + r] = mNew;
                    sh[sA + r] = alpha;
                }
                Group.Barrier();
                // 5. O = diag(α)·O + P·V
                for (int i = tid; i < rows * Dv; i += nt)
                {
                    int r = i / Dv, e = i - r * Dv, sr = sS + r * Bc;
                    float acc = sh[sO + i] * sh[sA + r];
                    for (int c = 0; c < cols; c++) acc += sh[sr + c] * sh[sV + c * Dv + e];
                    sh[sO + i] = acc;
                }
            }
            Group.Barrier();
            // 6. O / l and lse = m + ln l (l = 0 only if a row saw no key: NaN, as the composed softmax)
            int oBase = (bh * a.Tq + q0) * Dv;
            for (int i = tid; i < rows * Dv; i += nt) o[oBase + i] = sh[sO + i] / sh[sL + i / Dv];
            for (int r = tid; r < rows; r += nt) lse[bh * a.Tq + q0 + r] = sh[sM + r] + MathF.Log(sh[sL + r]);
            Group.Barrier();                                  // the next work item rewrites the tiles
        }
    }

    // ───────────────────────────── backward ─────────────────────────────

    /// <summary>Δ_i = Σ_c dO_ic·O_ic per query row (B·H·Tq of them), a thread per row.</summary>
    public static void RowDotKernel(ArrayView<float> g, ArrayView<float> o, ArrayView<float> delta, FlashArgs a)
    {
        int n = a.B * a.H * a.Tq, stride = Grid.DimX * Group.DimX;
        for (int i = Grid.GlobalIndex.X; i < n; i += stride)
        {
            int bh = i / a.Tq, t = i - bh * a.Tq, b = bh / a.H, h = bh - b * a.H;
            int gr = a.G.Offset + b * a.G.StrideB + h * a.G.StrideH + t * a.G.StrideT, orow = i * a.Dv;
            float s = 0f;
            for (int e = 0; e < a.Dv; e++) s += g[gr + e] * o[orow + e];
            delta[i] = s;
        }
    }

    /// <summary>Shared floats of KeyGrads: K, V (padded), dK, dV (Bc rows), Q, dO (Br rows), P, dS (Br·Bc), lse, Δ.</summary>
    public static int KeyGradsFloats(int Br, int Bc, int D, int Dv) =>
        Bc * (D + 1) + Bc * (Dv + 1) + Bc * D + Bc * Dv + Br * D + Br * Dv + 2 * Br * Bc + 2 * Br;

    /// <summary>Shared floats of QueryGrads: Q, dO, dQ (Br rows), K, V (padded, Bc rows), dS (Br·Bc), lse, Δ.</summary>
    public static int QueryGradsFloats(int Br, int Bc, int D, int Dv) =>
        2 * Br * D + Br * Dv + Bc * (D + 1) + Bc * (Dv + 1) + Br * Bc + 2 * Br;

    /// <summary>P_rc and dS_rc of one (query block, key block) pair into shared memory (r &lt; rows, c &lt; cols).</summary>
    static void ScoresAndGrads(ArrayView<float> sh, int sQ, int sG, int sK, int sV, int sLse, int sDelta, int sP, int sDS,
        int rows, int cols, int q0, int k0, FlashArgs a)
    {
        int D = a.D, Dv = a.Dv, ldk = D + 1, ldv = Dv + 1, Bc = a.Bc, tid = Group.IdxX, nt = Group.DimX;
        for (int i = tid; i < rows * cols; i += nt)
        {
            int r = i / cols, c = i - r * cols;
            float p = 0f, ds = 0f;
            if (a.Causal == 0 || k0 + c <= q0 + r)
            {
                int qr = sQ + r * D, kr = sK + c * ldk, gr = sG + r * Dv, vr = sV + c * ldv;
                float s = 0f, dp = 0f;
                for (int d = 0; d < D; d++) s += sh[qr + d] * sh[kr + d];
                for (int e = 0; e < Dv; e++) dp += sh[gr + e] * sh[vr + e];
                p = MathF.Exp(s * a.Scale - sh[sLse + r]);
                ds = p * (dp - sh[sDelta + r]);
            }
            if (sP >= 0) sh[sP + r * Bc + c] = p;
            sh[sDS + r * Bc + c] = ds;
        }
    }

    /// <summary>Loads rows [t0, t0 + rows) of an operand (row length C) into shared memory at <paramref name="dst"/> with row stride <paramref name="ld"/>.</summary>
    static void LoadRows(ArrayView<float> src, int rowBase, int strideT, int rows, int C, ArrayView<float> sh, int dst, int ld)
    {
        int tid = Group.IdxX, nt = Group.DimX;
        for (int i = tid; i < rows * C; i += nt) { int r = i / C, c = i - r * C; sh[dst + r * ld + c] = src[rowBase + r * strideT + c]; }
    }

    /// <summary>dK and dV (dense (B, H, Tk, ·)): a group per (b, h, key block), looping over the query blocks that see it.</summary>
    public static void KeyGradsKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> g,
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
            int qStart = a.Causal != 0 ? k0 / Br * Br : 0;   // causal: query rows before k0 see none of these keys
            for (int q0 = qStart; q0 < a.Tq; q0 += Br)
            {
                int rows = Math.Min(Br, a.Tq - q0);
                Group.Barrier();                              // the previous query block's readers are done
                LoadRows(q, a.Q.Offset + b * a.Q.StrideB + h * a.Q.StrideH + q0 * a.Q.StrideT, a.Q.StrideT, rows, D, sh, sQ, D);
                LoadRows(g, a.G.Offset + b * a.G.StrideB + h * a.G.StrideH + q0 * a.G.StrideT, a.G.StrideT, rows, Dv, sh, sG, Dv);
                for (int r = tid; r < rows; r += nt) { sh[sLse + r] = lse[bh * a.Tq + q0 + r]; sh[sDelta + r] = delta[bh * a.Tq + q0 + r]; }
                Group.Barrier();
                ScoresAndGrads(sh, sQ, sG, sK, sV, sLse, sDelta, sP, sDS, rows, cols, q0, k0, a);
                Group.Barrier();
                // dV += Pᵀ·dO,  dK += dSᵀ·Q (scale applied once at the end)
                for (int i = tid; i < cols * Dv; i += nt)
                {
                    int c = i / Dv, e = i - c * Dv;
                    float acc = sh[sdV + i];
                    for (int r = 0; r < rows; r++) acc += sh[sP + r * Bc + c] * sh[sG + r * Dv + e];
                    sh[sdV + i] = acc;
                }
                for (int i = tid; i < cols * D; i += nt)
                {
                    int c = i / D, e = i - c * D;
                    float acc = sh[sdK + i];
                    for (int r = 0; r < rows; r++) acc += sh[sDS + r * Bc + c] * sh[sQ + r * D + e];
                    sh[sdK + i] = acc;
                }
            }
            Group.Barrier();
            int kOut = (bh * a.Tk + k0) * D, vOut = (bh * a.Tk + k0) * Dv;
            for (int i = tid; i < cols * D; i += nt) dk[kOut + i] = sh[sdK + i] * a.Scale;
            for (int i = tid; i < cols * Dv; i += nt) dv[vOut + i] = sh[sdV + i];
            Group.Barrier();
        }
    }

    /// <summary>dQ (dense (B, H, Tq, D)): a group per (b, h, query block), looping over the key blocks it sees.</summary>
    public static void QueryGradsKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> g,
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
                ScoresAndGrads(sh, sQ, sG, sK, sV, sLse, sDelta, -1, sDS, rows, cols, q0, k0, a);
                Group.Barrier();
                // dQ += dS·K
                for (int i = tid; i < rows * D; i += nt)
                {
                    int r = i / D, e = i - r * D;
                    float acc = sh[sdQ + i];
                    for (int c = 0; c < cols; c++) acc += sh[sDS + r * Bc + c] * sh[sK + c * ldk + e];
                    sh[sdQ + i] = acc;
                }
            }
            Group.Barrier();
            int qOut = (bh * a.Tq + q0) * D;
            for (int i = tid; i < rows * D; i += nt) dq[qOut + i] = sh[sdQ + i] * a.Scale;
            Group.Barrier();
        }
    }

    // ───────────────────────────── launchers ─────────────────────────────

    public enum Pass { Forward, KeyGrads, QueryGrads }

    static readonly (int Br, int Bc)[] GpuTiles = [(64, 64), (64, 32), (32, 32), (32, 16), (16, 16), (16, 8), (8, 8), (8, 4), (4, 4)];
    static readonly (int Br, int Bc)[] CpuTiles = [(8, 8), (4, 4)];

    static int Floats(Pass pass, int Br, int Bc, int D, int Dv) => pass switch
    {
        Pass.Forward => ForwardFloats(Br, Bc, D, Dv),
        Pass.KeyGrads => KeyGradsFloats(Br, Bc, D, Dv),
        _ => QueryGradsFloats(Br, Bc, D, Dv),
    };

    /// <summary>The largest listed (Br, Bc) whose tiles fit the device's shared memory (≤ 48 KiB), or null.</summary>
    public static (int Br, int Bc)? Tiles(GpuContext gpu, Pass pass, int D, int Dv)
    {
        bool cpu = gpu.Kind == GpuKind.CpuAccelerator;
        return Tiles(pass, D, Dv, cpu, cpu ? 48 * 1024 : gpu.Accelerator.MaxSharedMemoryPerGroup);
    }

    /// <summary>The choice for a device kind and a per-group shared-memory size in bytes (capped at 48 KiB).</summary>
    public static (int Br, int Bc)? Tiles(Pass pass, int D, int Dv, bool cpuAccelerator, long sharedBytes)
    {
        long limit = Math.Min(48 * 1024, sharedBytes);
        foreach (var t in cpuAccelerator ? CpuTiles : GpuTiles)
            if (4L * Floats(pass, t.Br, t.Bc, D, Dv) <= limit) return t;
        return null;
    }

    /// <summary>True when every pass has tiles that fit for head dims D (q, k) and Dv (v).</summary>
    public static bool Supports(GpuContext gpu, int D, int Dv) =>
        D >= 1 && Dv >= 1 && Tiles(gpu, Pass.Forward, D, Dv) != null && Tiles(gpu, Pass.KeyGrads, D, Dv) != null && Tiles(gpu, Pass.QueryGrads, D, Dv) != null;

    static FlashArgs WithTiles(GpuContext gpu, Pass pass, FlashArgs a)
    {
        var t = Tiles(gpu, pass, a.D, a.Dv)
            ?? throw new ArgumentException($"Gpu.FlashAttention: head dims D = {a.D}, Dv = {a.Dv} leave no tile that fits in shared memory ({pass}).");
        return new FlashArgs(a.B, a.H, a.Tq, a.Tk, a.D, a.Dv, a.Scale, a.Causal != 0, t.Br, t.Bc, a.Q, a.K, a.V, a.G);
    }

    static KernelConfig Config(GpuContext gpu, Pass pass, FlashArgs a, int work)
    {
        bool cpu = gpu.Kind == GpuKind.CpuAccelerator;
        int threads = cpu ? 16 : a.Br * a.Bc >= 1024 ? 256 : 128;
        int groups = Math.Clamp(work, 1, cpu ? 2 : 65535);
        return new KernelConfig(groups, threads, SharedMemoryConfig.RequestDynamic<float>(Floats(pass, a.Br, a.Bc, a.D, a.Dv)));
    }

    static void CheckOperand(string name, long length, FlashLayout l, FlashArgs a, int T, int C)
    {
        if (T == 0 || a.B * a.H == 0) return;
        long last = l.Offset + (long)(a.B - 1) * l.StrideB + (long)(a.H - 1) * l.StrideH + (long)(T - 1) * l.StrideT + C;
        if (l.Offset < 0 || l.StrideB < 0 || l.StrideH < 0 || l.StrideT < 0 || last > length)
            throw new ArgumentException($"Gpu.FlashAttention: {name} ({a.B}, {a.H}, {T}, {C}) with offset {l.Offset}, strides ({l.StrideB}, {l.StrideH}, {l.StrideT}) " +
                $"reaches element {last} of a buffer of {length}.");
    }

    static void CheckDense(string name, long length, long expected)
    {
        if (length != expected) throw new ArgumentException($"Gpu.FlashAttention: {name} has {length} floats, expected {expected} (dense).");
    }

    /// <summary>o (dense (B, H, Tq, Dv)) and lse (dense (B, H, Tq)). a.G is ignored.</summary>
    public static void Forward(GpuContext gpu, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, FlashArgs a)
        => Forward(gpu, Current, q, k, v, o, lse, a);

    public static void Forward(GpuContext gpu, GpuAttentionVersion version, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, FlashArgs a)
    {
        CheckOperand("q", q.Length, a.Q, a, a.Tq, a.D);
        CheckOperand("k", k.Length, a.K, a, a.Tk, a.D);
        CheckOperand("v", v.Length, a.V, a, a.Tk, a.Dv);
        CheckDense("o", o.Length, (long)a.B * a.H * a.Tq * a.Dv);
        CheckDense("lse", lse.Length, (long)a.B * a.H * a.Tq);
        if (a.B * a.H == 0 || a.Tq == 0) return;
        if (a.Tk == 0) throw new ArgumentException("Gpu.FlashAttention: Tk = 0 (no keys): use the composed path, whose softmax gives NaN rows.");
        a = WithTiles(gpu, Pass.Forward, a);
        int work = a.B * a.H * ((a.Tq + a.Br - 1) / a.Br);
        bool v2 = version == GpuAttentionVersion.V2MicroTiles;
        gpu.Kernels.Get(v2 ? "FlashAttention.V2Forward" : "FlashAttention.Forward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashArgs>(v2 ? V2ForwardKernel : ForwardKernel))
            (Config(gpu, Pass.Forward, a, work), q, k, v, o, lse, a);
    }

    /// <summary>dq, dk, dv (dense, overwritten) from the saved o, lse and the upstream dO (layout a.G);
    /// <paramref name="delta"/> is a workspace of B·H·Tq floats.</summary>
    public static void Backward(GpuContext gpu, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse,
        ArrayView<float> g, ArrayView<float> delta, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, FlashArgs a)
        => Backward(gpu, Current, q, k, v, o, lse, g, delta, dq, dk, dv, a);

    public static void Backward(GpuContext gpu, GpuAttentionVersion version, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> g, ArrayView<float> delta, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, FlashArgs a)
    {
        CheckOperand("q", q.Length, a.Q, a, a.Tq, a.D);
        CheckOperand("k", k.Length, a.K, a, a.Tk, a.D);
        CheckOperand("v", v.Length, a.V, a, a.Tk, a.Dv);
        CheckOperand("dO", g.Length, a.G, a, a.Tq, a.Dv);
        long rowsQ = (long)a.B * a.H * a.Tq, rowsK = (long)a.B * a.H * a.Tk;
        CheckDense("o", o.Length, rowsQ * a.Dv);
        CheckDense("lse", lse.Length, rowsQ);
        CheckDense("delta", delta.Length, rowsQ);
        CheckDense("dq", dq.Length, rowsQ * a.D);
        CheckDense("dk", dk.Length, rowsK * a.D);
        CheckDense("dv", dv.Length, rowsK * a.Dv);
        if (a.B * a.H == 0) return;
        if (a.Tq == 0 || a.Tk == 0)
        {
            // No query rows: dK = dV = 0 (dQ is empty); no keys: the forward refused.
            if (dk.Length > 0) Strided.Fill(gpu, dk, 0f);
            if (dv.Length > 0) Strided.Fill(gpu, dv, 0f);
            return;
        }
        gpu.Kernels.Get("FlashAttention.RowDot", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashArgs>(RowDotKernel))
            (gpu.StreamConfig(rowsQ), g, o, delta, a);
        var ak = WithTiles(gpu, Pass.KeyGrads, a);
        bool v2 = version == GpuAttentionVersion.V2MicroTiles;
        gpu.Kernels.Get(v2 ? "FlashAttention.V2KeyGrads" : "FlashAttention.KeyGrads", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashArgs>(v2 ? V2KeyGradsKernel : KeyGradsKernel))
            (Config(gpu, Pass.KeyGrads, ak, ak.B * ak.H * ((ak.Tk + ak.Bc - 1) / ak.Bc)), q, k, v, g, lse, delta, dk, dv, ak);
        var aq = WithTiles(gpu, Pass.QueryGrads, a);
        gpu.Kernels.Get(v2 ? "FlashAttention.V2QueryGrads" : "FlashAttention.QueryGrads", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashArgs>(v2 ? V2QueryGradsKernel : QueryGradsKernel))
            (Config(gpu, Pass.QueryGrads, aq, aq.B * aq.H * ((aq.Tq + aq.Br - 1) / aq.Br)), q, k, v, g, lse, delta, dq, aq);
    }
}
