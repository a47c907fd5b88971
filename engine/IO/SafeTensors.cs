// SafeTensors — reader and writer for the safetensors format (Hugging Face, 2022).
//
// Layout of a file (spec: https://github.com/huggingface/safetensors, README "Format"):
//   [8 bytes]  N, unsigned 64-bit little-endian: the header length
//   [N bytes]  UTF-8 JSON object:
//                { "name": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
//                  "__metadata__": { "key": "value", ... } }          (metadata optional, strings only)
//              may be padded at the end with spaces (0x20)
//   [rest]     the data buffer: each tensor's bytes, row-major, little-endian; data_offsets are
//              relative to the start of this buffer and [begin, end) ranges must tile it exactly.
//
// The reader follows the reference implementation's validation (safetensors/src/tensor.rs):
// header length bounded (100 MB), valid UTF-8 JSON object, known dtypes, shape·element size equal
// to the byte range, ranges sorted by offset tile the buffer with no gap and no overlap. It treats
// every byte as hostile: lengths are checked against the real input size before anything is
// allocated, and every failure is a SafeTensorsFormatException (or an IOException from the disk).
// The writer sorts tensors by name and pads the header with spaces to a multiple of 8 bytes, as
// the reference does, so every tensor's data starts 8-byte aligned in the file.
//
// Multi-byte views (AsFloat32, AsInt64, ...) reinterpret the little-endian bytes in place and so
// assume a little-endian host (x64, Arm64); the To*Array conversions are endian-neutral.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.SafeTensors

using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Denoise.IO;

/// <summary>Element types of the safetensors format (names as written in the header).</summary>
public enum SafeDType
{
    BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64,
}

public static class SafeDTypeInfo
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this SafeDType dtype) => dtype switch
    {
        SafeDType.BOOL or SafeDType.U8 or SafeDType.I8 or SafeDType.F8_E5M2 or SafeDType.F8_E4M3 => 1,
        SafeDType.I16 or SafeDType.U16 or SafeDType.F16 or SafeDType.BF16 => 2,
        SafeDType.I32 or SafeDType.U32 or SafeDType.F32 => 4,
        SafeDType.I64 or SafeDType.U64 or SafeDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static bool IsFloatingPoint(this SafeDType dtype) => dtype is
        SafeDType.F8_E5M2 or SafeDType.F8_E4M3 or SafeDType.F16 or SafeDType.BF16 or SafeDType.F32 or SafeDType.F64;

    /// <summary>Parses a header dtype string ("F32", "BF16", ...); exact, case-sensitive match.</summary>
    public static bool TryParse(string? name, out SafeDType dtype)
    {
        // Enum.TryParse would also accept "11", " F32" or "f32"; the format does not.
        foreach (SafeDType candidate in Enum.GetValues<SafeDType>())
        {
            if (name == candidate.ToString()) { dtype = candidate; return true; }
        }
        dtype = default;
        return false;
    }
}

/// <summary>A file that is not valid safetensors; the message names the file, the tensor and the problem.</summary>
public sealed class SafeTensorsFormatException(string message) : FormatException(message);

/// <summary>One tensor: its name, dtype, shape (empty for a scalar) and raw little-endian bytes.</summary>
public sealed record SafeTensorEntry(string Name, SafeDType DType, long[] Shape, byte[] Data)
{
    /// <summary>Product of the shape (1 for a scalar, 0 if any dimension is 0).</summary>
    public long ElementCount => SafeTensorsFile.ElementCount(Shape);

    // ---- Zero-copy views (the dtype must match exactly) -------------------------------------

    public ReadOnlySpan<float> AsFloat32() => View<float>(SafeDType.F32);
    public ReadOnlySpan<double> AsFloat64() => View<double>(SafeDType.F64);
    public ReadOnlySpan<int> AsInt32() => View<int>(SafeDType.I32);
    public ReadOnlySpan<long> AsInt64() => View<long>(SafeDType.I64);

    ReadOnlySpan<T> View<T>(SafeDType expected) where T : struct
    {
        if (DType != expected)
            throw new InvalidOperationException($"tensor '{Name}' is {DType}, not {expected}; use a To*Array conversion");
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("in-place views need a little-endian host; use a To*Array conversion");
        return MemoryMarshal.Cast<byte, T>(Data);
    }

    // ---- Converting copies ------------------------------------------------------------------

