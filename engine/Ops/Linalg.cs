// Small dense linear algebra on square matrices (N, N) and batches (..., N, N): Inverse, SlogDet,
// Det. Meant for small N (Glow's invertible 1×1 convolutions, Kingma & Dhariwal 2018, need
// log|det W| and W⁻¹ of a C×C matrix), not for big solves.
//
// Each matrix is factored P·A = L·U by Gaussian elimination with partial pivoting (Golub & Van
// Loan, Matrix Computations, Alg. 3.4.1) in double precision, then rounded to float32 at the end:
//   det A = (−1)^swaps · Π U_kk,   A⁻¹ = U⁻¹ L⁻¹ P (column by column, forward then back substitution).
// A pivot with |U_kk| ≤ N·ε_double·max|A_ij| counts as zero: the matrix is singular to working
// precision (slogdet then gives sign 0 and logabsdet −∞; Inverse throws).
//
// Gradients (Giles 2008, "Extended collection of matrix derivative results"):
//   Y = A⁻¹:          dA = −Yᵀ·G·Yᵀ        (written with MatMul and the recorded Y, so it differentiates again)
//   l = log|det A|:   dA = g·A⁻ᵀ           (written with Inverse itself)
// Sign is piecewise constant and carries no gradient.
//
// On a GPU device the same LU runs as kernels/Gpu/Linalg.cs (one thread per matrix, double).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~LinalgTests"
using System.Buffers;

namespace Denoise;

