// DataLoader — seeded shuffling, batching, augmentation and background prefetch over an IDataset.
//
//   using var loader = new DataLoader(mnist.Train, batchSize: 128, seed: 1,
//                                     augment: new Augmentation(HorizontalFlip: true, CropPadding: 2));
//   for (int step = 0; step < steps; step++)
//   {
//       var (x, y) = loader.Next();              // (128, 1, 28, 28), (128); never waits if compute is slower
//       using var scope = TensorScope.Begin();
//       ...
//   }
//   checkpoint: loader.State (seed, epoch, batch)   →   resume: loader.Restore(state)
//
// Every batch is a pure function of (seed, epoch, batch index), so prefetch timing, thread
// scheduling and resuming cannot change what a run sees:
//   - epoch e's order is a Fisher–Yates shuffle of 0 … N−1 driven by Philox4x32-10 with key `seed`
//     at counter offset e·2^32 (kernels/Random/Philox.cs); j = ⌊bits·(i+1)/2^32⌋ (Lemire's
//     multiply-shift; its bias, < (i+1)/2^32, is far below anything a training run can see);
//   - batch b of epoch e holds order[b·B … b·B+B−1] (the last batch is short unless DropLast);
//   - its augmentation draws 3 uniforms per sample (flip, crop x, crop y) from Philox with key
//     seed ^ AugmentKeySalt at offset e·2^32 + b·⌈3B/4⌉: the same sample gets a different crop each epoch.
// The state to checkpoint is therefore (Seed, Epoch, Batch): three integers.
//
// Memory: batches are built with no TensorScope in force (on the worker thread, or under
// TensorScope.Suspend() when prefetch is off), so they are GC-managed and stay valid inside and
// after the caller's training-step scope. The worker runs at most `PrefetchDepth` batches ahead
// (a bounded queue), so memory stays at a few batches.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.DataLoader
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Denoise.Kernels;

namespace Denoise.Data;

/// <summary>
/// Image augmentation for (B, C, H, W) inputs: a horizontal flip with probability ½, then a random
/// H×W crop from the image padded by <paramref name="CropPadding"/> pixels of <paramref name="PadValue"/>
/// on every side (the CIFAR recipe of He et al., 2016). Labels are untouched.
/// </summary>
public sealed record Augmentation(bool HorizontalFlip = false, int CropPadding = 0, float PadValue = 0f)
{
    public bool IsIdentity => !HorizontalFlip && CropPadding == 0;
}

/// <summary>Where a loader is: the next batch it returns is batch <c>Batch</c> of epoch <c>Epoch</c>.</summary>
public readonly record struct DataLoaderState(ulong Seed, int Epoch, int Batch);

public readonly record struct Batch(Tensor Inputs, Tensor? Labels, int Epoch, int Index)
{
    public void Deconstruct(out Tensor inputs, out Tensor? labels) { inputs = Inputs; labels = Labels; }
}

public sealed class DataLoader : IDisposable
{
    /// <summary>Salt for the augmentation stream's key, so it never shares Philox blocks with the shuffle (2^64/φ).</summary>
    public const ulong AugmentKeySalt = 0x9E3779B97F4A7C15;
    public const int PrefetchDepth = 2;

    public IDataset Dataset { get; }
    public int BatchSize { get; }
    public bool Shuffle { get; }
    public bool DropLast { get; }
    public Augmentation? Augment { get; }
    public bool Prefetch { get; }
    public ulong Seed { get; private set; }
    public int BatchesPerEpoch { get; }

    long next;                       // global index of the next batch to return: epoch·BatchesPerEpoch + batch
    Prefetcher? prefetcher;
    readonly object permLock = new();
    (int Epoch, int[] Order)? permCache;

