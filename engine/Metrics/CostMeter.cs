// CostMeter — what a phase of work (training, sampling, evaluating) cost: wall time, time per
// sample, network evaluations per sample (NFE, the unit diffusion samplers are compared in),
// parameters, and memory. Every model family measures itself the same way, so the comparison
// table lines up.
//
//   using var meter = CostMeter.Start("sampling", parameters: net.ParameterCount());
//   var x = sampler.Sample(n, steps);
//   meter.AddSamples(n, evaluationsEach: steps);       // or AddSamples(n) + AddEvaluations(n) per network call on n inputs
//   CostRecord cost = meter.Stop();        // → JSON via JsonSerializer; one line via cost.ToString()
//
// Memory, three views, because no single number is both cheap and exact in .NET:
//   PeakManagedBytes   max of GC.GetTotalMemory(false) seen by a 20 Hz sampler plus at Start/Stop
//                      (live managed heap, which holds every tensor buffer on the CPU);
//   PoolAllocatedBytes fresh arrays the tensor pool (CpuPool) had to allocate during the phase — the
//                      growth of the pool's high-water mark, i.e. the phase's extra working set;
//   GcAllocatedBytes   all managed allocation during the phase (GC.GetTotalAllocatedBytes delta):
//                      a measure of churn, not of footprint;
//   ProcessPeakWorkingSetBytes  the process's peak resident set so far (OS counter; whole process).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.CostMeter
using System.Diagnostics;

namespace Denoise.Metrics;

/// <summary>One phase's cost. Per-sample fields are NaN when no samples were counted.</summary>
public sealed record CostRecord(
    string Phase, double Seconds, long Samples, double SecondsPerSample, long NetworkEvaluations, double EvaluationsPerSample,
    long Parameters, long PeakManagedBytes, long PoolAllocatedBytes, long GcAllocatedBytes, long ProcessPeakWorkingSetBytes)
{
    public override string ToString() =>
        $"{Phase}: {Seconds:F2} s" +
        (Samples > 0 ? $", {Samples} samples, {SecondsPerSample * 1000:F3} ms/sample, {EvaluationsPerSample:G4} NFE/sample" : "") +
        (Parameters > 0 ? $", {Parameters:N0} parameters" : "") +
        $", peak managed {PeakManagedBytes / 1048576.0:F1} MiB, pool +{PoolAllocatedBytes / 1048576.0:F1} MiB";
}

public sealed class CostMeter : IDisposable
{
    readonly string phase;
    readonly long parameters;
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly long poolStart = CpuPool.Floats.AllocatedBytes + CpuPool.Ints.AllocatedBytes;
    readonly long gcStart = GC.GetTotalAllocatedBytes(precise: false);
    readonly Timer sampler;
    long peakManaged, samples, evaluations;
    CostRecord? result;

    CostMeter(string phase, long parameters)
    {
        this.phase = phase;
        this.parameters = parameters;
        peakManaged = GC.GetTotalMemory(false);
        sampler = new Timer(_ => SampleMemory(), null, 50, 50);
    }

    /// <summary>Starts timing a phase; <paramref name="parameters"/> is the model's parameter count (0 if none).</summary>
    public static CostMeter Start(string phase, long parameters = 0) => new(phase, parameters);

    /// <summary>Counts <paramref name="n"/> generated (or trained-on) samples that took <paramref name="evaluationsEach"/> network evaluations each; thread-safe.</summary>
    public void AddSamples(long n, long evaluationsEach = 0)
    {
        Interlocked.Add(ref samples, n);
        Interlocked.Add(ref evaluations, n * evaluationsEach);
    }

    /// <summary>
    /// Counts network evaluations per input: a forward pass over a batch of B inputs adds B (batching
    /// does not change the count, so NFE per sample reads the same at any batch size); thread-safe.
    /// </summary>
    public void AddEvaluations(long n) => Interlocked.Add(ref evaluations, n);

    public TimeSpan Elapsed => clock.Elapsed;

    void SampleMemory()
    {
        long now = GC.GetTotalMemory(false), seen;
        do seen = Interlocked.Read(ref peakManaged);
        while (now > seen && Interlocked.CompareExchange(ref peakManaged, now, seen) != seen);
    }

    /// <summary>Stops the clock and returns the record (the same one on later calls).</summary>
    public CostRecord Stop()
    {
        if (result != null) return result;
        clock.Stop();
        sampler.Dispose();
        SampleMemory();
        double seconds = clock.Elapsed.TotalSeconds;
        long n = Interlocked.Read(ref samples), e = Interlocked.Read(ref evaluations);
        using var process = Process.GetCurrentProcess();
        result = new CostRecord(phase, seconds, n, n > 0 ? seconds / n : double.NaN, e, n > 0 ? e / (double)n : double.NaN,
            parameters, Interlocked.Read(ref peakManaged),
            CpuPool.Floats.AllocatedBytes + CpuPool.Ints.AllocatedBytes - poolStart,
            GC.GetTotalAllocatedBytes(precise: false) - gcStart, process.PeakWorkingSet64);
        return result;
    }

    public void Dispose() => Stop();
}