public sealed partial class Tensor
{
    /// <summary>Matrix inverse of (N, N) or a batch (..., N, N). Throws for a singular matrix.</summary>
    public Tensor Inverse()
    {
        const string op = "inverse";
        int n = CheckSquare(op);
        var a = ContiguousNoGrad();
        var y = Empty(shape, DType.Float32, Device);
        int batch = n == 0 ? 0 : Numel / (n * n);
        if (y.Storage is GpuStorage)
        {
            if (batch > 0 && GpuOps.Lu(a, batch, n, y, null, null) is int b0)
                throw new InvalidOperationException($"{op}: matrix {b0} of tensor{NameSuffix} with shape {ShapeStr} is singular (an LU pivot vanished); it has no inverse.");
            return RecordInverse(op, y);
        }
        var work = ArrayPool<double>.Shared.Rent(n * n + n);
        var perm = ArrayPool<int>.Shared.Rent(n);
        try
        {
            var src = a.Span; var dst = y.Span;
            for (int b = 0; b < batch; b++)
            {
                var lu = work.AsSpan(0, n * n);
                var col = work.AsSpan(n * n, n);
                Load(src.Slice(b * n * n, n * n), lu);
                if (!Lu.Factor(lu, n, perm.AsSpan(0, n), out _))
                    throw new InvalidOperationException($"{op}: matrix {b} of tensor{NameSuffix} with shape {ShapeStr} is singular (an LU pivot vanished); it has no inverse.");
                Lu.Invert(lu, n, perm.AsSpan(0, n), col, dst.Slice(b * n * n, n * n));
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(work);
            ArrayPool<int>.Shared.Return(perm);
        }
        return RecordInverse(op, y);
    }

    Tensor RecordInverse(string op, Tensor y) =>
        Autograd.Record(op, y, [this], g =>
        {
            var yT = y.T;                    // the recorded output: its own gradient is this rule again
            return [-(yT.MatMul(g).MatMul(yT))];
        });

    /// <summary>
    /// Sign and natural log of |det| of (N, N) or each matrix of (..., N, N), like torch.linalg.slogdet.
    /// Both results have the batch shape (0-d for one matrix). A singular matrix gives sign 0 and
    /// logabsdet −∞. Only logabsdet is differentiable (d/dA = A⁻ᵀ).
    /// </summary>
    public (Tensor Sign, Tensor LogAbsDet) SlogDet()
    {
        const string op = "slogdet";
        int n = CheckSquare(op);
        var a = ContiguousNoGrad();
        var batchShape = shape[..^2];
        var sign = Empty(batchShape, DType.Float32, Device);
        var logAbs = Empty(batchShape, DType.Float32, Device);
        int batch = sign.Numel;
        if (sign.Storage is GpuStorage)
        {
            if (n == 0) { sign.Fill(1f); logAbs.Fill(0f); }   // det of a 0×0 matrix is 1, as the CPU loop gives
            else if (batch > 0) GpuOps.Lu(a, batch, n, null, sign, logAbs);
            var xd = this;
            Autograd.Record(op, logAbs, [xd], g => [g.Reshape([.. batchShape, 1, 1]) * xd.Inverse().T]);
            return (sign, logAbs);
        }
        var work = ArrayPool<double>.Shared.Rent(Math.Max(n * n, 1));
        var perm = ArrayPool<int>.Shared.Rent(Math.Max(n, 1));
        try
        {
            var src = a.Span; var ss = sign.Span; var ls = logAbs.Span;
            for (int b = 0; b < batch; b++)
            {
                var lu = work.AsSpan(0, n * n);
                Load(src.Slice(b * n * n, n * n), lu);
                if (!Lu.Factor(lu, n, perm.AsSpan(0, n), out int s)) { ss[b] = 0f; ls[b] = float.NegativeInfinity; continue; }
                double logDet = 0;
                for (int k = 0; k < n; k++)
                {
                    double u = lu[k * n + k];
                    if (u < 0) s = -s;
                    logDet += Math.Log(Math.Abs(u));
                }
                ss[b] = s; ls[b] = (float)logDet;
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(work);
            ArrayPool<int>.Shared.Return(perm);
        }
        var x = this;
        Autograd.Record(op, logAbs, [x], g => [g.Reshape([.. batchShape, 1, 1]) * x.Inverse().T]);
        return (sign, logAbs);
    }

    /// <summary>Determinant of (N, N) or each matrix of (..., N, N), as sign·exp(logabsdet). Its gradient needs a nonsingular matrix.</summary>
    public Tensor Det()
    {
        var (sign, logAbs) = SlogDet();
        return sign * logAbs.Exp();
    }

    int CheckSquare(string op)
    {
        CheckFloat(op);
        if (Rank < 2 || shape[^1] != shape[^2])
            throw new ArgumentException($"{op}: expected a square matrix (N, N) or a batch of them (..., N, N); got tensor{NameSuffix} of shape {ShapeStr}.");
        return shape[^1];
    }

    static void Load(ReadOnlySpan<float> src, Span<double> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = src[i];
    }
}

/// <summary>LU factorisation with partial pivoting on a row-major n×n double matrix, in place.</summary>
internal static class Lu
{
    /// <summary>
    /// Overwrites a with L (unit diagonal, below) and U (on and above the diagonal) such that
    /// P·A = L·U, where row i of P·A is row perm[i] of A. sign = (−1)^(row swaps).
    /// Returns false (a is then partly factored) when a pivot is zero to working precision.
    /// </summary>
    public static bool Factor(Span<double> a, int n, Span<int> perm, out int sign)
    {
        sign = 1;
        double maxAbs = 0;
        foreach (var v in a) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        double tol = n * Math.Pow(2, -52) * maxAbs;
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int k = 0; k < n; k++)
        {
            // 1. Pivot: the largest |a[i,k]| for i ≥ k keeps the multipliers ≤ 1 (stability).
            int p = k;
            for (int i = k + 1; i < n; i++) if (Math.Abs(a[i * n + k]) > Math.Abs(a[p * n + k])) p = i;
            if (!(Math.Abs(a[p * n + k]) > tol)) return false;
            if (p != k)
            {
                for (int j = 0; j < n; j++) (a[p * n + j], a[k * n + j]) = (a[k * n + j], a[p * n + j]);
                (perm[p], perm[k]) = (perm[k], perm[p]);
                sign = -sign;
            }
            // 2. Eliminate below the pivot; store the multipliers where the zeros would go.
            double pivot = a[k * n + k];
            var rowK = a.Slice(k * n, n);
            for (int i = k + 1; i < n; i++)
            {
                var rowI = a.Slice(i * n, n);
                double f = rowI[k] /= pivot;
                if (f == 0) continue;
                for (int j = k + 1; j < n; j++) rowI[j] -= f * rowK[j];
            }
        }
        return true;
    }

    /// <summary>A⁻¹ from a factored a: column j solves L·U·x = P·e_j. col is an n-element workspace.</summary>
    public static void Invert(ReadOnlySpan<double> lu, int n, ReadOnlySpan<int> perm, Span<double> col, Span<float> inverse)
    {
        for (int j = 0; j < n; j++)
        {
            // (P·e_j)[i] = 1 where perm[i] == j. Forward substitution with unit-diagonal L:
            for (int i = 0; i < n; i++)
            {
                double s = perm[i] == j ? 1 : 0;
                for (int k = 0; k < i; k++) s -= lu[i * n + k] * col[k];
                col[i] = s;
            }
            // Back substitution with U.
            for (int i = n - 1; i >= 0; i--)
            {
                double s = col[i];
                for (int k = i + 1; k < n; k++) s -= lu[i * n + k] * col[k];
                col[i] = s / lu[i * n + i];
            }
            for (int i = 0; i < n; i++) inverse[i * n + j] = (float)col[i];
        }
    }
}
