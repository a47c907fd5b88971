// DeviceFallbacks — counts, per op, the times an op ran on the host for lack of a GPU kernel
// (GpuStorage.HostFloatsForFallback: a device tensor reached through Tensor.Data/Span/IntData/IntSpan).
//
// The op is named from the call stack: the first frame outside the host accessors, e.g.
// "Tensor.MaxMin", "F.GroupNorm", "ConvKernels.Conv2dForward". Walking the stack costs tens of µs,
// paid only on the fallback path, which already pays a device→host copy; CPU tensors never get here.
// A test asserts Total == 0 over a training step to prove the step ran entirely in kernels;
// Report() lists what still falls back, most frequent first.
//
// Usage:  DeviceFallbacks.Reset(); … a step on Device.Cuda() …; Console.Write(DeviceFallbacks.Report());
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace Denoise;

public static class DeviceFallbacks
{
    static readonly Dictionary<string, long> counts = new();
    static readonly Lock gate = new();
    static long total;

    /// <summary>Host fallbacks since the last <see cref="Reset"/>, all ops and devices.</summary>
    public static long Total => Interlocked.Read(ref total);

    /// <summary>Fallbacks per op ("Type.Method" of the op that touched device memory on the host).</summary>
    public static IReadOnlyDictionary<string, long> Counts { get { lock (gate) return new Dictionary<string, long>(counts); } }

    /// <summary>Called with (op, device name) on every fallback: a profiler hook.</summary>
    public static event Action<string, string>? OnFallback;

    public static void Reset() { lock (gate) { counts.Clear(); total = 0; } }

    internal static void Record(GpuDevice device)
    {
        string op = CallingOp();
        lock (gate) counts[op] = counts.GetValueOrDefault(op) + 1;
        Interlocked.Increment(ref total);
        OnFallback?.Invoke(op, device.Name);
    }

    /// <summary>"ops falling back to the host: Tensor.MaxMin 12, F.GroupNorm 4" (or that none did).</summary>
    public static string Report()
    {
        var rows = Counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (rows.Count == 0) return "No host fallbacks: every op ran in device kernels.\n";
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Host fallbacks (ops without a GPU kernel): {Total} accesses");
        foreach (var (op, n) in rows) sb.AppendLine(CultureInfo.InvariantCulture, $"  {op,-40} {n,8}");
        return sb.ToString();
    }

    static string CallingOp()
    {
        var frames = new StackTrace(2, false).GetFrames();
        foreach (var f in frames)
        {
            var m = f.GetMethod();
            if (m?.DeclaringType is not Type t) continue;
            if (t == typeof(GpuStorage) || t == typeof(DeviceFallbacks)) continue;
            if (t == typeof(Tensor) && (m.Name.StartsWith("get_", StringComparison.Ordinal) || m.Name.StartsWith("Host", StringComparison.Ordinal))) continue;
            return Describe(m, t);
        }
        return "(unknown)";
    }

    static string Describe(MethodBase m, Type t)
    {
        // Lambdas (backward rules) live in compiler-generated classes "<>c__DisplayClass…" with names "<SiLU>b__0".
        while (t.Name.StartsWith('<') && t.DeclaringType != null) t = t.DeclaringType;
        string name = m.Name;
        if (name.StartsWith('<') && name.IndexOf('>') is int close and > 1) name = name[1..close] + " (backward/closure)";
        if (m.IsGenericMethod) name += "<" + string.Join(",", m.GetGenericArguments().Select(a => a.Name)) + ">";
        return $"{t.Name}.{name}";
    }
}
