// Normalisation layers over F.LayerNorm / F.GroupNorm / F.BatchNorm (engine/NN/Functional.Layers.cs),
// with PyTorch's parameter and buffer names (weight, bias, running_mean, running_var,
// num_batches_tracked) so state dicts line up. eps 1e-5, momentum 0.1, affine by default.
namespace Denoise.NN;

/// <summary>Normalises over the trailing <c>normalizedShape</c> dims; weight/bias of that shape (1 and 0).</summary>
public sealed class LayerNorm : Layer
{
    public int[] NormalizedShape { get; }
    public float Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public LayerNorm(int normalizedShape, float eps = 1e-5f, bool affine = true) : this([normalizedShape], eps, affine) { }

    public LayerNorm(int[] normalizedShape, float eps = 1e-5f, bool affine = true)
    {
        NormalizedShape = (int[])normalizedShape.Clone(); Eps = eps;
        if (!affine) return;
        Weight = Parameter("weight", Init.OnesPersistent(NormalizedShape));
        Bias = Parameter("bias", Init.ZerosPersistent(NormalizedShape));
    }

    public override Tensor Forward(Tensor x) => F.LayerNorm(x, NormalizedShape, Weight, Bias, Eps);
    public override string ToString() => $"LayerNorm({ShapeUtil.Str(NormalizedShape)})";
}

/// <summary>GroupNorm over (N, C, …): per-sample statistics over each group of C/groups channels; weight/bias (C).</summary>
public sealed class GroupNorm : Layer
{
    public int Groups { get; }
    public int Channels { get; }
    public float Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public GroupNorm(int groups, int channels, float eps = 1e-5f, bool affine = true)
    {
        if (groups <= 0 || channels % groups != 0)
            throw new ArgumentException($"GroupNorm: {channels} channels are not divisible into {groups} groups.");
        Groups = groups; Channels = channels; Eps = eps;
        if (!affine) return;
        Weight = Parameter("weight", Init.OnesPersistent(channels));
        Bias = Parameter("bias", Init.ZerosPersistent(channels));
    }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank < 2 || x.Shape[1] != Channels)
            throw new ArgumentException($"GroupNorm({Groups}, {Channels}): input{x.NameSuffix} must be (N, {Channels}, …), got {x.ShapeStr}.");
        return F.GroupNorm(x, Groups, Weight, Bias, Eps);
    }

    public override string ToString() => $"GroupNorm({Groups}, {Channels})";
}

/// <summary>
/// BatchNorm over (N, C, …). Training: batch statistics, and running_mean/running_var updated in
/// place (momentum 0.1, unbiased variance); evaluation: the running statistics.
/// </summary>
public abstract class BatchNorm : Layer
{
    public int NumFeatures { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }
    /// <summary>Int32 scalar, as PyTorch's (int64) num_batches_tracked; counts training forwards.</summary>
    public Tensor NumBatchesTracked { get; }

    readonly int[] ranks;

    protected BatchNorm(int numFeatures, float eps, float momentum, bool affine, int[] ranks)
    {
        NumFeatures = numFeatures; Eps = eps; Momentum = momentum; this.ranks = ranks;
        if (affine)
        {
            Weight = Parameter("weight", Init.OnesPersistent(numFeatures));
            Bias = Parameter("bias", Init.ZerosPersistent(numFeatures));
        }
        RunningMean = Buffer("running_mean", Init.ZerosPersistent(numFeatures));
        RunningVar = Buffer("running_var", Init.OnesPersistent(numFeatures));
        using (TensorScope.Suspend()) NumBatchesTracked = Buffer("num_batches_tracked", Tensor.FromArray(new[] { 0 }, []));
    }

    public override Tensor Forward(Tensor x)
    {
        if (!ranks.Contains(x.Rank) || x.Shape[1] != NumFeatures)
            throw new ArgumentException($"{GetType().Name}({NumFeatures}): input{x.NameSuffix} must be {string.Join(" or ", ranks.Select(r => RankStr(r)))}, got {x.ShapeStr}.");
        if (IsTraining)
        {
            // On a device the counter is bumped by a kernel: reading it back would synchronise every forward.
            if (NumBatchesTracked.Storage is GpuStorage) GpuOps.AddInt(NumBatchesTracked, 1);
            else NumBatchesTracked.IntSpan[0]++;
        }
        return F.BatchNorm(x, RunningMean, RunningVar, Weight, Bias, IsTraining, Momentum, Eps);
    }

    string RankStr(int r) => r switch { 2 => $"(N, {NumFeatures})", 3 => $"(N, {NumFeatures}, L)", _ => $"(N, {NumFeatures}, H, W)" };

    public override string ToString() => $"{GetType().Name}({NumFeatures})";
}

/// <summary>BatchNorm over (N, C) or (N, C, L).</summary>
public sealed class BatchNorm1d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true)
    : BatchNorm(numFeatures, eps, momentum, affine, [2, 3]);

/// <summary>BatchNorm over (N, C, H, W).</summary>
public sealed class BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true)
    : BatchNorm(numFeatures, eps, momentum, affine, [4]);