    /// <summary>Any floating-point dtype (F8, F16, BF16, F32, F64) widened or narrowed to float.</summary>
    public float[] ToFloat32Array()
    {
        var span = Data.AsSpan();
        var result = new float[Data.Length / DType.ElementSize()];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = DType switch
            {
                SafeDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(span[(4 * i)..]),
                SafeDType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(span[(8 * i)..]),
                SafeDType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(span[(2 * i)..]),
                SafeDType.BF16 => FloatBits.BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(2 * i)..])),
                SafeDType.F8_E5M2 => FloatBits.E5M2ToSingle(span[i]),
                SafeDType.F8_E4M3 => FloatBits.E4M3FnToSingle(span[i]),
                _ => throw new InvalidOperationException($"tensor '{Name}' is {DType}, not a floating-point dtype"),
            };
        }
        return result;
    }

    /// <summary>Any integer or BOOL dtype as long; U64 values above long.MaxValue throw OverflowException.</summary>
    public long[] ToInt64Array()
    {
        var span = Data.AsSpan();
        var result = new long[Data.Length / DType.ElementSize()];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = DType switch
            {
                SafeDType.BOOL => span[i] != 0 ? 1 : 0,
                SafeDType.U8 => span[i],
                SafeDType.I8 => (sbyte)span[i],
                SafeDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(span[(2 * i)..]),
                SafeDType.U16 => BinaryPrimitives.ReadUInt16LittleEndian(span[(2 * i)..]),
                SafeDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(span[(4 * i)..]),
                SafeDType.U32 => BinaryPrimitives.ReadUInt32LittleEndian(span[(4 * i)..]),
                SafeDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(span[(8 * i)..]),
                SafeDType.U64 => CheckedToInt64(BinaryPrimitives.ReadUInt64LittleEndian(span[(8 * i)..]), i),
                _ => throw new InvalidOperationException($"tensor '{Name}' is {DType}, not an integer dtype"),
            };
        }
        return result;
    }

    long CheckedToInt64(ulong value, int index) => value <= long.MaxValue
        ? (long)value
        : throw new OverflowException($"tensor '{Name}' element {index} = {value} does not fit in Int64");

    /// <summary>Any integer or BOOL dtype as int; values outside Int32 throw OverflowException.</summary>
    public int[] ToInt32Array()
    {
        long[] wide = ToInt64Array();
        var result = new int[wide.Length];
        for (int i = 0; i < wide.Length; i++)
        {
            if (wide[i] is < int.MinValue or > int.MaxValue)
                throw new OverflowException($"tensor '{Name}' element {i} = {wide[i]} does not fit in Int32");
            result[i] = (int)wide[i];
        }
        return result;
    }

    // ---- Construction from typed values -----------------------------------------------------

    public static SafeTensorEntry FromFloat32(string name, long[] shape, ReadOnlySpan<float> values) =>
        FromValues(name, SafeDType.F32, shape, values, static (dst, v) => BinaryPrimitives.WriteSingleLittleEndian(dst, v));

    public static SafeTensorEntry FromFloat64(string name, long[] shape, ReadOnlySpan<double> values) =>
        FromValues(name, SafeDType.F64, shape, values, static (dst, v) => BinaryPrimitives.WriteDoubleLittleEndian(dst, v));

    /// <summary>Stores floats as IEEE half precision (round to nearest even).</summary>
    public static SafeTensorEntry FromFloat16(string name, long[] shape, ReadOnlySpan<float> values) =>
        FromValues(name, SafeDType.F16, shape, values, static (dst, v) => BinaryPrimitives.WriteHalfLittleEndian(dst, (Half)v));

    /// <summary>Stores floats as bfloat16 (top 16 bits of the float, round to nearest even).</summary>
    public static SafeTensorEntry FromBFloat16(string name, long[] shape, ReadOnlySpan<float> values) =>
        FromValues(name, SafeDType.BF16, shape, values, static (dst, v) => BinaryPrimitives.WriteUInt16LittleEndian(dst, FloatBits.SingleToBFloat16(v)));

    public static SafeTensorEntry FromInt32(string name, long[] shape, ReadOnlySpan<int> values) =>
        FromValues(name, SafeDType.I32, shape, values, static (dst, v) => BinaryPrimitives.WriteInt32LittleEndian(dst, v));

    public static SafeTensorEntry FromInt64(string name, long[] shape, ReadOnlySpan<long> values) =>
        FromValues(name, SafeDType.I64, shape, values, static (dst, v) => BinaryPrimitives.WriteInt64LittleEndian(dst, v));

    delegate void Store<T>(Span<byte> destination, T value);

    static SafeTensorEntry FromValues<T>(string name, SafeDType dtype, long[] shape, ReadOnlySpan<T> values, Store<T> store)
    {
        long count = SafeTensorsFile.ElementCount(shape);
        if (count != values.Length)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] holds {count} elements but {values.Length} values were given");
        int size = dtype.ElementSize();
        var data = new byte[checked(values.Length * size)];
        for (int i = 0; i < values.Length; i++) store(data.AsSpan(i * size, size), values[i]);
        return new SafeTensorEntry(name, dtype, (long[])shape.Clone(), data);
    }

    public override string ToString() => $"{Name}: {DType}[{string.Join(", ", Shape)}] ({Data.Length} bytes)";
}

