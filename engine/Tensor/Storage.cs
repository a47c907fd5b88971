// Tensor storage and its caching allocator.
//
// Why a pool: on this project's machines the first touch of freshly mapped memory costs 12–18 µs
// per 4 KiB page (shared/docs/MACHINE.md), so `new float[n]` per intermediate would cost more than
// the arithmetic. Storage is rented from size buckets and returned when its owner — a TensorScope,
// usually one per training step — ends. Model code never disposes anything.
//
// Use after release is an error, not silent corruption: a released Storage drops its array, and
// any tensor still pointing at it throws, naming the problem.
using System.Runtime.CompilerServices;

namespace Denoise;

public abstract class Storage
{
    public abstract Device Device { get; }
    public DType DType { get; }
    public int Length { get; }
    public bool IsReleased { get; protected set; }

    protected Storage(int length, DType dtype) { Length = length; DType = dtype; }

    /// <summary>Hands the memory back to the device's pool. Called by the owning TensorScope.</summary>
    internal abstract void Release();
}

public sealed class CpuStorage : Storage
{
    float[]? floats;
    int[]? ints;

    CpuStorage(int length, DType dtype, float[]? f, int[]? i) : base(length, dtype) { floats = f; ints = i; }

    public override Device Device => Device.Cpu;

    internal static CpuStorage Rent(int length, DType dtype)
    {
        var s = dtype == DType.Float32
            ? new CpuStorage(length, dtype, CpuPool.Floats.Rent(length), null)
            : new CpuStorage(length, dtype, null, CpuPool.Ints.Rent(length));
        TensorScope.Register(s);
        return s;
    }

    /// <summary>Wraps an existing array without copying (the array becomes the tensor's memory).</summary>
    internal static CpuStorage Wrap(float[] data) => new(data.Length, DType.Float32, data, null);
    internal static CpuStorage Wrap(int[] data) => new(data.Length, DType.Int32, null, data);

    /// <summary>The backing array (its length may exceed <see cref="Storage.Length"/>: pool buckets round up).</summary>
    public float[] Floats
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => floats ?? throw Dead(DType.Float32);
    }

    public int[] Ints
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ints ?? throw Dead(DType.Int32);
    }

    Exception Dead(DType wanted) => IsReleased
        ? new ObjectDisposedException("Tensor", "This tensor's storage was released when the TensorScope that created it ended. " +
            "Keep it with scope.Keep(tensor), or create it outside the scope.")
        : new InvalidOperationException($"Storage holds {DType}, not {wanted}.");

    internal override void Release()
    {
        if (IsReleased) return;
        IsReleased = true;
        if (floats != null) CpuPool.Floats.Return(floats);
        if (ints != null) CpuPool.Ints.Return(ints);
        floats = null; ints = null;
    }
}

/// <summary>
/// Size-bucketed pool of arrays. Lengths round up to 16 elements (one 64-byte line) so that
/// near-equal sizes share a bucket; training loops repeat the same shapes every step, so after the
/// first step every request is a hit. Bounded by <see cref="MaxPooledBytes"/>: when a returned
/// array would exceed it, the least recently used buckets are evicted first (to the GC), so a
/// program that moves on to other shapes — sampling after training, a second model — does not
/// find the pool full of sizes nobody asks for any more.
/// </summary>
public sealed class CpuPool<T> where T : unmanaged
{
    sealed class Bucket
    {
        public readonly Stack<T[]> Arrays = new();
        public long LastUsed;
    }

    readonly Dictionary<int, Bucket> buckets = new();
    readonly object gate = new();
    long pooledBytes, clock;

    public long MaxPooledBytes { get; set; } = 8L << 30;
    public long Hits { get; private set; }
    public long Misses { get; private set; }
    /// <summary>Bytes of fresh arrays allocated because the pool had none of the size.</summary>
    public long AllocatedBytes { get; private set; }
    /// <summary>Bytes of pooled arrays dropped to make room for more recently used sizes.</summary>
    public long EvictedBytes { get; private set; }
    /// <summary>Bytes handed out by Rent, hits and misses alike (bucket sizes; the profiler's "pool MB").</summary>
    public long RentedBytes { get; private set; }
    public long PooledBytes { get { lock (gate) return pooledBytes; } }

    static int BucketSize(int length) => length <= 16 ? 16 : (int)Math.Min(((long)length + 15) & ~15L, Array.MaxLength);

    public T[] Rent(int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        int size = BucketSize(length);
        lock (gate)
        {
            RentedBytes += (long)size * Unsafe.SizeOf<T>();
            if (buckets.TryGetValue(size, out var bucket))
            {
                bucket.LastUsed = ++clock;
                if (bucket.Arrays.Count > 0)
                {
                    Hits++;
                    pooledBytes -= (long)size * Unsafe.SizeOf<T>();
                    return bucket.Arrays.Pop();
                }
            }
            Misses++;
            AllocatedBytes += (long)size * Unsafe.SizeOf<T>();
        }
        return GC.AllocateUninitializedArray<T>(size);
    }

    public void Return(T[] array)
    {
        long bytes = (long)array.Length * Unsafe.SizeOf<T>();
        lock (gate)
        {
            if (bytes > MaxPooledBytes) return;
            if (!buckets.TryGetValue(array.Length, out var bucket)) buckets[array.Length] = bucket = new Bucket();
            bucket.LastUsed = ++clock;
            if (pooledBytes + bytes > MaxPooledBytes) EvictLeastRecentlyUsed(pooledBytes + bytes - MaxPooledBytes, keep: bucket);
            bucket.Arrays.Push(array);
            pooledBytes += bytes;
        }
    }

    /// <summary>Drops arrays from the least recently used buckets until <paramref name="needed"/> bytes are free.</summary>
    void EvictLeastRecentlyUsed(long needed, Bucket keep)
    {
        foreach (var (size, bucket) in buckets.OrderBy(kv => kv.Value.LastUsed).ToList())
        {
            if (needed <= 0) break;
            long each = (long)size * Unsafe.SizeOf<T>();
            while (needed > 0 && bucket.Arrays.Count > 0 && bucket != keep)
            {
                bucket.Arrays.Pop();
                pooledBytes -= each; EvictedBytes += each; needed -= each;
            }
            if (bucket.Arrays.Count == 0 && bucket != keep) buckets.Remove(size);
        }
        while (needed > 0 && keep.Arrays.Count > 0)
        {
            long each = (long)keep.Arrays.Pop().Length * Unsafe.SizeOf<T>();
            pooledBytes -= each; EvictedBytes += each; needed -= each;
        }
    }

    /// <summary>Drops every pooled array (they go to the GC).</summary>
    public void Trim() { lock (gate) { buckets.Clear(); pooledBytes = 0; } }
}

public static class CpuPool
{
    public static readonly CpuPool<float> Floats = new();
    public static readonly CpuPool<int> Ints = new();
}
