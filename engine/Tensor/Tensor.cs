// Tensor: an N-dimensional view (shape, strides, offset) over a Storage on a Device.
//
// Ops live in partial-class files under engine/Ops/, each op's forward beside its backward:
//   Ops/Elementwise.cs  unary/binary math with broadcasting     Ops/Views.cs      reshape, permute, expand, narrow, pad, cat
//   Ops/Reduce.cs       sum, mean, max, … over axes             Ops/MatMul.cs     matmul, linear
// and nn-style functions (conv, norms, losses, attention) in engine/NN/Functional*.cs (class F).
// The autograd tape is engine/Autograd/.
using System.Runtime.CompilerServices;
using System.Text;

namespace Denoise;

public sealed partial class Tensor
{
    internal readonly int[] shape;
    internal readonly int[] strides;
    internal readonly int offset;

    /// <summary>The memory this view reads. Replaced only by Module.To, which moves parameters in place.</summary>
    public Storage Storage { get; private set; }
    public DType DType => Storage.DType;
    public Device Device => Storage.Device;

    /// <summary>Sizes of each dimension. Do not mutate.</summary>
    public ReadOnlySpan<int> Shape => shape;
    /// <summary>Element strides of each dimension (0 for broadcast dimensions).</summary>
    public ReadOnlySpan<int> Strides => strides;
    public int Offset => offset;
    public int Rank => shape.Length;
    public int Numel { get; }

    /// <summary>Optional name used in error messages (parameters get their module path).</summary>
    public string? Name { get; set; }

    internal Tensor(Storage storage, int[] shape, int[]? strides = null, int offset = 0)
    {
        Storage = storage;
        this.shape = shape;
        this.strides = strides ?? ContiguousStrides(shape);
        this.offset = offset;
        Numel = ShapeUtil.Numel(shape);
    }

    // ───────────────────────────── creation ─────────────────────────────

    /// <summary>Uninitialised tensor from the pool (contents are whatever the pool held).</summary>
    public static Tensor Empty(int[] shape, DType dtype = DType.Float32, Device? device = null)
    {
        ShapeUtil.Validate(shape, "Empty");
        var dev = device ?? Device.Cpu;
        return new Tensor(dev.Allocate(ShapeUtil.Numel(shape), dtype), (int[])shape.Clone());
    }

    public static Tensor Zeros(params int[] shape) => Full(shape, 0f);
    public static Tensor Ones(params int[] shape) => Full(shape, 1f);
    /// <summary>Zeros of t's shape on t's device.</summary>
    public static Tensor ZerosLike(Tensor t) => Full(t.shape, 0f, t.Device);
    public static Tensor OnesLike(Tensor t) => Full(t.shape, 1f, t.Device);

    public static Tensor Full(int[] shape, float value) => Full(shape, value, null);

    /// <summary>A tensor of <paramref name="shape"/> filled with <paramref name="value"/> on <paramref name="device"/> (CPU when null).</summary>
    public static Tensor Full(int[] shape, float value, Device? device)
    {
        var t = Empty(shape, DType.Float32, device);
        if (t.Storage is CpuStorage c) c.Floats.AsSpan(0, t.Numel).Fill(value);
        else GpuOps.Fill(t, value);
        return t;
    }

    public static Tensor FullLike(Tensor t, float value) => Full(t.shape, value, t.Device);

    public static Tensor Scalar(float value) => Full([], value);

    /// <summary>Copies <paramref name="data"/> into a new tensor of the given shape (default: 1-D).</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        if (shape.Length == 0) shape = [data.Length]; // like torch.tensor([…]); use Scalar(v) for 0-d
        ShapeUtil.Validate(shape, "FromArray");
        if (ShapeUtil.Numel(shape) != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values cannot fill shape {ShapeUtil.Str(shape)} ({ShapeUtil.Numel(shape)} elements).");
        var t = Empty(shape);
        data.CopyTo(t.Span);
        return t;
    }

    public static Tensor FromArray(int[] data, params int[] shape)
    {
        if (shape.Length == 0) shape = [data.Length]; // like torch.tensor([…]); use Scalar(v) for 0-d
        ShapeUtil.Validate(shape, "FromArray");
        if (ShapeUtil.Numel(shape) != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values cannot fill shape {ShapeUtil.Str(shape)} ({ShapeUtil.Numel(shape)} elements).");
        var t = Empty(shape, DType.Int32);
        data.CopyTo(t.IntSpan);
        return t;
    }

    public static Tensor FromArray(float[,] data)
    {
        int r = data.GetLength(0), c = data.GetLength(1);
        var t = Empty([r, c]);
        var s = t.Span;
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) s[i * c + j] = data[i, j];
        return t;
    }