/// <summary>The tensors of a file in data order, plus its "__metadata__" strings.</summary>
public sealed class SafeTensorsContent
{
    readonly Dictionary<string, SafeTensorEntry> byName;

    public SafeTensorsContent(IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
        byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<SafeTensorEntry> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafeTensorEntry this[string name] =>
        byName.TryGetValue(name, out var entry) ? entry : throw new KeyNotFoundException($"no tensor named '{name}'");

    public bool TryGet(string name, out SafeTensorEntry entry) => byName.TryGetValue(name, out entry!);
}

public static class SafeTensorsFile
{
    /// <summary>Headers larger than this are rejected before allocation (the reference uses the same cap).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    const string MetadataKey = "__metadata__";

    // ============================== Reading ==================================================

    public static SafeTensorsContent Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Read(stream, path);
    }

    /// <summary>
    /// Reads from the stream's position to its end. Seekable streams are read straight into the
    /// tensors' arrays; others are buffered first (so allocation is at most twice their size).
    /// </summary>
    public static SafeTensorsContent Read(Stream stream, string sourceName = "<stream>")
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return Read(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), sourceName);
        }

        long total = stream.Length - stream.Position;
        Span<byte> prefix = stackalloc byte[8];
        if (total < 8) throw Error(sourceName, $"file is {total} bytes, shorter than the 8-byte header length");
        stream.ReadExactly(prefix);
        long headerLength = CheckHeaderLength(BinaryPrimitives.ReadUInt64LittleEndian(prefix), total, sourceName);

        var header = new byte[headerLength];   // safe: bounded by the real stream length and the cap
        stream.ReadExactly(header);
        long dataLength = total - 8 - headerLength;
        var (layout, metadata) = ParseHeader(header, dataLength, sourceName);

        // The ranges tile the data buffer in order, so one forward pass fills every tensor.
        var tensors = new List<SafeTensorEntry>(layout.Count);
        foreach (var t in layout)
        {
            var data = new byte[t.End - t.Begin];
            stream.ReadExactly(data);
            tensors.Add(new SafeTensorEntry(t.Name, t.DType, t.Shape, data));
        }
        return new SafeTensorsContent(tensors, metadata);
    }

    public static SafeTensorsContent Read(ReadOnlySpan<byte> bytes, string sourceName = "<bytes>")
    {
        if (bytes.Length < 8) throw Error(sourceName, $"file is {bytes.Length} bytes, shorter than the 8-byte header length");
        long headerLength = CheckHeaderLength(BinaryPrimitives.ReadUInt64LittleEndian(bytes), bytes.Length, sourceName);

        ReadOnlySpan<byte> header = bytes.Slice(8, (int)headerLength);
        ReadOnlySpan<byte> dataBuffer = bytes[(8 + (int)headerLength)..];
        var (layout, metadata) = ParseHeader(header.ToArray(), dataBuffer.Length, sourceName);

        var tensors = new List<SafeTensorEntry>(layout.Count);
        foreach (var t in layout)
        {
            byte[] data = dataBuffer[(int)t.Begin..(int)t.End].ToArray();
            tensors.Add(new SafeTensorEntry(t.Name, t.DType, t.Shape, data));
        }
        return new SafeTensorsContent(tensors, metadata);
    }

    static long CheckHeaderLength(ulong headerLength, long totalLength, string source)
    {
        if (headerLength > MaxHeaderBytes)
            throw Error(source, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit");
        if ((long)headerLength > totalLength - 8)
            throw Error(source, $"header length {headerLength} runs past the end of the file ({totalLength} bytes)");
        return (long)headerLength;
    }

    /// <summary>Where one tensor lives in the data buffer, before its bytes are read.</summary>
    readonly record struct TensorLayout(string Name, SafeDType DType, long[] Shape, long Begin, long End);

    /// <summary>
    /// Validates the JSON header against a data buffer of <paramref name="dataLength"/> bytes and
    /// returns the tensors sorted by offset (so they can be read in one forward pass).
    /// </summary>
    static (List<TensorLayout>, Dictionary<string, string>) ParseHeader(byte[] header, long dataLength, string source)
    {
        if (!Utf8.IsValid(header)) throw Error(source, "header is not valid UTF-8");

        JsonDocument document;
        try
        {
            // Depth 64 is the default; an honest header nests 3 deep. Duplicates are detected below.
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw Error(source, $"header is not valid JSON: {e.Message}");
        }

        using (document)
        try
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Error(source, $"header must be a JSON object, found {root.ValueKind}");

            var layout = new List<TensorLayout>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Error(source, $"duplicate entry '{property.Name}' in header");
                if (property.Name == MetadataKey)
                    ReadMetadata(property.Value, metadata, source);
                else
                    layout.Add(ReadTensorInfo(property.Name, property.Value, dataLength, source));
            }

            CheckRangesTileBuffer(layout, dataLength, source);
            return (layout, metadata);
        }
        catch (InvalidOperationException e)
        {
            // Well-formed JSON can still hold strings .NET cannot decode, e.g. a lone "\uD800" escape.
            throw Error(source, $"header holds an undecodable string: {e.Message}");
        }
    }

    static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind == JsonValueKind.Null) return;   // the reference's Option<HashMap> accepts null
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(source, $"{MetadataKey} must be an object of strings, found {value.ValueKind}");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Error(source, $"{MetadataKey} value for '{item.Name}' must be a string, found {item.Value.ValueKind}");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Error(source, $"duplicate key '{item.Name}' in {MetadataKey}");
        }
    }

    static TensorLayout ReadTensorInfo(string name, JsonElement info, long dataLength, string source)
    {
        string where = $"tensor '{name}'";
        if (info.ValueKind != JsonValueKind.Object)
            throw Error(source, $"{where}: entry must be an object, found {info.ValueKind}");

        // dtype
        if (!info.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Error(source, $"{where}: missing or non-string \"dtype\"");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafeDTypeInfo.TryParse(dtypeName, out SafeDType dtype))
            throw Error(source, $"{where}: unknown dtype \"{dtypeName}\"");

        // shape
        if (!info.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Error(source, $"{where}: missing or non-array \"shape\"");
        var shape = new long[shapeElement.GetArrayLength()];
        int d = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw Error(source, $"{where}: shape dimension {d} must be a non-negative integer, found {dim.GetRawText()}");
            shape[d++] = size;
        }

        // data_offsets
        if (!info.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw Error(source, $"{where}: \"data_offsets\" must be an array of two integers");
        if (!TryGetOffset(offsets[0], out long begin) || !TryGetOffset(offsets[1], out long end))
            throw Error(source, $"{where}: \"data_offsets\" must be two non-negative integers, found {offsets.GetRawText()}");
        if (begin > end)
            throw Error(source, $"{where}: data_offsets begin {begin} > end {end}");
        if (end > dataLength)
            throw Error(source, $"{where}: data_offsets end {end} is beyond the {dataLength}-byte data buffer");
        if (end - begin > Array.MaxLength)
            throw Error(source, $"{where}: {end - begin} bytes exceeds the largest array .NET can allocate");

        // size agreement: numel · element size, with overflow reported instead of wrapped
        long expectedBytes;
        try { expectedBytes = checked(ElementCount(shape) * dtype.ElementSize()); }
        catch (OverflowException) { throw Error(source, $"{where}: shape [{string.Join(", ", shape)}] overflows the element count"); }
        if (expectedBytes != end - begin)
            throw Error(source, $"{where}: {dtype}[{string.Join(", ", shape)}] needs {expectedBytes} bytes but data_offsets span {end - begin}");

        return new TensorLayout(name, dtype, shape, begin, end);
    }

    static bool TryGetOffset(JsonElement element, out long value)
    {
        value = 0;
        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out value) && value >= 0;
    }

    /// <summary>Sorted by offset, each range must start where the previous ended, the last at the buffer end.</summary>
    static void CheckRangesTileBuffer(List<TensorLayout> layout, long dataLength, string source)
    {
        layout.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long cursor = 0;
        string previous = "start of the data buffer";
        foreach (var t in layout)
        {
            if (t.Begin < cursor)
                throw Error(source, $"tensor '{t.Name}' [{t.Begin}, {t.End}) overlaps {previous} (ends at {cursor})");
            if (t.Begin > cursor)
                throw Error(source, $"gap of {t.Begin - cursor} bytes before tensor '{t.Name}' at offset {cursor}");
            cursor = t.End;
            previous = $"tensor '{t.Name}'";
        }
        if (cursor != dataLength)
            throw Error(source, $"data buffer is {dataLength} bytes but tensors cover only {cursor}; {dataLength - cursor} trailing bytes");
    }

    static SafeTensorsFormatException Error(string source, string problem) =>
        new($"safetensors '{source}': {problem}");

    // ============================== Writing ==================================================

    /// <summary>Writes the tensors (sorted by name) and optional metadata to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, IEnumerable<SafeTensorEntry> tensors,
                             IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, sorted) = BuildHeader(tensors, metadata);   // validate before touching the disk
        AtomicFile.Write(path, stream => WriteBody(stream, header, sorted));
    }

    /// <summary>Writes the same bytes as <see cref="Write(string, IEnumerable{SafeTensorEntry}, IReadOnlyDictionary{string, string}?)"/> to a stream.</summary>
    public static void Write(Stream stream, IEnumerable<SafeTensorEntry> tensors,
                             IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, sorted) = BuildHeader(tensors, metadata);
        WriteBody(stream, header, sorted);
    }

    public static byte[] ToBytes(IEnumerable<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var buffer = new MemoryStream();
        Write(buffer, tensors, metadata);
        return buffer.ToArray();
    }

    static void WriteBody(Stream stream, byte[] header, List<SafeTensorEntry> sorted)
    {
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (var t in sorted) stream.Write(t.Data);
    }

    static (byte[] Header, List<SafeTensorEntry> Sorted) BuildHeader(IEnumerable<SafeTensorEntry> tensors,
                                                                     IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var sorted = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        for (int i = 0; i < sorted.Count; i++)
        {
            var t = sorted[i];
            ArgumentNullException.ThrowIfNull(t, nameof(tensors));
            if (string.IsNullOrEmpty(t.Name) || t.Name == MetadataKey)
                throw new ArgumentException($"invalid tensor name '{t.Name}'", nameof(tensors));
            if (i > 0 && sorted[i - 1].Name == t.Name)
                throw new ArgumentException($"duplicate tensor name '{t.Name}'", nameof(tensors));
            long expected = checked(ElementCount(t.Shape) * t.DType.ElementSize());
            if (t.Data.Length != expected)
                throw new ArgumentException($"tensor '{t.Name}': {t.DType}[{string.Join(", ", t.Shape)}] needs {expected} bytes, Data has {t.Data.Length}", nameof(tensors));
        }

        var json = new MemoryStream();
        // Relaxed escaping keeps non-ASCII names readable; the output is still valid JSON.
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in sorted)
            {
                writer.WriteStartObject(t.Name);
                writer.WriteString("dtype", t.DType.ToString());
                writer.WriteStartArray("shape");
                foreach (long dim in t.Shape) writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset += t.Data.Length);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }

        // Pad with spaces so 8 + N is a multiple of 8: every tensor then starts 8-byte aligned
        // when the file is memory-mapped (given 8-byte-multiple tensor sizes), as in the reference.
        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++) json.WriteByte((byte)' ');
        return (json.ToArray(), sorted);
    }

    // ============================== Shapes ===================================================

    /// <summary>Product of the dimensions (1 for a scalar); throws on negative dims or overflow.</summary>
    public static long ElementCount(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"negative dimension {dim} in shape");
            count = checked(count * dim);
        }
        return count;
    }
}

/// <summary>Bit-level conversions for the 8- and 16-bit float formats that .NET lacks.</summary>
static class FloatBits
{
    /// <summary>bfloat16 is the top half of an IEEE float32.</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);   // keep sign, force a quiet NaN
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);                  // round to nearest, ties to even
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>FP8 E5M2 is the top byte of an IEEE half (Micikevicius et al. 2022, "FP8 formats").</summary>
    public static float E5M2ToSingle(byte bits) => (float)BitConverter.UInt16BitsToHalf((ushort)(bits << 8));

    /// <summary>FP8 E4M3FN: bias 7, no infinities, S.1111.111 is NaN (same paper).</summary>
    public static float E4M3FnToSingle(byte bits)
    {
        int sign = (bits & 0x80) != 0 ? -1 : 1;
        int exponent = (bits >> 3) & 0xF;
        int mantissa = bits & 0x7;
        if (exponent == 0xF && mantissa == 0x7) return float.NaN;
        float magnitude = exponent == 0
            ? mantissa / 8f * MathF.Pow(2, -6)                    // subnormal
            : (1 + mantissa / 8f) * MathF.Pow(2, exponent - 7);
        return sign * magnitude;
    }
}
