// GpuStorage — tensor memory on a GPU device: a buffer rented from the device's caching allocator
// (GpuAllocator) plus a lazily allocated host mirror, and a note of which copy is current.
//
// This is a migration strategy, not a stub: EVERY op works on a GPU device from day one, correct
// everywhere, fast where a kernel exists.
//   • Ops with a GPU kernel (engine/Devices/GpuOps.cs) take the device buffer through DeviceRead /
//     DeviceWrite, which first upload the host copy if it is the newer one.
//   • Ops without one reach the data through the ordinary host accessors (Tensor.Data/Span/IntData/
//     IntSpan). For a GpuStorage those call HostAccess: download if the device copy is newer, and then
//     mark the host copy as the newest — conservatively, since the accessor cannot tell a read from a
//     write — so the next kernel uploads it again. Each such access is a "host fallback", counted per
//     calling op in DeviceFallbacks, which tells a user (and the tests) which ops still need a kernel.
//   • Explicit transfers (ToArray, Item, To(cpu), ToString) read without marking or counting.
// Release is deterministic, through TensorScope, exactly as CpuStorage: the buffer returns to the
// allocator's pool and the mirror to CpuPool. Storage made outside any scope goes to the GC (the
// finalizer only corrects the allocator's in-use figure; ILGPU frees the buffer).
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Gpu.Devices
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Denoise;

public sealed class GpuStorage : Storage
{
    /// <summary>Which copy holds the current values.</summary>
    enum Current { Nothing, Device, Host, Both }

    readonly GpuDevice device;
    MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    float[]? hostFloats;
    int[]? hostInts;
    Current current = Current.Nothing;

    GpuStorage(GpuDevice device, int length, DType dtype, MemoryBuffer1D<float, Stride1D.Dense> buffer) : base(length, dtype)
    {
        this.device = device;
        this.buffer = buffer;
    }

    public override Device Device => device;
    public GpuDevice GpuDevice => device;

    internal static GpuStorage Rent(GpuDevice device, int length, DType dtype)
    {
        var s = new GpuStorage(device, length, dtype, device.Memory.Rent(length, dtype));
        TensorScope.Register(s);
        return s;
    }

    MemoryBuffer1D<float, Stride1D.Dense> Buffer => buffer ?? throw Dead();

    Exception Dead() => new ObjectDisposedException("Tensor", $"This tensor's {device.Name} storage was released when the TensorScope that created it ended. " +
        "Keep it with scope.Keep(tensor), or create it outside the scope.");

    // ───────────────────────────── device side (kernels) ─────────────────────────────

    /// <summary>The float buffer for a kernel that only reads it (uploads a newer host copy first).</summary>
    internal ArrayView<float> DeviceRead()
    {
        var view = Buffer.View.BaseView.SubView(0, Length);
        if (current == Current.Host) { Upload(view); current = Current.Both; }
        return view;
    }

    /// <summary>The float buffer for a kernel that writes it (possibly only a region, so a newer host copy is uploaded first).</summary>
    internal ArrayView<float> DeviceWrite()
    {
        var view = Buffer.View.BaseView.SubView(0, Length);
        if (current == Current.Host) Upload(view);
        current = Current.Device;
        return view;
    }

    internal ArrayView<int> DeviceReadInts() => DeviceRead().Cast<int>();
    internal ArrayView<int> DeviceWriteInts() => DeviceWrite().Cast<int>();

    void Upload(ArrayView<float> view)
    {
        if (DType == DType.Float32) view.CopyFromCPU(new ReadOnlySpan<float>(hostFloats!, 0, Length));
        else view.Cast<int>().CopyFromCPU(new ReadOnlySpan<int>(hostInts!, 0, Length));
    }

    /// <summary>Overwrites the whole storage from host memory (Tensor.To); the host mirror is not touched.</summary>
    internal void CopyFromHost(ReadOnlySpan<float> src) { Buffer.View.BaseView.SubView(0, src.Length).CopyFromCPU(src); current = Current.Device; }
    internal void CopyFromHost(ReadOnlySpan<int> src) { Buffer.View.BaseView.SubView(0, src.Length).Cast<int>().CopyFromCPU(src); current = Current.Device; }

    // ───────────────────────────── host side (fallbacks, transfers) ─────────────────────────────

    void EnsureHost()
    {
        if (DType == DType.Float32) hostFloats ??= CpuPool.Floats.Rent(Length);
        else hostInts ??= CpuPool.Ints.Rent(Length);
        if (current == Current.Device)
        {
            var view = Buffer.View.BaseView.SubView(0, Length);
            if (DType == DType.Float32) view.CopyToCPU(new Span<float>(hostFloats!, 0, Length));
            else view.Cast<int>().CopyToCPU(new Span<int>(hostInts!, 0, Length));
            current = Current.Both;
        }
    }

    /// <summary>The host mirror for an op without a GPU kernel: downloaded if needed, then marked newest. Counted.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal float[] HostFloatsForFallback()
    {
        if (DType != DType.Float32) throw new InvalidOperationException($"Storage holds {DType}, not Float32.");
        _ = Buffer;
        DeviceFallbacks.Record(device);
        EnsureHost();
        current = Current.Host;
        return hostFloats!;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal int[] HostIntsForFallback()
    {
        if (DType != DType.Int32) throw new InvalidOperationException($"Storage holds {DType}, not Int32.");
        _ = Buffer;
        DeviceFallbacks.Record(device);
        EnsureHost();
        current = Current.Host;
        return hostInts!;
    }

    /// <summary>The current values on the host for reading (ToArray, Item): not counted, not marked as written.</summary>
    internal float[] HostFloatsForRead()
    {
        if (DType != DType.Float32) throw new InvalidOperationException($"Storage holds {DType}, not Float32.");
        _ = Buffer;
        EnsureHost();
        if (current == Current.Nothing) current = Current.Host;
        return hostFloats!;
    }

    internal int[] HostIntsForRead()
    {
        if (DType != DType.Int32) throw new InvalidOperationException($"Storage holds {DType}, not Int32.");
        _ = Buffer;
        EnsureHost();
        if (current == Current.Nothing) current = Current.Host;
        return hostInts!;
    }

    /// <summary>
    /// A storage created outside any TensorScope (parameters, tensors kept past the outermost scope) is
    /// never Released: like a CPU array it goes to the GC, and ILGPU's own finalizer frees the buffer.
    /// This keeps the allocator's in-use figure honest when that happens.
    /// </summary>
    ~GpuStorage()
    {
        if (!IsReleased && buffer is { } b) device.Memory.Forget(b);
    }

    internal override void Release()
    {
        if (IsReleased) return;
        IsReleased = true;
        if (buffer != null) device.Memory.Return(buffer);
        if (hostFloats != null) CpuPool.Floats.Return(hostFloats);
        if (hostInts != null) CpuPool.Ints.Return(hostInts);
        buffer = null; hostFloats = null; hostInts = null;
    }
}
