// GemmTests.cs — every GEMM version against V0Naive (kernels/Cpu/Gemm) on odd shapes, all four
// transpose cases, alpha/beta, padded leading dimensions, batches and threading.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Gemm
using Denoise.Kernels.Cpu;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

[TestFixture]
public class GemmTests
{
    // (M, N, K): the house odd sizes, non-square mixes, and sizes that cross V2's block edges
    // (K = 300 > KC = 256, M = 150 > MC = 144, N = 1100 > NC = 1024, N = 65 = NR + 1).
    static readonly (int M, int N, int K)[] Shapes =
    {
        (1, 1, 1), (7, 13, 31), (13, 7, 65), (31, 65, 7), (65, 31, 257), (257, 65, 13),
        (1, 257, 31), (257, 1, 65), (64, 64, 64), (100, 130, 300), (150, 70, 260), (3, 1100, 5),
        (5, 129, 47),   // transposed B: two full 64-wide panels with 16×16 register transposes + k tail of 15, and a 1-column edge panel
        (37, 2, 389),   // N ≤ 32: V3/V4's 16-wide tile; K = 384 + 5 crosses V4's K block
        (19, 33, 9),    // N = 33: just past the narrow-tile limit; K = 9 = one 8-k vector pack chunk + 1 (V4)
        (151, 97, 258), // V4 A packing: full 6-row panels, a 1-row edge panel, k tails after 8-k chunks; M > MC
    };

    static readonly (float Alpha, float Beta)[] Scalars = { (1f, 0f), (0.5f, -1.5f), (-2f, 1f) };

