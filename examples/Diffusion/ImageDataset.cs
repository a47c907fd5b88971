// The data the Diffusion example trains on, behind one small interface so that MNIST
// (engine/Data/Mnist.cs, in progress on another branch) plugs in without touching the training code.
// Until it lands, SyntheticStrokes stands in: it is NOT MNIST — ten classes of procedurally drawn
// strokes, good enough to see class-conditional generation work, and labelled as such in the output.
using Denoise;

namespace Denoise.Examples.Diffusion;

/// <summary>Labelled single-channel images scaled to [−1, 1].</summary>
public interface IImageDataset
{
    string Name { get; }
    int NumClasses { get; }
    int Size { get; }
    /// <summary>A random batch: images (n, 1, Size, Size) in [−1, 1] and labels (n) Int32.</summary>
    (Tensor Images, Tensor Labels) Batch(int n, Generator gen);
}

/// <summary>
/// SYNTHETIC stand-in for MNIST: class k is a thick stroke through the centre at angle k·18°,
/// jittered in position, angle and length. 28×28, 10 classes.
/// </summary>
public sealed class SyntheticStrokes : IImageDataset
{
    public string Name => "synthetic strokes (not MNIST)";
    public int NumClasses => 10;
    public int Size => 28;

    public (Tensor Images, Tensor Labels) Batch(int n, Generator gen)
    {
        int S = Size;
        var img = new float[n * S * S];
        var labels = Tensor.Randint(0, NumClasses, [n], gen).ToIntArray();
        var jitter = Tensor.Rand([n, 4], gen).ToArray();
        for (int i = 0; i < n; i++)
        {
            double angle = (labels[i] * 18 + (jitter[4 * i] - 0.5) * 8) * Math.PI / 180;
            double cx = S / 2.0 + (jitter[4 * i + 1] - 0.5) * 6, cy = S / 2.0 + (jitter[4 * i + 2] - 0.5) * 6;
            double half = 7 + 4 * jitter[4 * i + 3];
            double dx = Math.Cos(angle), dy = Math.Sin(angle);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                {
                    double px = x + 0.5 - cx, py = y + 0.5 - cy;
                    double along = px * dx + py * dy, across = Math.Abs(-px * dy + py * dx);
                    double ink = Math.Clamp(2.2 - across, 0, 1) * Math.Clamp(half + 1 - Math.Abs(along), 0, 1);
                    img[i * S * S + y * S + x] = (float)(2 * ink - 1);
                }
        }
        return (Tensor.FromArray(img, n, 1, S, S), Tensor.FromArray(labels, n));
    }
}