    /// <summary>[start, start+step, …) up to but excluding <paramref name="end"/>, like torch.arange.</summary>
    public static Tensor Arange(float start, float end, float step = 1f)
    {
        if (step == 0 || float.IsNaN(step)) throw new ArgumentException("Arange: step must be non-zero.");
        int n = Math.Max(0, (int)Math.Ceiling((end - start) / (double)step));
        var t = Empty([n]);
        var s = t.Span;
        for (int i = 0; i < n; i++) s[i] = (float)(start + (double)i * step);
        return t;
    }

    public static Tensor Arange(int end) => Arange(0, end);

    /// <summary>Integer arange (an Int32 tensor), for index construction.</summary>
    public static Tensor ArangeInt(int start, int end, int step = 1)
    {
        if (step == 0) throw new ArgumentException("ArangeInt: step must be non-zero.");
        int n = Math.Max(0, (int)Math.Ceiling((end - start) / (double)step));
        var t = Empty([n], DType.Int32);
        var s = t.IntSpan;
        for (int i = 0; i < n; i++) s[i] = start + i * step;
        return t;
    }

    /// <summary><paramref name="steps"/> evenly spaced values from start to end inclusive.</summary>
    public static Tensor Linspace(float start, float end, int steps)
    {
        if (steps < 0) throw new ArgumentException($"Linspace: steps must be ≥ 0, got {steps}.");
        var t = Empty([steps]);
        var s = t.Span;
        if (steps == 1) s[0] = start;
        for (int i = 0; i < steps && steps > 1; i++) s[i] = (float)(start + (end - (double)start) * i / (steps - 1));
        return t;
    }

