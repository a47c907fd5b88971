// Schedules.cs — learning-rate schedules as pure functions of the step: lr = schedule.At(step).
//
// `step` is the 0-based index of the optimizer step about to be taken, so a loop reads
//     for (int step = 0; step < total; step++) { schedule.Apply(opt, step); …; opt.Step(); }
// and a resumed run gets the right rate from the step alone (no hidden state to checkpoint).
//
// Formulas (t = step; all computed in double, returned as float):
//   Constant(lr)                          lr
//   LinearWarmup(W, then)                 t < W:  then.At(0) · (t + 1) / W      (the first step is not wasted at 0)
//                                         t ≥ W:  then.At(t − W)                 (`then` starts when warm-up ends)
//   CosineAnnealing(η, T, ηmin, W = 0)    SGDR without restarts (Loshchilov & Hutter, 2017; torch's
//                                         CosineAnnealingLR closed form):
//                                         ηmin + (η − ηmin) · (1 + cos(π · min(t', T') / T')) / 2
//                                         with t' = t − W and T' = T − W after a linear warm-up of W
//                                         steps as above; T counts the warm-up. Stays at ηmin for t ≥ T.
//   StepLr(η, s, γ)                       η · γ^⌊t / s⌋                          (torch StepLR)
//   ExponentialLr(η, γ)                   η · γ^t                                (torch ExponentialLR)
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Optim
namespace Denoise.Optim;

public abstract class LrSchedule
{
    /// <summary>The learning rate for 0-based step <paramref name="step"/>.</summary>
    public abstract float At(int step);

    /// <summary>Sets <paramref name="optimizer"/>'s LearningRate for <paramref name="step"/> and returns it.</summary>
    public float Apply(Optimizer optimizer, int step)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        return optimizer.LearningRate = At(step);
    }

    public static LrSchedule Constant(float lr) => new FunctionSchedule(step => lr, "Constant");

    public static LrSchedule LinearWarmup(int warmupSteps, LrSchedule then)
    {
        ArgumentNullException.ThrowIfNull(then);
        if (warmupSteps < 0) throw new ArgumentException($"LinearWarmup: warmupSteps must be ≥ 0, got {warmupSteps}.");
        return new FunctionSchedule(step => step < warmupSteps
            ? then.At(0) * ((step + 1.0) / warmupSteps)
            : then.At(step - warmupSteps), "LinearWarmup");
    }

    public static LrSchedule CosineAnnealing(float baseLr, int totalSteps, float minLr = 0f, int warmupSteps = 0)
    {
        if (totalSteps <= warmupSteps)
            throw new ArgumentException($"CosineAnnealing: totalSteps ({totalSteps}) must exceed warmupSteps ({warmupSteps}).");
        int T = totalSteps - warmupSteps;
        var cosine = new FunctionSchedule(t =>
        {
            double frac = Math.Min(t, T) / (double)T;
            return minLr + (baseLr - (double)minLr) * (1 + Math.Cos(Math.PI * frac)) / 2;
        }, "CosineAnnealing");
        return warmupSteps == 0 ? cosine : LinearWarmup(warmupSteps, cosine);
    }

    public static LrSchedule StepLr(float baseLr, int stepSize, float gamma)
    {
        if (stepSize <= 0) throw new ArgumentException($"StepLr: stepSize must be > 0, got {stepSize}.");
        return new FunctionSchedule(t => baseLr * Math.Pow(gamma, t / stepSize), "StepLr");
    }

    public static LrSchedule ExponentialLr(float baseLr, float gamma) =>
        new FunctionSchedule(t => baseLr * Math.Pow(gamma, t), "ExponentialLr");

    /// <summary>Any function of the step.</summary>
    public static LrSchedule FromFunction(Func<int, double> lr, string name = "Custom") => new FunctionSchedule(lr, name);

    sealed class FunctionSchedule(Func<int, double> f, string name) : LrSchedule
    {
        public override float At(int step)
        {
            if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"{name}: step must be ≥ 0, got {step}.");
            return (float)f(step);
        }
        public override string ToString() => name;
    }
}
