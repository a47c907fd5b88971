// WorkerPool.cs — a persistent pool of worker threads that splits one large kernel call into
// numbered parts, without allocating per call.
//
// Why not Parallel.For: on this machine (shared/docs/MACHINE.md) one Parallel.For with an empty
// body costs 10–23 µs, as long as a whole small op. Here the workers are started once, spin for
// SpinMicroseconds (50 µs) after each job (so the next op of a training step finds them awake,
// ~1 µs to start), then sleep on a monitor (so an idle process does not burn a core).
//
// Determinism: a job is `parts` independent pieces numbered 0..parts−1, and the caller chooses the
// parts from the problem shape, never from the thread count. Which thread runs a part is decided at
// run time, so a part must write only its own outputs (or its own partial sum, combined in part
// order by the caller afterwards). Then the bits do not depend on the number of threads.
//
// Jobs are structs implementing IParallelJob (no closure, no delegate allocation); they hold raw
// pointers, not spans, because they sit in a static field while the workers run them.
// Calls from inside a job, or from a second thread while a job runs, run serially on the caller.
// An exception thrown by a part (on any thread) is rethrown on the caller once every claimed part
// has finished, so a worker never dies and the next job never sees a half-finished one.
//
// Measured hand-off (tests/Kernels/WorkerPoolTests.cs; bench `versions --pool`): a 2-part job
// whose worker is spinning starts on both cores within ~1 µs; one whose worker has gone to sleep
// pays a futex wake (~10–50 µs), unless the caller has claimed every part before the worker wakes.
// The multi-millisecond "stalls" once seen through this pool had two causes: the .NET tiered JIT
// (the first ~30 calls of each kernel ran unoptimised tier-0 code; see Map.cs and VecMath.cs) and a
// worker spin of 1.5–8 ms instead of the intended 50–100 µs (see SpinMicroseconds). Measured with
// both fixed, interleaved, load 16 on 2 cores: K3 forward median 0.43 ms on 2 threads (4.4 ms with
// the old spin) against 0.43 ms on 1; SiLU over 16M floats 11.2 ms against 12.4 ms on 1.
// Claim order (caller from the front, workers from the back; see `state`): K3 fwd+bwd in the engine,
// 2 threads, bench/compare.sh --rounds 2 --only K3, load 2.2: 64×64×14×14 1.011 → 0.685 ms,
// 64×128×7×7 0.602 → 0.438 ms (PyTorch 1.05–1.15 / 0.60–0.62); K1, K2, M1 unchanged within noise.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.WorkerPool
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Denoise.Kernels.Cpu;

/// <summary>One piece of a parallel job: <see cref="Execute"/> runs part <c>part</c> of it.</summary>
public interface IParallelJob
{
    void Execute(int part);
}

public static class WorkerPool
{
    /// <summary>
    /// Threads used by a job, the caller included (1 = single-thread mode, for reproducibility
    /// checks; results are the same bits either way). Defaults to the processor count. Workers are
    /// started up to this count and never stopped; lowering it to 1 makes every job serial.
    /// </summary>
    public static int Threads
    {
        get => threads;
        set => threads = Math.Clamp(value, 1, 64);
    }
    static int threads = Environment.ProcessorCount;

    /// <summary>
    /// How long a worker spins after a job before it sleeps, in µs. Spinning makes the next op's hand-off
    /// ~1 µs instead of a futex wake; sleeping gives the core back. The spin used to be counted in
    /// rounds (2000 × Thread.SpinWait(20), meant as ~50–100 µs) but measured 1.5–8 ms here: after every
    /// parallel op a worker burnt a core for milliseconds, and on a machine shared with other processes
    /// (load ≫ cores) the scheduler then preempted it while it held a part, so the caller waited (K3
    /// forward, 2 threads, load 10: median 2.2 ms with that spin, 0.54–0.59 ms with ≤ 200 rounds).
    /// </summary>
    public static int SpinMicroseconds { get; set; } = 50;
    const int SpinIterations = 20;   // one Thread.SpinWait(20) ≈ 0.8 µs here

    static readonly object gate = new();
    static Thread[] workers = [];
    static int busy;                 // 1 while a job runs (re-entrant and concurrent calls go serial)
    static int sleepers;             // workers blocked in Monitor.Wait
    static int done;                 // parts of the current job finished
    static Action<int>? body;        // the current job's Execute, cached per job type
    static ExceptionDispatchInfo? error;   // the first exception thrown by a part of the current job

    // The claim word: generation (bits 40+) | end (bits 20–39) | next (bits 0–19): parts [next, end)
    // are unclaimed. A part is claimed by one compare-and-swap on the whole word, so a worker that woke
    // late can never claim a part of a job it has not seen: the caller waits only for parts that were
    // claimed, never for a worker that is asleep or descheduled (this machine is shared).
    // The caller claims from the front (next++), workers from the back (--end): on 2 threads the caller
    // runs the first parts and the worker the last, op after op, so the half of a tensor one core wrote
    // is the half it reads in the next op (kernels cut parts in memory order). With one shared counter
    // each part went to whichever thread came first, and about half the data of every op had to come
    // from the other core's cache (K3 in the engine, 2 threads: each part ran at half its one-thread
    // speed). Which thread runs a part still never changes the bits.
    static long state;
    const int FieldBits = 20;
    const long FieldMask = (1L << FieldBits) - 1;
    public const int MaxParts = (1 << FieldBits) - 1;

