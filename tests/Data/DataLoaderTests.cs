// DataLoader: determinism, coverage per epoch, exact resume, prefetch on = off, augmentation
// correctness. Samples are images whose pixels encode their index, labels = index, so every test
// can tell which sample (and which transform of it) a batch holds.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.DataLoader
using Denoise.Data;
using NUnit.Framework;

namespace Denoise.Tests.Data;

public class DataLoaderTests
{
    const int N = 23, C = 2, H = 4, W = 5;

    /// <summary>Pixel (n, c, i, j) = n·1000 + c·100 + i·10 + j.</summary>
    static TensorDataset Indexed()
    {
        var x = new float[N * C * H * W];
        for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) for (int i = 0; i < H; i++) for (int j = 0; j < W; j++)
            x[((n * C + c) * H + i) * W + j] = n * 1000 + c * 100 + i * 10 + j;
        return new TensorDataset(Tensor.FromArray(x, N, C, H, W), Tensor.ArangeInt(0, N));
    }

    static List<(float[] X, int[] Y)> Take(DataLoader l, int k) =>
        Enumerable.Range(0, k).Select(_ => { var b = l.Next(); return (b.Inputs.ToArray(), b.Labels!.ToIntArray()); }).ToList();

    static void AssertSame(List<(float[] X, int[] Y)> a, List<(float[] X, int[] Y)> b)
    {
        Assert.That(a.Count, Is.EqualTo(b.Count));
        for (int i = 0; i < a.Count; i++) { Assert.That(a[i].Y, Is.EqualTo(b[i].Y), $"batch {i}"); Assert.That(a[i].X, Is.EqualTo(b[i].X), $"batch {i}"); }
    }

    static readonly Augmentation Aug = new(HorizontalFlip: true, CropPadding: 1, PadValue: -1f);

    [Test]
    public void SameSeed_SameBatches_DifferentSeedOrEpoch_DifferentOrder()
    {
        using var a = new DataLoader(Indexed(), 4, seed: 7, augment: Aug);
        using var b = new DataLoader(Indexed(), 4, seed: 7, augment: Aug);
        using var c = new DataLoader(Indexed(), 4, seed: 8);
        AssertSame(Take(a, 15), Take(b, 15));
        Assert.That(c.Order(0), Is.Not.EqualTo(a.Order(0)));
        Assert.That(a.Order(1), Is.Not.EqualTo(a.Order(0)));
    }

    [Test]
    public void EverySampleSeenOncePerEpoch_LastBatchShortOrDropped()
    {
        using var l = new DataLoader(Indexed(), 5, seed: 1);
        Assert.That(l.BatchesPerEpoch, Is.EqualTo(5));
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var batches = l.NextEpoch().ToList();
            Assert.That(batches.Select(b => b.Labels!.Numel), Is.EqualTo(new[] { 5, 5, 5, 5, 3 }));
            Assert.That(batches.All(b => b.Epoch == epoch));
            var seen = batches.SelectMany(b => b.Labels!.ToIntArray()).Order();
            Assert.That(seen, Is.EqualTo(Enumerable.Range(0, N)));
            // Inputs travel with their labels.
            foreach (var b in batches)
            {
                var x = b.Inputs.ToArray(); var y = b.Labels!.ToIntArray();
                for (int k = 0; k < y.Length; k++) Assert.That(x[k * C * H * W], Is.EqualTo(y[k] * 1000f));
            }
        }
        using var d = new DataLoader(Indexed(), 5, seed: 1, dropLast: true);
        Assert.That(d.NextEpoch().Select(b => b.Labels!.Numel), Is.EqualTo(new[] { 5, 5, 5, 5 }));
        using var plain = new DataLoader(Indexed(), 10, shuffle: false);
        Assert.That(plain.Next().Labels!.ToIntArray(), Is.EqualTo(Enumerable.Range(0, 10)));
    }

    [Test]
    public void ResumeFromSavedState_GivesTheSameSubsequentBatches()
    {
        using var straight = new DataLoader(Indexed(), 4, seed: 3, augment: Aug);
        var all = Take(straight, 20);

        using var first = new DataLoader(Indexed(), 4, seed: 3, augment: Aug);
        Take(first, 9);
        var state = first.State;
        Assert.That(state, Is.EqualTo(new DataLoaderState(3, 1, 3))); // 6 batches per epoch
        using var resumed = new DataLoader(Indexed(), 4, seed: 999, augment: Aug);
        Take(resumed, 2);               // whatever it did before is forgotten
        resumed.Restore(state);
        AssertSame(Take(resumed, 11), all.Skip(9).ToList());

        Assert.Throws<ArgumentOutOfRangeException>(() => resumed.Restore(new DataLoaderState(3, 0, 6)));
    }

    [Test]
    public void PrefetchOnAndOff_GiveIdenticalBatches()
    {
        using var on = new DataLoader(Indexed(), 3, seed: 11, augment: Aug, prefetch: true);
        using var off = new DataLoader(Indexed(), 3, seed: 11, augment: Aug, prefetch: false);
        var a = new List<(float[], int[])>();
        for (int i = 0; i < 20; i++)
        {
            if (i % 3 == 0) Thread.Sleep(2); // vary timing: the worker is sometimes ahead, sometimes not
            var b = on.Next(); a.Add((b.Inputs.ToArray(), b.Labels!.ToIntArray()));
        }
        AssertSame(a, Take(off, 20));
    }

    [Test]
    public void Batches_SurviveTheTrainingStepScope()
    {
        using var l = new DataLoader(Indexed(), 4, seed: 2, prefetch: false);
        Batch kept;
        using (TensorScope.Begin()) { kept = l.Next(); _ = (kept.Inputs * 2f).Sum(); }
        Assert.That(kept.Inputs.ToArray().Length, Is.EqualTo(4 * C * H * W)); // would throw if released with the scope
    }

    [Test]
    public void Flip_IsAMirror_And_Crop_IsAShiftWithPadding()
    {
        var x = Indexed().Inputs;
        // Draw enough samples that both flip states and several shifts appear.
        var aug = new Augmentation(HorizontalFlip: true, CropPadding: 2, PadValue: -1f);
        var y = DataLoader.ApplyAugmentation(x, aug, key: 5, offset: 0);
        var xs = x.ToArray(); var ys = y.ToArray();
        var seen = new HashSet<(bool, int, int)>();
        for (int n = 0; n < N; n++)
        {
            bool found = false;
            foreach (bool flip in new[] { false, true })
                for (int dy = -2; dy <= 2 && !found; dy++)
                    for (int dx = -2; dx <= 2 && !found; dx++)
                    {
                        bool ok = true;
                        for (int c = 0; c < C && ok; c++) for (int i = 0; i < H && ok; i++) for (int j = 0; j < W && ok; j++)
                        {
                            int si = i + dy, sj = j + dx;
                            float expected = si < 0 || si >= H || sj < 0 || sj >= W ? -1f
                                : xs[((n * C + c) * H + si) * W + (flip ? W - 1 - sj : sj)];
                            ok = ys[((n * C + c) * H + i) * W + j] == expected;
                        }
                        if (ok) { found = true; seen.Add((flip, dy, dx)); }
                    }
            Assert.That(found, $"sample {n} is not a flip+shift of itself");
        }
        Assert.That(seen.Select(s => s.Item1).Distinct().Count(), Is.EqualTo(2), "both flipped and unflipped samples occur");
        Assert.That(seen.Count, Is.GreaterThan(5), "several shifts occur");

        // Flip only: exactly the mirror or the original, column by column.
        var f = DataLoader.ApplyAugmentation(x, new Augmentation(HorizontalFlip: true), 9, 0).ToArray();
        int flipped = 0;
        for (int n = 0; n < N; n++)
        {
            bool isFlip = f[n * C * H * W] == xs[n * C * H * W + W - 1];
            if (isFlip) flipped++;
            for (int k = 0; k < C * H; k++) for (int j = 0; j < W; j++)
                Assert.That(f[n * C * H * W + k * W + j], Is.EqualTo(xs[n * C * H * W + k * W + (isFlip ? W - 1 - j : j)]));
        }
        Assert.That(flipped, Is.InRange(3, N - 3));
    }

    [Test]
    public void BadArguments_AreClear()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(Indexed(), 0));
        Assert.That(Assert.Throws<ArgumentException>(() => new DataLoader(Indexed(), 50, dropLast: true))!.Message, Does.Contain("23 samples"));
        using var flat = new DataLoader(Tensor.Zeros(6, 3), null, 2, augment: new Augmentation(HorizontalFlip: true), prefetch: true);
        var e = Assert.Throws<InvalidOperationException>(() => flat.Next());
        Assert.That(e!.Message, Does.Contain("(B, C, H, W)"));
    }
}
