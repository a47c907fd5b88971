// CommonOptions — the options every example program shares, declared once so that --help, names,
// checks and defaults read the same everywhere. A program passes its own defaults and then
// declares its own options on the same parser:
//   var cli = new OptionParser("toy2d", "...", "...");
//   var common = CommonOptions.Add(cli, new CommonDefaults(Data: "moons", DataHelp: "moons | 8gaussians", Steps: 3000, ...));
//   var samples = cli.Int("--samples", 2000, "points to sample at the end", min: 2);
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli

namespace Denoise.Cli;

/// <summary>Per-program defaults of the common options. <paramref name="ValidateData"/> returns the problem with a --data value, or null.</summary>
public sealed record CommonDefaults(
    string Data,
    string DataHelp,
    int Steps,
    int BatchSize,
    float Lr,
    string Out,
    int SampleEvery = 0,
    int CheckpointEvery = 1000,
    int LogEvery = 100,
    int MinBatchSize = 1,
    Func<string, string?>? ValidateData = null);

public sealed class CommonOptions
{
    public required Option<string> Data { get; init; }
    public required Option<int> Steps { get; init; }
    public required Option<int> BatchSize { get; init; }
    public required Option<float> Lr { get; init; }
    public required Option<int> Seed { get; init; }
    public required Option<string> Device { get; init; }
    public required Option<string> Out { get; init; }
    public required Option<bool> Resume { get; init; }
    public required Option<bool> Overwrite { get; init; }
    public required Option<int> SampleEvery { get; init; }
    public required Option<int> CheckpointEvery { get; init; }
    public required Option<int> LogEvery { get; init; }

    public static CommonOptions Add(OptionParser cli, CommonDefaults d) => new()
    {
        Data = cli.String("--data", d.Data, d.DataHelp, "NAME", d.ValidateData),
        Steps = cli.Int("--steps", d.Steps, "training steps (total, counting resumed ones)", min: 1),
        BatchSize = cli.Int("--batch-size", d.BatchSize, "examples per step", min: d.MinBatchSize),
        Lr = cli.Float("--lr", d.Lr, "learning rate", positive: true),
        Seed = cli.Int("--seed", 0, "seed for init, data and noise", min: 0),
        Device = cli.String("--device", "cpu", "where to run: cpu | cuda[:N] | opencl[:N] | ilgpu-cpu | best", "NAME", ValidateDevice),
        Out = cli.String("--out", d.Out, "output folder", "DIR", s => s.Trim().Length == 0 ? "the folder name is empty." : null),
        Resume = cli.Flag("--resume", "continue from DIR/checkpoint.safetensors"),
        Overwrite = cli.Flag("--overwrite", "start afresh even if DIR holds a previous run"),
        SampleEvery = cli.Int("--sample-every", d.SampleEvery, "write samples every N steps (0: only at the end)", min: 0),
        CheckpointEvery = cli.Int("--checkpoint-every", d.CheckpointEvery, "checkpoint every N steps (and at the end)", min: 1),
        LogEvery = cli.Int("--log-every", d.LogEvery, "metrics line every N steps", min: 1),
    };

    static string? ValidateDevice(string name)
    {
        try { Denoise.Device.Parse(name); return null; }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return e.Message; }   // bad name, or a GPU that is absent
    }
}
