// GpuAllocator — the caching allocator behind every GpuStorage of one device.
//
// Why: ILGPU's Allocate1D is a cuMemAlloc (and cuMemFree on dispose), a device-wide synchronising call
// costing tens of µs to ms; ILGPU 1.5.3 has no async allocator or pool (shared/docs/ILGPU.md §4). A
// training step allocates the same sizes every step, so buffers are kept in size buckets and handed
// out again: after the first step no request reaches the driver (DeviceAllocations stops growing).
// Release is deterministic: a GpuStorage returns its buffer when its TensorScope ends, exactly like
// CpuStorage; nothing waits for a finalizer.
//
// Bucket sizes: element counts round up to a multiple of 64 floats (256 B, the CUDA allocation
// granule's divisor), so near-equal sizes share a bucket. Every buffer holds floats; Int32 storages view
// the same bytes through ArrayView.Cast<int>.
//
// Out of memory: when a new buffer would push live + pooled bytes past CapacityBytes, pooled buffers are
// freed first (least recently used sizes first); if live bytes alone leave no room, or the driver itself
// refuses, a GpuOutOfMemoryException names the request and what is in use, pooled and the peak.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using ILGPU;
using ILGPU.Runtime;

namespace Denoise;

/// <summary>A device allocation that would exceed the device's memory (or the allocator's configured capacity).</summary>
public sealed class GpuOutOfMemoryException(string message, Exception? inner = null) : OutOfMemoryException(message, inner);

public sealed class GpuAllocator
{
    sealed class Bucket
    {
        public readonly Stack<MemoryBuffer1D<float, Stride1D.Dense>> Buffers = new();
        public long LastUsed;
    }

    readonly Accelerator accelerator;
    readonly string deviceName;
    readonly Dictionary<long, Bucket> buckets = new();
    readonly Lock gate = new();
    long clock;

    internal GpuAllocator(Accelerator accelerator, string deviceName, long capacityBytes)
    {
        this.accelerator = accelerator;
        this.deviceName = deviceName;
        CapacityBytes = capacityBytes;
    }

    /// <summary>The most device memory (live + pooled) this allocator will hold. Lower it to test OOM handling.</summary>
    public long CapacityBytes { get; set; }
    /// <summary>Bytes of buffers held by live storages.</summary>
    public long InUseBytes { get; private set; }
    /// <summary>Bytes of released buffers kept for reuse.</summary>
    public long PooledBytes { get; private set; }
    /// <summary>The highest InUseBytes since creation or <see cref="ResetPeak"/>.</summary>
    public long PeakBytes { get; private set; }
    /// <summary>Buffers requested from the driver (pool misses). Constant in a steady-state training loop.</summary>
    public long DeviceAllocations { get; private set; }
    /// <summary>Requests served from the pool.</summary>
    public long Hits { get; private set; }

    public void ResetPeak() { lock (gate) PeakBytes = InUseBytes; }

    static long BucketElements(long n) => Math.Max(64, (n + 63) & ~63L);

    internal MemoryBuffer1D<float, Stride1D.Dense> Rent(int elements, DType dtype)
    {
        long size = BucketElements(elements), bytes = size * sizeof(float);
        lock (gate)
        {
            if (buckets.TryGetValue(size, out var bucket) && bucket.Buffers.Count > 0)
            {
                bucket.LastUsed = ++clock;
                Hits++;
                PooledBytes -= bytes;
                Charge(bytes);
                return bucket.Buffers.Pop();
            }
            if (InUseBytes + bytes > CapacityBytes) throw OutOfMemory(elements, dtype, bytes, null);
            if (InUseBytes + PooledBytes + bytes > CapacityBytes) Evict(InUseBytes + PooledBytes + bytes - CapacityBytes);
            MemoryBuffer1D<float, Stride1D.Dense> buffer;
            try { buffer = accelerator.Allocate1D<float>(size); }
            catch (Exception e) when (e is not GpuOutOfMemoryException)
            {
                // The driver ran out (other processes, fragmentation): free the whole pool and try once more.
                Evict(long.MaxValue);
                try { buffer = accelerator.Allocate1D<float>(size); }
                catch (Exception e2) { throw OutOfMemory(elements, dtype, bytes, e2); }
            }
            DeviceAllocations++;
            Charge(bytes);
            return buffer;
        }
    }

    void Charge(long bytes)
    {
        InUseBytes += bytes;
        if (InUseBytes > PeakBytes) PeakBytes = InUseBytes;
    }

    internal void Return(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        long size = buffer.Length, bytes = size * sizeof(float);
        lock (gate)
        {
            InUseBytes -= bytes;
            if (!buckets.TryGetValue(size, out var bucket)) buckets[size] = bucket = new Bucket();
            bucket.LastUsed = ++clock;
            bucket.Buffers.Push(buffer);
            PooledBytes += bytes;
        }
    }

    /// <summary>A live buffer the GC collected with its storage (never Released): it no longer counts as in use.</summary>
    internal void Forget(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        lock (gate) InUseBytes -= buffer.Length * sizeof(float);
    }

    /// <summary>Frees pooled buffers, least recently used sizes first, until <paramref name="needed"/> bytes are gone.</summary>
    void Evict(long needed)
    {
        foreach (var (size, bucket) in buckets.OrderBy(kv => kv.Value.LastUsed).ToList())
        {
            while (needed > 0 && bucket.Buffers.Count > 0)
            {
                bucket.Buffers.Pop().Dispose();
                PooledBytes -= size * sizeof(float);
                needed -= size * sizeof(float);
            }
            if (bucket.Buffers.Count == 0) buckets.Remove(size);
            if (needed <= 0) break;
        }
    }

    /// <summary>Frees every pooled buffer back to the driver.</summary>
    public void Trim() { lock (gate) Evict(long.MaxValue); }

    GpuOutOfMemoryException OutOfMemory(int elements, DType dtype, long bytes, Exception? inner) => new(
        $"{deviceName} out of memory: a {dtype} tensor of {elements:N0} elements needs {Mib(bytes)} with {Mib(InUseBytes)} in use by live tensors, " +
        $"{Mib(PooledBytes)} pooled (released, kept for reuse), capacity {Mib(CapacityBytes)}, peak {Mib(PeakBytes)}. " +
        "End TensorScopes sooner (each training step in its own scope), lower the batch size, or raise Memory.CapacityBytes." +
        (inner == null ? "" : $" The driver said: {inner.Message}"), inner);

    static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";
}