    /// <summary>Runs job.Execute(p) for p in [0, parts) across the pool; returns when all are done.</summary>
    public static void Run<TJob>(in TJob job, int partCount) where TJob : struct, IParallelJob
    {
        if (partCount <= 0) return;
        if (partCount > MaxParts) throw new ArgumentOutOfRangeException(nameof(partCount), $"at most {MaxParts} parts");
        if (threads <= 1 || partCount == 1 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            // Serial parts run in ascending order on this thread, even on a worker (a job run from inside a job).
            bool fromBack = t_claimsFromBack;
            t_claimsFromBack = false;
            try { for (int p = 0; p < partCount; p++) job.Execute(p); }
            finally { t_claimsFromBack = fromBack; }
            return;
        }
        try
        {
            EnsureWorkers(threads - 1);
            JobSlot<TJob>.Job = job;
            body = JobSlot<TJob>.Invoke;
            done = 0;
            long gen = (Volatile.Read(ref state) >> (2 * FieldBits)) + 1;
            Interlocked.Exchange(ref state, (gen << (2 * FieldBits)) | ((long)partCount << FieldBits));   // publishes (full fence)
            if (Volatile.Read(ref sleepers) > 0)
                lock (gate) Monitor.PulseAll(gate);
            Work(fromFront: true);
            var spin = new SpinWait();
            while (Volatile.Read(ref done) < partCount) spin.SpinOnce(sleep1Threshold: -1);
            JobSlot<TJob>.Job = default;
            body = null;
            var e = Interlocked.Exchange(ref error, null);
            e?.Throw();
        }
        finally { Volatile.Write(ref busy, 0); }
    }

    /// <summary>Claims and runs parts of the current job until none is left: the caller from the front, workers from the back.</summary>
    static void Work(bool fromFront)
    {
        while (true)
        {
            long s = Volatile.Read(ref state);
            long next = s & FieldMask, end = (s >> FieldBits) & FieldMask;
            if (next >= end) return;
            long part = fromFront ? next : end - 1;
            if (Interlocked.CompareExchange(ref state, fromFront ? s + 1 : s - (1L << FieldBits), s) != s) continue;
            // Claimed: the job cannot finish before this part does, so body is this job's.
            try { body!((int)part); }
            catch (Exception e) { Interlocked.CompareExchange(ref error, ExceptionDispatchInfo.Capture(e), null); }
            finally { Interlocked.Increment(ref done); }
        }
    }

    [ThreadStatic] static bool t_claimsFromBack;

    /// <summary>
    /// The part this thread will most likely run after <paramref name="part"/>, or −1 if none: part + 1 on the
    /// caller (and in serial runs), part − 1 on a worker, which claims from the back. Only for prefetching the
    /// next part's input (Conv2d.V7); never for correctness, since another thread may claim that part first.
    /// </summary>
    public static int LikelyNextPart(int part, int parts)
    {
        int next = t_claimsFromBack ? part - 1 : part + 1;
        return next >= 0 && next < parts ? next : -1;
    }

    /// <summary>Splits [0, n) into <paramref name="parts"/> contiguous ranges by arithmetic only.</summary>
    public static (int Start, int Length) Range(int n, int parts, int part)
    {
        int lo = (int)((long)n * part / parts), hi = (int)((long)n * (part + 1) / parts);
        return (lo, hi - lo);
    }

    /// <summary>
    /// How many parts to cut <paramref name="n"/> items into so each part has at least
    /// <paramref name="minPerPart"/> of them (1 when n is small); at most <paramref name="maxParts"/>.
    /// Depends only on n, so the partition is the same whatever the thread count.
    /// </summary>
    public static int PartsFor(long n, long minPerPart, int maxParts = 16) =>
        (int)Math.Clamp(n / Math.Max(1, minPerPart), 1, maxParts);

    static void EnsureWorkers(int count)
    {
        if (workers.Length >= count) return;
        lock (gate)
        {
            var grown = new Thread[count];
            Array.Copy(workers, grown, workers.Length);
            for (int i = workers.Length; i < count; i++)
            {
                grown[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"Denoise worker {i + 1}" };
                grown[i].Start();
            }
            workers = grown;
        }
    }

    static void WorkerLoop()
    {
        long seen = -1;   // generation last worked on
        t_claimsFromBack = true;
        while (true)
        {
            long spinUntil = Stopwatch.GetTimestamp() + SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
            while (Volatile.Read(ref state) >> (2 * FieldBits) == seen)
            {
                if (Stopwatch.GetTimestamp() < spinUntil) { Thread.SpinWait(SpinIterations); continue; }
                lock (gate)
                {
                    Interlocked.Increment(ref sleepers);
                    while (Volatile.Read(ref state) >> (2 * FieldBits) == seen) Monitor.Wait(gate);
                    Interlocked.Decrement(ref sleepers);
                }
            }
            seen = Volatile.Read(ref state) >> (2 * FieldBits);
            Work(fromFront: false);
        }
    }

    static class JobSlot<TJob> where TJob : struct, IParallelJob
    {
        public static TJob Job;
        public static readonly Action<int> Invoke = p => Job.Execute(p);
    }
}
