// RunDirectory — the --out folder of one training run, and the rules that keep its results safe.
//
//   config.json             the options of the run (atomic)
//   metrics.jsonl           one JSON object per logged step, appended and flushed line by line
//   checkpoint.safetensors  written by the program through Checkpoint.Save (atomic)
//
// Opening checks everything before anything is written, so a bad command line never costs a file:
//   fresh run, folder holds a previous run  → refused (UsageException, exit 2) unless --overwrite
//   --resume, no checkpoint in the folder   → refused
//   --resume together with --overwrite      → refused (they contradict each other)
// On --resume, metrics.jsonl lines logged after the checkpoint's step are dropped (the run repeats
// those steps), so the file reads as one uninterrupted run.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli

using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Denoise.IO;

namespace Denoise.Cli;

public sealed class RunDirectory
{
    public const string ConfigFile = "config.json", MetricsFile = "metrics.jsonl", CheckpointFile = "checkpoint.safetensors";

    /// <summary>Files whose presence means "a previous run lives here".</summary>
    static readonly string[] RunMarkers = [CheckpointFile, ConfigFile, MetricsFile];

    static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public string Path { get; }
    public bool Resuming { get; }
    public string CheckpointPath => File(CheckpointFile);

    RunDirectory(string path, bool resuming) { Path = path; Resuming = resuming; }

    /// <summary>The path of <paramref name="name"/> inside the run folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Checks the folder against --resume/--overwrite (throwing UsageException) and creates it if needed.</summary>
    public static RunDirectory Open(string path, bool resume, bool overwrite)
    {
        if (resume && overwrite)
            throw new UsageException("--resume and --overwrite contradict each other: --resume continues the run in --out, --overwrite replaces it.");
        var run = new RunDirectory(path, resume);
        if (resume)
        {
            if (!System.IO.File.Exists(run.CheckpointPath))
                throw new UsageException($"--resume: no checkpoint at {run.CheckpointPath}; start without --resume, or point --out at the run to continue.");
        }
        else
        {
            var found = RunMarkers.Where(f => System.IO.File.Exists(run.File(f))).ToList();
            if (found.Count > 0 && !overwrite)
                throw new UsageException($"--out {path} already holds a run ({string.Join(", ", found)}); pass --resume to continue it, --overwrite to replace it, or choose another --out.");
        }
        Directory.CreateDirectory(path);
        return run;
    }

    /// <summary>
    /// Makes the folder ready for training, after the program has validated everything (options,
    /// checkpoint): a fresh run removes the previous run's checkpoint and metrics (only reached with
    /// --overwrite); a resumed run trims metrics to <paramref name="resumedStep"/>. Then writes config.json.
    /// </summary>
    public void Begin(string configJson, long resumedStep = 0)
    {
        if (Resuming) TrimMetricsAfter(resumedStep);
        else
        {
            System.IO.File.Delete(CheckpointPath);
            System.IO.File.Delete(File(MetricsFile));
        }
        WriteConfig(configJson);
    }

    public void WriteConfig(string json) => AtomicFile.WriteAllBytes(File(ConfigFile), Encoding.UTF8.GetBytes(json));

    /// <summary>Appends one JSON line (e.g. new { step, loss }) to metrics.jsonl and flushes it.</summary>
    public void AppendMetrics(object record)
    {
        string line = JsonSerializer.Serialize(record, Json);
        using var stream = new FileStream(File(MetricsFile), FileMode.Append, FileAccess.Write, FileShare.Read);
        stream.Write(Encoding.UTF8.GetBytes(line + "\n"));
    }

    /// <summary>Drops metrics lines whose "step" is beyond <paramref name="step"/> (and any torn last line).</summary>
    public void TrimMetricsAfter(long step)
    {
        string path = File(MetricsFile);
        if (!System.IO.File.Exists(path)) return;
        var kept = new StringBuilder();
        foreach (string line in System.IO.File.ReadLines(path))
        {
            if (line.Length == 0) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("step", out var s) && s.TryGetInt64(out long at) && at > step) continue;
            }
            catch (JsonException) { continue; }   // a line cut short by a crash
            kept.Append(line).Append('\n');
        }
        AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(kept.ToString()));
    }
}