    public DataLoader(IDataset dataset, int batchSize, ulong seed = 0, bool shuffle = true, bool dropLast = false,
                      Augmentation? augment = null, bool prefetch = true)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"DataLoader: batch size must be ≥ 1, got {batchSize}.");
        if (augment != null && augment.CropPadding < 0)
            throw new ArgumentOutOfRangeException(nameof(augment), $"DataLoader: crop padding must be ≥ 0, got {augment.CropPadding}.");
        Dataset = dataset; BatchSize = batchSize; Seed = seed; Shuffle = shuffle; DropLast = dropLast;
        Augment = augment is { IsIdentity: false } ? augment : null;
        Prefetch = prefetch;
        BatchesPerEpoch = dropLast ? dataset.Count / batchSize : (dataset.Count + batchSize - 1) / batchSize;
        if (BatchesPerEpoch == 0)
            throw new ArgumentException($"DataLoader: {dataset.Count} samples make no batch of {batchSize}" +
                                        (dropLast ? " with dropLast" : "") + ".");
    }

    /// <summary>Over in-memory tensors: inputs (N, …) and optional Int32 labels (N).</summary>
    public DataLoader(Tensor inputs, Tensor? labels, int batchSize, ulong seed = 0, bool shuffle = true, bool dropLast = false,
                      Augmentation? augment = null, bool prefetch = true)
        : this(new TensorDataset(inputs, labels), batchSize, seed, shuffle, dropLast, augment, prefetch) { }

    public DataLoaderState State => new(Seed, (int)(next / BatchesPerEpoch), (int)(next % BatchesPerEpoch));

    /// <summary>Continues exactly where <paramref name="state"/> was taken (the batches that follow are identical).</summary>
    public void Restore(DataLoaderState state)
    {
        if (state.Epoch < 0 || state.Batch < 0 || state.Batch >= BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(state),
                $"DataLoader.Restore: state {state} is outside this loader (epochs ≥ 0, batches 0 … {BatchesPerEpoch - 1}); was it saved with another batch size or data set?");
        StopPrefetch();
        Seed = state.Seed;
        lock (permLock) permCache = null;
        next = (long)state.Epoch * BatchesPerEpoch + state.Batch;
    }

    /// <summary>The next batch; after the last batch of an epoch comes the first of the next.</summary>
    public Batch Next()
    {
        Batch batch;
        if (Prefetch)
        {
            prefetcher ??= new Prefetcher(Make, next, PrefetchDepth);
            try { batch = prefetcher.Take(); }
            catch { StopPrefetch(); throw; } // the worker stopped at the failing batch; a retry restarts there
        }
        else
        {
            batch = Make(next);
        }
        next++;
        return batch;
    }

    /// <summary>The remaining batches of the current epoch (all of them when called at an epoch's start).</summary>
    public IEnumerable<Batch> NextEpoch()
    {
        int epoch = State.Epoch;
        while (State.Epoch == epoch) yield return Next();
    }

    /// <summary>Sample indices of batch <paramref name="batch"/> of <paramref name="epoch"/>.</summary>
    public int[] BatchIndices(int epoch, int batch)
    {
        var order = Order(epoch);
        int start = batch * BatchSize;
        return order[start..Math.Min(start + BatchSize, order.Length)];
    }

    /// <summary>Epoch <paramref name="epoch"/>'s sample order (see the file header).</summary>
    public int[] Order(int epoch)
    {
        lock (permLock)
        {
            if (permCache is { } c && c.Epoch == epoch) return c.Order;
        }
        int n = Dataset.Count;
        var p = Enumerable.Range(0, n).ToArray();
        if (Shuffle && n > 1)
        {
            var bits = new uint[n - 1];
            Philox.FillBits(bits, Seed, (ulong)epoch << 32);
            for (int i = n - 1, k = 0; i > 0; i--, k++)
            {
                int j = (int)(((ulong)bits[k] * (ulong)(i + 1)) >> 32);
                (p[i], p[j]) = (p[j], p[i]);
            }
        }
        lock (permLock) permCache = (epoch, p);
        return p;
    }

    Batch Make(long global)
    {
        int epoch = (int)(global / BatchesPerEpoch), b = (int)(global % BatchesPerEpoch);
        var indices = BatchIndices(epoch, b);
        using var _ = TensorScope.Suspend();
        var (x, y) = Dataset.Get(indices);
        if (Augment != null) x = ApplyAugmentation(x, Augment, Seed ^ AugmentKeySalt, ((ulong)epoch << 32) + (ulong)b * Philox.CountersUsed(3 * BatchSize));
        return new Batch(x, y, epoch, b);
    }

    /// <summary>Flip / crop each image of a (B, C, H, W) batch with the uniforms drawn at (key, offset); a new tensor.</summary>
    internal static Tensor ApplyAugmentation(Tensor x, Augmentation aug, ulong key, ulong offset)
    {
        if (x.Rank != 4)
            throw new InvalidOperationException($"DataLoader augmentation: expected (B, C, H, W) images, got {x.ShapeStr}.");
        int B = x.Shape[0], C = x.Shape[1], H = x.Shape[2], W = x.Shape[3], P = aug.CropPadding;
        var u = new float[3 * B];
        Philox.FillUniform(u, key, offset);
        var y = Tensor.Empty([B, C, H, W]);
        var xs = x.Contiguous().Span; var ys = y.Span;
        for (int n = 0; n < B; n++)
        {
            bool flip = aug.HorizontalFlip && u[3 * n] < 0.5f;
            // Shift (dy, dx) ∈ [−P, P]²: output pixel (i, j) reads input (i + dy, j + dx), padding outside.
            int dx = P == 0 ? 0 : Math.Min((int)(u[3 * n + 1] * (2 * P + 1)), 2 * P) - P;
            int dy = P == 0 ? 0 : Math.Min((int)(u[3 * n + 2] * (2 * P + 1)), 2 * P) - P;
            for (int c = 0; c < C; c++)
            {
                var src = xs.Slice((n * C + c) * H * W, H * W);
                var dst = ys.Slice((n * C + c) * H * W, H * W);
                for (int i = 0; i < H; i++)
                {
                    int si = i + dy;
                    var row = dst.Slice(i * W, W);
                    if ((uint)si >= (uint)H) { row.Fill(aug.PadValue); continue; }
                    var srow = src.Slice(si * W, W);
                    for (int j = 0; j < W; j++)
                    {
                        int sj = j + dx;
                        if (flip) sj = W - 1 - sj; // flip first, then crop: crop the mirrored image
                        row[j] = (uint)sj < (uint)W ? srow[sj] : aug.PadValue;
                    }
                }
            }
        }
        return y;
    }

    void StopPrefetch()
    {
        prefetcher?.Dispose();
        prefetcher = null;
    }

    public void Dispose() => StopPrefetch();

    /// <summary>A worker thread that builds batches start, start+1, … into a bounded queue.</summary>
    sealed class Prefetcher : IDisposable
    {
        readonly BlockingCollection<(Batch Batch, ExceptionDispatchInfo? Error)> queue;
        readonly CancellationTokenSource cancel = new();
        readonly Thread thread;

        public Prefetcher(Func<long, Batch> make, long start, int depth)
        {
            queue = new BlockingCollection<(Batch, ExceptionDispatchInfo?)>(depth);
            thread = new Thread(() =>
            {
                try
                {
                    for (long g = start; !cancel.IsCancellationRequested; g++)
                    {
                        (Batch, ExceptionDispatchInfo?) item;
                        try { item = (make(g), null); }
                        catch (Exception e) { item = (default, ExceptionDispatchInfo.Capture(e)); }
                        queue.Add(item, cancel.Token);
                        if (item.Item2 != null) return;
                    }
                }
                catch (OperationCanceledException) { }
            }) { IsBackground = true, Name = "DataLoader prefetch" };
            thread.Start();
        }

        public Batch Take()
        {
            var (batch, error) = queue.Take();
            error?.Throw();
            return batch;
        }

        public void Dispose()
        {
            cancel.Cancel();
            thread.Join();
            cancel.Dispose();
            queue.Dispose();
        }
    }
}
