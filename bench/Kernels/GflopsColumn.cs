// A BenchmarkDotNet column reporting GFLOP/s = FLOPs of the case / mean time. Each benchmark class
// passes the FLOP count of a case (from its parameters and method) and a legend saying how it counts.
// With name "GB/s" and a byte count instead, the same column reports bandwidth (NormBench).
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Denoise.Bench;

public sealed class GflopsColumn(Func<BenchmarkCase, double?> flops, string legend, string name = "GFLOP/s") : IColumn
{
    public string Id => nameof(GflopsColumn) + legend.GetHashCode();
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || flops(benchmarkCase) is not double f) return "–";
        return (f / stats.Mean).ToString("F1");   // Mean is in ns: flop/ns = GFLOP/s
    }
}
