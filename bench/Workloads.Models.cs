// Whole-model workloads (M1–M4) for the WORKLOADS runner; see Workloads.cs.
using System.Text.Json.Nodes;

namespace Denoise.Bench;

public static partial class Workloads
{
    private static partial IEnumerable<(string key, Func<JsonObject> run)> ModelWorkloads(Options o)
    {
        yield break;
    }
}
