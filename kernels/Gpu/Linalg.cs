// Linalg.cs — batched small dense linear algebra on the GPU: LU with partial pivoting per matrix, then
// the inverse or (sign, log|det|), for engine/Ops/Linalg.cs's Inverse / SlogDet / Det.
//
// V0 (current): one thread per matrix, in double, the CPU's algorithm step for step (Golub & Van Loan,
// Alg. 3.4.1: P·A = L·U; det = (−1)^swaps·Π U_kk; A⁻¹ column by column by forward then back
// substitution) with the same singularity test |U_kk| ≤ n·ε_double·max|A_ij|. On ILGPU's CPU accelerator
// inverse is bit-identical to the CPU path; on CUDA, double add/mul/div are IEEE-exact too and only
// slogdet's log differs (see LogAbs: ≈1e-7 relative, below float rounding of the result). Right for what these ops
// serve (Glow's C×C 1×1-convolution weights, n ≤ 64, a handful of matrices): O(n³) work per thread, the
// matrix in a global double workspace. PyTorch calls cuSOLVER / MAGMA here; a group-per-matrix blocked LU
// (threads over the trailing-update columns) is the next version for big n or big batches.
//
// status[0]: min over singular matrices of their batch index (int.MaxValue when none), so Inverse can
// throw naming the first singular matrix, as the CPU's loop does.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.CoverageKernel
using ILGPU;
using ILGPU.Runtime;

namespace Denoise.Kernels.Gpu;

public static class Linalg
{
    /// <summary>
    /// a: batch × n × n (float); work: batch × (n·n + n) doubles; perm: batch × n ints. mode 0 writes the
    /// inverses into inverse (batch × n × n); mode 1 writes sign and logAbs (batch each).
    /// </summary>
    public static void LuKernel(ArrayView<float> a, ArrayView<double> work, ArrayView<int> perm, ArrayView<float> inverse,
        ArrayView<float> sign, ArrayView<float> logAbs, ArrayView<int> status, int batch, int n, double tolFactor, int mode)
    {
        int stride = Grid.DimX * Group.DimX, nn = n * n;
        for (int b = Grid.GlobalIndex.X; b < batch; b += stride)
        {
            int w = b * (nn + n), pb = b * n, ab = b * nn;
            double maxAbs = 0;
            for (int i = 0; i < nn; i++)
            {
                double v = a[ab + i];
                work[w + i] = v;
                maxAbs = Math.Max(maxAbs, Math.Abs(v));   // Math.Max: a NaN propagates, as on the CPU
            }
            double tol = tolFactor * maxAbs;
            for (int i = 0; i < n; i++) perm[pb + i] = i;
            int s = 1;
            bool singular = false;
            // 1. P·A = L·U in place (the CPU's Lu.Factor).
            for (int k = 0; k < n && !singular; k++)
            {
                int p = k;
                for (int i = k + 1; i < n; i++)
                    if (Abs(work[w + i * n + k]) > Abs(work[w + p * n + k])) p = i;
                if (!(Abs(work[w + p * n + k]) > tol)) { singular = true; break; }
                if (p != k)
                {
                    for (int j = 0; j < n; j++)
                    {
                        double t = work[w + p * n + j];
                        work[w + p * n + j] = work[w + k * n + j];
                        work[w + k * n + j] = t;
                    }
                    int tp = perm[pb + p]; perm[pb + p] = perm[pb + k]; perm[pb + k] = tp;
                    s = -s;
                }
                double pivot = work[w + k * n + k];
                for (int i = k + 1; i < n; i++)
                {
                    double f = work[w + i * n + k] / pivot;
                    work[w + i * n + k] = f;
                    if (f == 0) continue;
                    for (int j = k + 1; j < n; j++) work[w + i * n + j] -= f * work[w + k * n + j];
                }
            }
            if (mode == 1)
            {
                // 2a. sign and log|det| (sign 0, log −∞ when singular).
                if (singular) { sign[b] = 0f; logAbs[b] = float.NegativeInfinity; continue; }
                double logDet = 0;
                for (int k = 0; k < n; k++)
                {
                    double u = work[w + k * n + k];
                    if (u < 0) s = -s;
                    logDet += LogAbs(u);
                }
                sign[b] = s; logAbs[b] = (float)logDet;
                continue;
            }
            if (singular) { Atomic.Min(ref status[0], b); continue; }
            // 2b. A⁻¹ column by column: L·U·x = P·e_j (the CPU's Lu.Invert), col = the last n doubles of the workspace.
            int col = w + nn;
            for (int j = 0; j < n; j++)
            {
                for (int i = 0; i < n; i++)
                {
                    double v = perm[pb + i] == j ? 1 : 0;
                    for (int k = 0; k < i; k++) v -= work[w + i * n + k] * work[col + k];
                    work[col + i] = v;
                }
                for (int i = n - 1; i >= 0; i--)
                {
                    double v = work[col + i];
                    for (int k = i + 1; k < n; k++) v -= work[w + i * n + k] * work[col + k];
                    work[col + i] = v / work[w + i * n + i];
                }
                for (int i = 0; i < n; i++) inverse[ab + i * n + j] = (float)work[col + i];
            }
        }
    }

    static double Abs(double v) => Math.Abs(v);

    /// <summary>
    /// ln|u| as e·ln 2 + ln m with |u| = m·2^e, m ∈ [1, 2): the exponent exactly, the mantissa's log in float.
    /// Why not Math.Log(double): ILGPU 1.5.3 lowers the double log to a routine that spills to .local memory
    /// (CompileTests rejects that), and XMath.Log(double) does the same. The error, ≈1e-7 per factor, is far
    /// below the float the result is rounded to. |u| is a pivot above n·ε·max|A|, so it is normal (no denormals).
    /// </summary>
    static double LogAbs(double u)
    {
        ulong bits = Interop.FloatAsInt(u) & 0x7FFF_FFFF_FFFF_FFFFUL;
        int e = (int)(bits >> 52) - 1023;
        double m = Interop.IntAsFloat((bits & 0x000F_FFFF_FFFF_FFFFUL) | (1023UL << 52));
        return e * 0.6931471805599453 + MathF.Log((float)m);
    }

    /// <summary>Factors <paramref name="batch"/> n×n matrices and writes inverses (mode 0) or sign/log|det| (mode 1).</summary>
    public static void Run(GpuContext gpu, ArrayView<float> a, ArrayView<double> work, ArrayView<int> perm, ArrayView<float> inverse,
        ArrayView<float> sign, ArrayView<float> logAbs, ArrayView<int> status, int batch, int n, bool inverseMode)
    {
        long nn = (long)n * n;
        if (a.Length < batch * nn || work.Length < batch * (nn + n) || perm.Length < (long)batch * n || status.Length < 1
            || (inverseMode ? inverse.Length < batch * nn : sign.Length < batch || logAbs.Length < batch))
            throw new ArgumentException($"Gpu.Linalg.Run: views a={a.Length}, work={work.Length}, perm={perm.Length}, inverse={inverse.Length}, sign={sign.Length}, logAbs={logAbs.Length} do not fit {batch} matrices of {n}×{n}.");
        if (batch == 0) return;
        double tolFactor = n * Math.Pow(2, -52);   // the CPU's n·ε_double (Lu.Factor)
        gpu.Kernels.Get("Linalg.Lu", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, double, int>(LuKernel))
            (gpu.StreamConfig(batch), a, work, perm, inverse, sign, logAbs, status, batch, n, tolFactor, inverseMode ? 0 : 1);
    }
}
