// Datasets as the DataLoader sees them: a count and a way to gather a batch of samples by index.
//
//   var data = new TensorDataset(images, labels);      // (N, C, H, W) Float32 and (N) Int32
//   var (x, y) = data.Get([3, 1, 4]);                    // x (3, C, H, W), y (3)
//
// Tensors handed out by Get are fresh, contiguous and created under TensorScope.Suspend(), so
// they are ordinary GC-managed memory: a batch may be built on a worker thread and used inside
// any training step's scope without being released under it.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data
namespace Denoise.Data;

/// <summary>A finite, indexable set of samples.</summary>
public interface IDataset
{
    int Count { get; }

    /// <summary>
    /// The samples at <paramref name="indices"/>, stacked along a new first dimension: inputs
    /// (B, …) and labels (B) or null for unlabelled data. Must be safe to call from another
    /// thread than the one that created the dataset, and must not depend on call order.
    /// </summary>
    (Tensor Inputs, Tensor? Labels) Get(ReadOnlySpan<int> indices);
}

/// <summary>Samples held in memory: inputs (N, …) of any rank ≥ 1 and optional Int32 labels (N).</summary>
public sealed class TensorDataset : IDataset
{
    public Tensor Inputs { get; }
    public Tensor? Labels { get; }
    public int Count { get; }

    /// <summary>Elements per sample (the product of Inputs' shape after the first dimension).</summary>
    readonly int sampleSize;
    readonly int[] sampleShape;

    public TensorDataset(Tensor inputs, Tensor? labels = null)
    {
        if (inputs.Rank < 1) throw new ArgumentException($"TensorDataset: inputs{inputs.NameSuffix} must have a sample dimension; got a 0-d tensor.");
        inputs.CheckFloat("TensorDataset");
        Count = inputs.Shape[0];
        if (labels != null)
        {
            if (labels.DType != DType.Int32 || labels.Rank != 1 || labels.Shape[0] != Count)
                throw new ArgumentException(
                    $"TensorDataset: labels{labels.NameSuffix} must be Int32 of shape ({Count}) to match inputs {inputs.ShapeStr}; got {labels.DType} {labels.ShapeStr}.");
        }
        // Contiguous copies once, so that Get is a plain memcpy per sample.
        using (TensorScope.Suspend())
        {
            Inputs = inputs.IsContiguous ? inputs : inputs.ContiguousNoGrad();
            Labels = labels == null ? null : labels.IsContiguous ? labels : labels.ContiguousNoGrad();
        }
        sampleShape = inputs.Shape[1..].ToArray();
        sampleSize = ShapeUtil.Numel(sampleShape);
    }

    /// <summary>Alias for Inputs, for image data sets.</summary>
    public Tensor Images => Inputs;

    public (Tensor Inputs, Tensor? Labels) Get(ReadOnlySpan<int> indices)
    {
        using var _ = TensorScope.Suspend();
        int B = indices.Length;
        var x = Tensor.Empty([B, .. sampleShape]);
        var src = Inputs.Span;
        var dst = x.Span;
        for (int b = 0; b < B; b++)
        {
            int i = indices[b];
            if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), $"TensorDataset.Get: index {i} is outside [0, {Count}).");
            src.Slice(i * sampleSize, sampleSize).CopyTo(dst.Slice(b * sampleSize, sampleSize));
        }
        if (Labels == null) return (x, null);
        var y = Tensor.Empty([B], DType.Int32);
        var ls = Labels.IntSpan; var yd = y.IntSpan;
        for (int b = 0; b < B; b++) yd[b] = ls[indices[b]];
        return (x, y);
    }
}

/// <summary>Pixel range conversions: data loaders give images in [0, 1]; diffusion models want [−1, 1].</summary>
public static class Pixels
{
    /// <summary>x ↦ 2x − 1: [0, 1] → [−1, 1].</summary>
    public static Tensor ToSigned(Tensor x01) => x01 * 2f - 1f;

    /// <summary>x ↦ (x + 1) / 2, clamped to [0, 1]: model output back to displayable pixels.</summary>
    public static Tensor ToUnit(Tensor xSigned) => ((xSigned + 1f) * 0.5f).Clamp(0f, 1f);
}
