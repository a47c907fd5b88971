// TrainingLoop — the step loop every example program shares, so the programs show only their model:
//
//   for step = start … total−1:
//       stop requested (Ctrl-C)?  → checkpoint at `step`, return Interrupted (exit code 130)
//       loss = Step(step)              inside a TensorScope: the step's tensors return to the pool
//       loss not finite?          → return Diverged (exit 1; the last good checkpoint stays)
//       progress line; every LogEvery: Log(...); every SampleEvery: Sample(...);
//       every CheckpointEvery and at the end: SaveCheckpoint(step + 1)
//
// Stops are only ever taken between steps, so a checkpoint always holds a consistent state and
// `--resume` continues exactly where the run stopped. CtrlC turns the first Ctrl-C into such a
// request (a second one ends the process at once, for a step that never finishes).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli

namespace Denoise.Cli;

public enum LoopOutcome { Completed, Interrupted, Diverged }

/// <param name="Step">Steps completed when the loop stopped.</param>
public sealed record LoopResult(LoopOutcome Outcome, int Step, float LastLoss)
{
    public const int InterruptedExitCode = 130;   // 128 + SIGINT, what shells report for Ctrl-C

    public int ExitCode => Outcome switch
    {
        LoopOutcome.Completed => 0,
        LoopOutcome.Interrupted => InterruptedExitCode,
        _ => 1,
    };

    /// <summary>
    /// For a run that stopped early, prints the usual line (where the checkpoint is, or that the
    /// loss diverged) and returns the exit code; returns null when training completed.
    /// </summary>
    public int? ReportStop(string program, string checkpointPath, TextWriter output, TextWriter errors)
    {
        switch (Outcome)
        {
            case LoopOutcome.Interrupted:
                output.WriteLine($"Interrupted at step {Step}; checkpoint {checkpointPath}. Continue with --resume.");
                return ExitCode;
            case LoopOutcome.Diverged:
                errors.WriteLine($"{program}: loss became {LastLoss} at step {Step}; stopping (the last checkpoint is kept).");
                return ExitCode;
            default:
                return null;
        }
    }
}

public sealed class TrainingLoop
{
    public required int StartStep { get; init; }
    public required int TotalSteps { get; init; }
    /// <summary>Runs step <c>i</c> (0-based) and returns its loss; called inside a TensorScope.</summary>
    public required Func<int, float> Step { get; init; }
    /// <summary>Writes a checkpoint saying that this many steps are done.</summary>
    public required Action<int> SaveCheckpoint { get; init; }
    public required Progress Progress { get; init; }
    public int CheckpointEvery { get; init; } = 1000;
    public int LogEvery { get; init; } = 100;
    public int SampleEvery { get; init; }
    /// <summary>(steps done, mean loss of the last LogEvery steps, steps/s) every LogEvery steps and at the end.</summary>
    public Action<int, float, double>? Log { get; init; }
    /// <summary>Called with the steps done every SampleEvery steps (when SampleEvery &gt; 0).</summary>
    public Action<int>? Sample { get; init; }
    public CancellationToken Cancel { get; init; }

    public LoopResult Run()
    {
        float loss = float.NaN;
        for (int step = StartStep; step < TotalSteps; step++)
        {
            if (Cancel.IsCancellationRequested)
            {
                SaveCheckpoint(step);
                Progress.EndLiveLine();
                return new LoopResult(LoopOutcome.Interrupted, step, loss);
            }

            using (TensorScope.Begin()) loss = Step(step);
            if (!float.IsFinite(loss))
            {
                Progress.EndLiveLine();
                return new LoopResult(LoopOutcome.Diverged, step + 1, loss);
            }

            int done = step + 1;
            bool last = done == TotalSteps;
            Progress.Report(done, loss);
            if (done % LogEvery == 0 || last) Log?.Invoke(done, Progress.RecentLoss, Progress.StepsPerSecond(done));
            if (SampleEvery > 0 && done % SampleEvery == 0) Sample?.Invoke(done);
            if (done % CheckpointEvery == 0 || last) SaveCheckpoint(done);
        }
        return new LoopResult(LoopOutcome.Completed, Math.Max(StartStep, TotalSteps), loss);
    }
}

/// <summary>Turns Ctrl-C into a cancellation request the training loop honours between steps.</summary>
public sealed class CtrlC : IDisposable
{
    readonly CancellationTokenSource source = new();
    readonly TextWriter notices;

    CtrlC(TextWriter notices)
    {
        this.notices = notices;
        Console.CancelKeyPress += OnCancelKeyPress;
    }

    public CancellationToken Token => source.Token;

    /// <summary>Subscribes to Console.CancelKeyPress until disposed.</summary>
    public static CtrlC Install(TextWriter? notices = null) => new(notices ?? Console.Error);

    void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (source.IsCancellationRequested) return;   // second Ctrl-C: let the runtime end the process
        e.Cancel = true;
        source.Cancel();
        notices.WriteLine();
        notices.WriteLine("Ctrl-C: stopping after this step and writing a checkpoint (press again to quit at once).");
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        source.Dispose();
    }
}
