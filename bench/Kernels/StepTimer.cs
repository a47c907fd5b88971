// StepTimer.cs — the timing loop the step benchmarks (m1, m4, step m2|m3) share.
using System.Diagnostics;

namespace Denoise.Bench;

static class StepTimer
{
    /// <summary>Wall time and process CPU time (all threads) of each of <paramref name="steps"/> calls, each array
    /// sorted ascending: the minimum at [0], the median at [steps / 2].</summary>
    public static (double[] Wall, double[] Cpu) Measure(Action step, int steps)
    {
        var proc = Process.GetCurrentProcess();
        var wall = new double[steps]; var cpu = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            proc.Refresh();
            var cpu0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            step();
            wall[i] = sw.Elapsed.TotalMilliseconds;
            proc.Refresh();
            cpu[i] = (proc.TotalProcessorTime - cpu0).TotalMilliseconds;
        }
        Array.Sort(wall); Array.Sort(cpu);
        return (wall, cpu);
    }
}