    static IEnumerable<TestCaseData> Cases()
    {
        foreach (var v in new[] { GemmVersion.V1Reorder, GemmVersion.V2Packed, GemmVersion.V3Pooled, GemmVersion.V4Blocked, GemmVersion.V5Swept })
            for (int s = 0; s < Shapes.Length; s++)
                foreach (bool ta in new[] { false, true })
                    foreach (bool tb in new[] { false, true })
                        yield return new TestCaseData(v, ta, tb, s).SetName(
                            $"Gemm_{v}_MatchesV0_{Shapes[s].M}x{Shapes[s].N}x{Shapes[s].K}_{(ta ? "T" : "N")}{(tb ? "T" : "N")}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Version_MatchesV0(GemmVersion version, bool transA, bool transB, int shape)
    {
        var (M, N, K) = Shapes[shape];
        var rng = new Random(1000 + shape);
        // Leading dimensions wider than the stored rows, so a kernel that ignores ld fails.
        int lda = (transA ? M : K) + 3, ldb = (transB ? K : N) + 5, ldc = N + 2;
        float[] A = Rand(rng, (transA ? K : M) * lda);
        float[] B = Rand(rng, (transB ? N : K) * ldb);
        float[] C0 = Rand(rng, M * ldc);

        foreach (var (alpha, beta) in Scalars)
        {
            float[] expected = (float[])C0.Clone();
            float[] actual = (float[])C0.Clone();
            // beta = 0 must overwrite: poison C so a kernel that reads it produces NaN.
            if (beta == 0f) { Array.Fill(expected, float.NaN); Array.Fill(actual, float.NaN); }
            Gemm.V0Naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, expected, ldc);
            Gemm.Run(version, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, actual, ldc);

            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                {
                    double bound = ErrorBound(transA, transB, K, alpha, A, lda, B, ldb, beta, C0[i * ldc + j], i, j);
                    Assert.That(actual[i * ldc + j], Is.EqualTo(expected[i * ldc + j]).Within(bound),
                        $"{version} alpha={alpha} beta={beta} C[{i},{j}]");
                }
            // Padding columns between N and ldc belong to the caller: untouched.
            for (int i = 0; i < M; i++)
                for (int j = N; j < ldc; j++)
                    Assert.That(actual[i * ldc + j], Is.EqualTo(expected[i * ldc + j]).Or.NaN);
        }
    }

    /// <summary>
    /// Forward error bound for a float dot product in any summation order (Higham, "Accuracy and
    /// Stability of Numerical Algorithms", 2002, §3.1): |ĉ − c| ≤ γ_K Σ|a_k b_k|, γ_K ≈ K·u with
    /// u = 2^-24. The alpha and beta scalings, an unfused multiply-add and V0's own final rounding
    /// add a handful of roundings more; 2(K + 4)·u covers all of them with margin while staying
    /// tight enough to catch a wrong index (errors then are O(|c|), not O(K·u·|c|)).
    /// </summary>
    static double ErrorBound(bool transA, bool transB, int K, float alpha, float[] A, int lda,
        float[] B, int ldb, float beta, float c0, int i, int j)
    {
        double abs = 0;
        for (int k = 0; k < K; k++)
        {
            float a = transA ? A[k * lda + i] : A[i * lda + k];
            float b = transB ? B[j * ldb + k] : B[k * ldb + j];
            abs += Math.Abs((double)a * b);
        }
        double scale = Math.Abs(alpha) * abs + (beta == 0f ? 0 : Math.Abs(beta) * Math.Abs(c0));
        return 2.0 * (K + 4) * Math.Pow(2, -24) * scale + 1e-30;
    }

    static IEnumerable<TestCaseData> ThreadCases()
    {
        var shapes = new (int M, int N, int K, bool TA, bool TB)[]
        {
            (257, 257, 257, false, false),
            (300, 70, 129, true, false),    // M ≥ N: split over rows
            (70, 300, 129, false, true),    // N > M: split over columns
            (131, 517, 200, true, true),
            (512, 2, 256, false, true),     // M2's 256→2 layer: narrow tile, rows split
        };
        foreach (var v in new[] { GemmVersion.V2Packed, GemmVersion.V3Pooled, GemmVersion.V4Blocked, GemmVersion.V5Swept })
            foreach (var (M, N, K, ta, tb) in shapes)
                yield return new TestCaseData(v, M, N, K, ta, tb).SetName($"Gemm_{v}_MultiThread_BitIdentical_{M}x{N}x{K}_{(ta ? "T" : "N")}{(tb ? "T" : "N")}");
    }

    // V3/V4 cut the problem into a grid planned for Gemm.MaxThreads (2 = this machine's cores; 3 and 5
    // give other grids, ranges whose edges fall mid-block, and more parts than pool threads, claimed by
    // whichever thread is free): every grid must give the single-thread bits. WorkerPool.Threads is left
    // alone: workers, once started, never stop, and extra ones would change other tests' allocations.
    [TestCaseSource(nameof(ThreadCases))]
    public void MultiThread_BitIdenticalToSingleThread(GemmVersion version, int M, int N, int K, bool transA, bool transB)
    {
        var rng = new Random(7);
        int lda = transA ? M : K, ldb = transB ? K : N;
        float[] A = Rand(rng, (transA ? K : M) * lda), B = Rand(rng, (transB ? N : K) * ldb);
        float[] C0 = Rand(rng, M * N);
        int saved = Gemm.MaxThreads;
        long savedThreshold = Gemm.ParallelThreshold;
        try
        {
            Gemm.ParallelThreshold = 1;   // thread even the small shapes
            float[] single = (float[])C0.Clone();
            Gemm.MaxThreads = 1;
            Gemm.Run(version, transA, transB, M, N, K, 0.75f, A, lda, B, ldb, 0.25f, single, N);
            foreach (int threads in new[] { 2, 3, 5 })
            {
                float[] multi = (float[])C0.Clone();
                Gemm.MaxThreads = threads;
                Gemm.Run(version, transA, transB, M, N, K, 0.75f, A, lda, B, ldb, 0.25f, multi, N);
                Assert.That(multi, Is.EqualTo(single), $"threads={threads}");   // exact, bit for bit
            }
        }
        finally { Gemm.MaxThreads = saved; Gemm.ParallelThreshold = savedThreshold; }
    }

    // V5 packs op(B) once for all threads unless it is larger than SharedPackLimit (or another GEMM holds
    // the shared buffer); then every part packs its own columns. That path must give the same bits too.
    [TestCase(257, 257, 257, false, false)]
    [TestCase(131, 517, 200, true, true)]
    [TestCase(70, 300, 129, false, true)]
    public void V5_PerPartPacking_BitIdenticalToSingleThread(int M, int N, int K, bool transA, bool transB)
    {
        var rng = new Random(17);
        int lda = transA ? M : K, ldb = transB ? K : N;
        float[] A = Rand(rng, (transA ? K : M) * lda), B = Rand(rng, (transB ? N : K) * ldb);
        float[] C0 = Rand(rng, M * N);
        int saved = Gemm.MaxThreads;
        long savedThreshold = Gemm.ParallelThreshold, savedLimit = Gemm.SharedPackLimit;
        try
        {
            Gemm.ParallelThreshold = 1;
            float[] single = (float[])C0.Clone();
            Gemm.MaxThreads = 1;
            Gemm.Run(GemmVersion.V5Swept, transA, transB, M, N, K, 0.75f, A, lda, B, ldb, 0.25f, single, N);
            Gemm.SharedPackLimit = 0;
            foreach (int threads in new[] { 2, 3, 5 })
            {
                float[] multi = (float[])C0.Clone();
                Gemm.MaxThreads = threads;
                Gemm.Run(GemmVersion.V5Swept, transA, transB, M, N, K, 0.75f, A, lda, B, ldb, 0.25f, multi, N);
                Assert.That(multi, Is.EqualTo(single), $"threads={threads}");
            }
        }
        finally { Gemm.MaxThreads = saved; Gemm.ParallelThreshold = savedThreshold; Gemm.SharedPackLimit = savedLimit; }
    }

    // V3 changed only who runs which block: each element's arithmetic is V2's, so the bits are V2's.
    [TestCase(257, 257, 257, false, false)]
    [TestCase(512, 256, 256, false, true)]
    [TestCase(256, 256, 512, true, false)]
    [TestCase(37, 2, 389, true, true)]
    public void V3_BitIdenticalToV2(int M, int N, int K, bool transA, bool transB)
    {
        var rng = new Random(11);
        int lda = transA ? M : K, ldb = transB ? K : N;
        float[] A = Rand(rng, (transA ? K : M) * lda), B = Rand(rng, (transB ? N : K) * ldb);
        float[] v2 = Rand(rng, M * N), v3 = (float[])v2.Clone();
        Gemm.Run(GemmVersion.V2Packed, transA, transB, M, N, K, 1.25f, A, lda, B, ldb, 0.5f, v2, N);
        Gemm.Run(GemmVersion.V3Pooled, transA, transB, M, N, K, 1.25f, A, lda, B, ldb, 0.5f, v3, N);
        Assert.That(v3, Is.EqualTo(v2));
    }

    // V5 changed the loop order and who packs op(B) (once, shared by the threads), not any element's
    // arithmetic: V4's kernel, K block and edge merge, so V4's bits on one thread or many.
    [TestCase(257, 257, 257, false, false)]
    [TestCase(1100, 70, 389, true, false)]   // two K blocks, N-edge panel, several row blocks of tiles
    [TestCase(70, 1100, 389, false, true)]   // columns past one 256-wide B block; transposed B in the shared pack
    [TestCase(600, 600, 800, true, true)]
    public void V5_BitIdenticalToV4(int M, int N, int K, bool transA, bool transB)
    {
        var rng = new Random(13);
        int lda = transA ? M : K, ldb = transB ? K : N;
        float[] A = Rand(rng, (transA ? K : M) * lda), B = Rand(rng, (transB ? N : K) * ldb);
        float[] v4 = Rand(rng, M * N), v5 = (float[])v4.Clone(), v5single = (float[])v4.Clone();
        Gemm.Run(GemmVersion.V4Blocked, transA, transB, M, N, K, 1.25f, A, lda, B, ldb, 0.5f, v4, N);
        Gemm.Run(GemmVersion.V5Swept, transA, transB, M, N, K, 1.25f, A, lda, B, ldb, 0.5f, v5, N);
        Assert.That(v5, Is.EqualTo(v4));
        int saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = 1;
            Gemm.Run(GemmVersion.V5Swept, transA, transB, M, N, K, 1.25f, A, lda, B, ldb, 0.5f, v5single, N);
        }
        finally { Gemm.MaxThreads = saved; }
        Assert.That(v5single, Is.EqualTo(v4));
    }

