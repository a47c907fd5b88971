// Progress — what a training run prints while it runs.
//
// On a terminal: one live line rewritten in place with '\r' — step, loss (mean of the last
// `window` steps), steps/s, items/s (images, points, tokens), ETA — at most ~10 times a second,
// so printing never slows a fast loop. When output is redirected (CI logs, files), '\r' would
// produce one endless line, so it prints a plain line every `logEvery` steps and at the end.
// Rates are measured from this run's first step, so a resumed run reports its own speed.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli

using System.Diagnostics;
using System.Globalization;

namespace Denoise.Cli;

public sealed class Progress
{
    readonly TextWriter output;
    readonly int totalSteps, startStep, itemsPerStep, logEvery;
    readonly string itemName;
    readonly bool interactive;
    readonly Func<double> seconds;          // elapsed seconds since construction (a fake in tests)
    readonly float[] recent;                // ring buffer of the last losses
    int recentCount, recentNext;
    double lastDraw = double.NegativeInfinity;
    int liveLength;                         // characters of the live line now on screen (0: none)

    /// <summary>Minimum time between two live-line redraws on a terminal.</summary>
    public const double RedrawSeconds = 0.1;

    /// <param name="interactive">null: a terminal when <paramref name="output"/> is the console and it is not redirected.</param>
    public Progress(TextWriter output, int totalSteps, int startStep, int itemsPerStep, string itemName = "images",
                    int logEvery = 100, bool? interactive = null, Func<double>? clock = null)
    {
        this.output = output;
        this.totalSteps = totalSteps; this.startStep = startStep;
        this.itemsPerStep = itemsPerStep; this.itemName = itemName;
        this.logEvery = Math.Max(1, logEvery);
        this.interactive = interactive ?? (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected);
        recent = new float[this.logEvery];
        if (clock == null) { var sw = Stopwatch.StartNew(); clock = () => sw.Elapsed.TotalSeconds; }
        seconds = clock;
    }

    public bool Interactive => interactive;

    /// <summary>Mean loss of the last logEvery steps reported.</summary>
    public float RecentLoss
    {
        get
        {
            double sum = 0;
            for (int i = 0; i < recentCount; i++) sum += recent[i];
            return recentCount == 0 ? float.NaN : (float)(sum / recentCount);
        }
    }

    /// <summary>Steps per second since this run's first step.</summary>
    public double StepsPerSecond(int step) => (step - startStep) / Math.Max(seconds(), 1e-9);

    /// <summary>Call after each step with the number of steps completed and that step's loss.</summary>
    public void Report(int step, float loss)
    {
        recent[recentNext] = loss;
        recentNext = (recentNext + 1) % recent.Length;
        recentCount = Math.Min(recentCount + 1, recent.Length);

        bool last = step >= totalSteps;
        if (interactive)
        {
            double now = seconds();
            if (!last && now - lastDraw < RedrawSeconds) return;
            lastDraw = now;
            string line = Line(step);
            output.Write("\r" + line + new string(' ', Math.Max(0, liveLength - line.Length)));
            liveLength = line.Length;
            if (last) EndLiveLine();
        }
        else if (step % logEvery == 0 || last)
        {
            output.WriteLine(Line(step));
        }
    }

    /// <summary>Prints a message on its own line, moving the live line out of the way first.</summary>
    public void WriteLine(string message)
    {
        EndLiveLine();
        output.WriteLine(message);
    }

    /// <summary>Ends the live line (if any) so later output starts on a fresh line.</summary>
    public void EndLiveLine()
    {
        if (liveLength == 0) return;
        output.WriteLine();
        liveLength = 0;
    }

    string Line(int step)
    {
        var inv = CultureInfo.InvariantCulture;
        double rate = StepsPerSecond(step);
        double eta = rate > 0 ? (totalSteps - step) / rate : double.NaN;
        int width = totalSteps.ToString(inv).Length;
        return string.Create(inv, $"step {step.ToString(inv).PadLeft(width)}/{totalSteps}  loss {RecentLoss:F4}  {rate:F1} steps/s  {rate * itemsPerStep:F0} {itemName}/s  ETA {FormatDuration(eta)}");
    }

    /// <summary>"42s", "3m05s", "1h02m"; "?" when unknown.</summary>
    public static string FormatDuration(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) return "?";
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m"
             : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:D2}s"
             : $"{t.Seconds}s";
    }
}