    // ───────────────────────────── element access ─────────────────────────────

    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                if (shape[d] != 1 && strides[d] != expected) return false;
                expected *= shape[d];
            }
            return true;
        }
    }

    /// <summary>The elements of a contiguous float tensor, in order. Throws for a non-contiguous view.</summary>
    public Span<float> Span
    {
        get
        {
            if (DType != DType.Float32) throw new InvalidOperationException($"Span: tensor{NameSuffix} is {DType}; use IntSpan.");
            if (!IsContiguous) throw new InvalidOperationException($"Span: tensor{NameSuffix} of shape {ShapeStr} is a non-contiguous view; call Contiguous() first.");
            return Data.AsSpan(offset, Numel);
        }
    }

    public Span<int> IntSpan
    {
        get
        {
            if (DType != DType.Int32) throw new InvalidOperationException($"IntSpan: tensor{NameSuffix} is {DType}, expected Int32.");
            if (!IsContiguous) throw new InvalidOperationException($"IntSpan: tensor{NameSuffix} of shape {ShapeStr} is a non-contiguous view; call Contiguous() first.");
            return IntData.AsSpan(offset, Numel);
        }
    }

    /// <summary>
    /// The whole backing array of a float tensor (use with Offset and Strides): the one host accessor
    /// every CPU kernel goes through. On a GPU device it is the host mirror, downloaded if the device
    /// copy is newer and then marked as written — a counted host fallback (GpuStorage, DeviceFallbacks).
    /// The CPU path pays one type test.
    /// </summary>
    internal float[] Data => Storage is CpuStorage c ? c.Floats : ((GpuStorage)Storage).HostFloatsForFallback();
    internal int[] IntData => Storage is CpuStorage c ? c.Ints : ((GpuStorage)Storage).HostIntsForFallback();

    /// <summary>Host values for reading only (transfers: ToArray, Item): on a GPU device, not a fallback.</summary>
    float[] ReadData => Storage is CpuStorage c ? c.Floats : ((GpuStorage)Storage).HostFloatsForRead();
    int[] ReadIntData => Storage is CpuStorage c ? c.Ints : ((GpuStorage)Storage).HostIntsForRead();

    /// <summary>Copies the elements, in row-major order, into a new array.</summary>
    public float[] ToArray()
    {
        if (DType != DType.Float32) throw new InvalidOperationException($"ToArray: tensor{NameSuffix} is {DType}; use ToIntArray().");
        var c = IsContiguous ? this : ContiguousNoGrad();
        return c.ReadData.AsSpan(c.offset, c.Numel).ToArray();
    }

    public int[] ToIntArray()
    {
        if (DType != DType.Int32) throw new InvalidOperationException($"ToIntArray: tensor{NameSuffix} is {DType}, expected Int32.");
        var c = IsContiguous ? this : ContiguousNoGrad();
        return c.ReadIntData.AsSpan(c.offset, c.Numel).ToArray();
    }

    /// <summary>The value of a one-element tensor.</summary>
    public float Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item: tensor{NameSuffix} has shape {ShapeStr} ({Numel} elements); expected exactly one.");
        return DType == DType.Int32 ? ReadIntData[offset] : ReadData[offset];
    }

    /// <summary>Element at a full index (slow; for tests and small reads).</summary>
    [IndexerName("At")]
    public float this[params int[] index]
    {
        get
        {
            int at = FlatIndex(index);
            return DType == DType.Int32 ? ReadIntData[at] : ReadData[at];
        }
    }

    int FlatIndex(int[] index)
    {
        if (index.Length != Rank) throw new ArgumentException($"Index of rank {index.Length} for tensor{NameSuffix} of shape {ShapeStr}.");
        int at = offset;
        for (int d = 0; d < Rank; d++)
        {
            int i = index[d] < 0 ? index[d] + shape[d] : index[d];
            if ((uint)i >= (uint)shape[d]) throw new IndexOutOfRangeException($"Index {index[d]} out of range for dimension {d} of size {shape[d]} in tensor{NameSuffix} of shape {ShapeStr}.");
            at += i * strides[d];
        }
        return at;
    }

    /// <summary>
    /// A copy on <paramref name="device"/> (this tensor itself when already there), like torch's x.to(device).
    /// Differentiable: the gradient goes back to the source device.
    /// </summary>
    public Tensor To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device == Device) return this;
        var src = this;
        var y = Empty(shape, DType, device);
        CopyAcrossDevices(ContiguousNoGrad(), y);
        return DType == DType.Float32 ? Autograd.Record("to", y, [src], g => [g.To(src.Device)]) : y;
    }

    /// <summary>dst = src for two contiguous tensors of one shape on different devices (through host memory).</summary>
    static void CopyAcrossDevices(Tensor src, Tensor dst)
    {
        int n = src.Numel;
        if (dst.Storage is GpuStorage g && dst.offset == 0)
        {
            if (src.DType == DType.Float32) g.CopyFromHost(src.ReadData.AsSpan(src.offset, n));
            else g.CopyFromHost(src.ReadIntData.AsSpan(src.offset, n));
            return;
        }
        if (src.DType == DType.Float32) src.ReadData.AsSpan(src.offset, n).CopyTo(dst.Span);
        else src.ReadIntData.AsSpan(src.offset, n).CopyTo(dst.IntSpan);
    }

    /// <summary>
    /// Moves this tensor's whole storage to <paramref name="device"/> in place, keeping shape, strides and
    /// offset, so every holder of this Tensor object (a module field, an optimizer) sees the move.
    /// Used by Module.To and the optimizers; views made earlier keep the old storage.
    /// </summary>
    internal void MoveStorageTo(Device device)
    {
        if (device == Device) return;
        var old = new Tensor(Storage, [Storage.Length]);
        Storage moved;
        using (TensorScope.Suspend()) moved = device.Allocate(Storage.Length, DType);
        var target = new Tensor(moved, [Storage.Length]);
        CopyAcrossDevices(old, target);
        Storage = moved;
    }

    // ───────────────────────────── helpers ─────────────────────────────

    internal static int[] ContiguousStrides(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
        return s;
    }

    /// <summary>Normalises a possibly negative dimension index, naming the op on error.</summary>
    internal int Dim(int dim, string op)
    {
        int r = dim < 0 ? dim + Rank : dim;
        if (r < 0 || r >= Rank) throw new ArgumentException($"{op}: dimension {dim} is out of range for tensor{NameSuffix} of shape {ShapeStr} (rank {Rank}).");
        return r;
    }

    public string ShapeStr => ShapeUtil.Str(shape);
    public string NameSuffix => Name == null ? "" : $" '{Name}'";

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor").Append(ShapeStr);
        if (DType != DType.Float32) sb.Append(' ').Append(DType);
        if (RequiresGrad) sb.Append(GradFn != null ? $" grad_fn={GradFn.Op}" : " requires_grad");
        if (!Storage.IsReleased && Numel <= 64)
        {
            sb.Append(" [");
            if (DType == DType.Int32) sb.AppendJoin(", ", ToIntArray());
            else sb.AppendJoin(", ", ToArray().Select(v => v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture)));
            sb.Append(']');
        }
        return sb.ToString();
    }
}

/// <summary>Shape arithmetic shared by the ops.</summary>
public static class ShapeUtil
{
    public static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var s in shape) n *= s;
        return n > Array.MaxLength ? throw new ArgumentException($"Shape {Str(shape)} has {n} elements; the maximum is {Array.MaxLength}.") : (int)n;
    }

    public static void Validate(int[] shape, string op)
    {
        foreach (var s in shape)
            if (s < 0) throw new ArgumentException($"{op}: negative dimension in shape {Str(shape)}.");
        Numel(shape);
    }

    public static string Str(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("(");
        for (int i = 0; i < shape.Length; i++) { if (i > 0) sb.Append(", "); sb.Append(shape[i]); }
        if (shape.Length == 1) sb.Append(',');
        return sb.Append(')').ToString();
    }

    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>NumPy/PyTorch broadcasting: align from the right; sizes must match or be 1.</summary>
    public static int[] Broadcast(int[] a, int[] b, string op)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i < r - a.Length ? 1 : a[i - (r - a.Length)];
            int db = i < r - b.Length ? 1 : b[i - (r - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Str(a)} and {Str(b)} cannot be broadcast together (dimension {i - r} is {da} vs {db}).");
            o[i] = da == 1 ? db : da;
        }
        return o;
    }
}