    [TestCase(5, 9, 13, 4, false)]      // small: sequential loop over the batch
    [TestCase(31, 31, 31, 100, false)]  // many small problems: threaded over the batch
    [TestCase(33, 17, 65, 6, true)]     // shared B (strideB = 0), transposes
    public void RunBatched_MatchesV0PerProblem(int M, int N, int K, int batch, bool shareB)
    {
        var rng = new Random(3);
        bool transA = shareB, transB = shareB;
        int lda = transA ? M : K, ldb = transB ? K : N;
        long sA = (long)M * K + 1, sB = shareB ? 0 : (long)K * N + 3, sC = (long)M * N + 2;
        float[] A = Rand(rng, (int)(sA * batch)), B = Rand(rng, (int)(shareB ? K * N : sB * batch));
        float[] C0 = Rand(rng, (int)(sC * batch));
        float[] actual = (float[])C0.Clone(), expected = (float[])C0.Clone();

        Gemm.RunBatched(transA, transB, M, N, K, 1.5f, A, lda, B, ldb, 0.5f, actual, N, batch, sA, sB, sC);
        for (int b = 0; b < batch; b++)
            Gemm.V0Naive(transA, transB, M, N, K, 1.5f, A.AsSpan((int)(b * sA)), lda, B.AsSpan((int)(b * sB)), ldb,
                0.5f, expected.AsSpan((int)(b * sC)), N);

        // Per-element bound as above with |a|,|b| ≤ 1: 2(K + 4)·u·(|alpha|·K + |beta|).
        double tol = 2.0 * (K + 4) * Math.Pow(2, -24) * (1.5 * K + 0.5);
        Assert.That(actual, Is.EqualTo(expected).Within(tol));

        // The threaded batch path must agree bit for bit with the plain loop over Run.
        float[] loop = (float[])C0.Clone();
        for (int b = 0; b < batch; b++)
            Gemm.Run(transA, transB, M, N, K, 1.5f, A.AsSpan((int)(b * sA)), lda, B.AsSpan((int)(b * sB)), ldb,
                0.5f, loop.AsSpan((int)(b * sC)), N);
        Assert.That(actual, Is.EqualTo(loop));
    }

    [Test]
    public void Run_KZero_ScalesC()
    {
        float[] C = { 1f, 2f, float.NaN, 4f };
        Gemm.Run(false, false, 2, 2, 0, 1f, Array.Empty<float>(), 1, Array.Empty<float>(), 2, 0f, C, 2);
        Assert.That(C, Is.EqualTo(new[] { 0f, 0f, 0f, 0f }));
        float[] D = { 1f, 2f, 3f, 4f };
        Gemm.Run(false, false, 2, 2, 0, 1f, Array.Empty<float>(), 1, Array.Empty<float>(), 2, 2f, D, 2);
        Assert.That(D, Is.EqualTo(new[] { 2f, 4f, 6f, 8f }));
    }

    [Test]
    public void Run_SpanTooShort_Throws()
    {
        var A = new float[6 * 5 - 1];   // 6×5 needs 30
        Assert.Throws<ArgumentException>(() =>
            Gemm.Run(false, false, 6, 4, 5, 1f, A, 5, new float[20], 4, 0f, new float[24], 4));
    }

    static float[] Rand(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextSingle() * 2f - 1f;
        return x;
    }
}
