// Idx — strict reader for the IDX files that MNIST (LeCun, Cortes & Burges, 1998) and its
// relatives (Fashion-MNIST, EMNIST, KMNIST) ship in.
//
// Layout (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
//   [4 bytes]  magic: 0x00 0x00, the element type (0x08 = unsigned byte), the number of dims
//              → 0x00000803 for images (count, rows, cols), 0x00000801 for labels (count)
//   [4 × dims] each dimension as a big-endian u32
//   [rest]     the elements, row-major, exactly product(dims) bytes
// Files may be gzipped (the ".gz" the original site serves); the reader looks at the first two
// bytes (1f 8b), not at the name.
//
// Every byte is treated as hostile: the dims product is computed in 64 bits and capped at
// MaxElements before anything is allocated from it, a gzip stream is inflated into a buffer
// that grows only as real data arrives (so a 30-byte file cannot claim a gigabyte), and a short
// or over-long payload is an InvalidDataException naming the file and what was expected.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.Idx
using System.Buffers.Binary;
using System.IO.Compression;

namespace Denoise.Data;

public static class Idx
{
    public const uint ImagesMagic = 0x00000803;
    public const uint LabelsMagic = 0x00000801;

    /// <summary>Largest element count accepted (1 GiB of bytes; full EMNIST is about 0.55 GiB).</summary>
    public const long MaxElements = 1L << 30;

    /// <summary>Images: (Count, Rows, Cols) and the pixel bytes, row-major.</summary>
    public readonly record struct Images(int Count, int Rows, int Cols, byte[] Pixels);

    public static Images ReadImages(string path) => ParseImages(ReadFileBytes(path), path);
    public static byte[] ReadLabels(string path) => ParseLabels(ReadFileBytes(path), path);

    /// <summary>Parses an uncompressed or gzipped IDX image file (magic 0x00000803).</summary>
    public static Images ParseImages(ReadOnlySpan<byte> file, string sourceName = "<bytes>")
    {
        var (dims, payload) = Parse(file, ImagesMagic, sourceName);
        if (dims[1] == 0 || dims[2] == 0)
            throw new InvalidDataException($"IDX '{sourceName}': image size {dims[1]}×{dims[2]} has a zero dimension.");
        return new Images((int)dims[0], (int)dims[1], (int)dims[2], payload);
    }

    /// <summary>Parses an uncompressed or gzipped IDX label file (magic 0x00000801).</summary>
    public static byte[] ParseLabels(ReadOnlySpan<byte> file, string sourceName = "<bytes>") =>
        Parse(file, LabelsMagic, sourceName).Payload;

    /// <summary>Checks that an image file and a label file describe the same samples.</summary>
    public static void CheckPair(Images images, byte[] labels, string imagesName, string labelsName)
    {
        if (images.Count != labels.Length)
            throw new InvalidDataException(
                $"IDX: '{imagesName}' holds {images.Count} images but '{labelsName}' holds {labels.Length} labels; they must match.");
    }

    static byte[] ReadFileBytes(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        // A compressed file is at least ~1/1000 of its payload, so this bounds the raw read too.
        if (info.Length > MaxElements + 16)
            throw new InvalidDataException($"IDX '{path}': {info.Length} bytes is larger than the {MaxElements}-element cap.");
        return File.ReadAllBytes(path);
    }

    static (long[] Dims, byte[] Payload) Parse(ReadOnlySpan<byte> file, uint expectedMagic, string name)
    {
        if (file.Length >= 2 && file[0] == 0x1f && file[1] == 0x8b)
            file = Gunzip(file, name);

        string kind = expectedMagic == ImagesMagic ? "images (0x00000803)" : "labels (0x00000801)";
        if (file.Length < 4)
            throw new InvalidDataException($"IDX '{name}': {file.Length} bytes is too short for the 4-byte magic number.");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(file);
        if (magic != expectedMagic)
            throw new InvalidDataException(
                $"IDX '{name}': bad magic number 0x{magic:X8}; expected {kind}. " +
                (magic >> 16 != 0 ? "This does not look like an IDX file at all." : "Wrong file (images vs labels), or an element type other than unsigned byte."));

        int rank = (int)(expectedMagic & 0xFF);
        int headerBytes = 4 + 4 * rank;
        if (file.Length < headerBytes)
            throw new InvalidDataException($"IDX '{name}': truncated header ({file.Length} bytes, need {headerBytes} for {rank} dimensions).");

        var dims = new long[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadUInt32BigEndian(file[(4 + 4 * i)..]);
            count *= dims[i]; // each factor < 2^32 and the running product is capped below, so no overflow
            if (count > MaxElements)
                throw new InvalidDataException(
                    $"IDX '{name}': dimensions [{string.Join(", ", dims[..(i + 1)])}…] hold more than {MaxElements} elements (the reader's cap).");
        }

        long have = file.Length - headerBytes;
        if (have < count)
            throw new InvalidDataException(
                $"IDX '{name}': truncated: dimensions [{string.Join(", ", dims)}] need {count} data bytes but only {have} follow the header.");
        if (have > count)
            throw new InvalidDataException(
                $"IDX '{name}': {have - count} unexpected bytes after the {count} data bytes of dimensions [{string.Join(", ", dims)}].");
        return (dims, file.Slice(headerBytes, (int)count).ToArray());
    }

    /// <summary>Inflates into a buffer that grows with the real output, capped at MaxElements + header.</summary>
    static byte[] Gunzip(ReadOnlySpan<byte> gz, string name)
    {
        try
        {
            using var input = new MemoryStream(gz.ToArray(), writable: false);
            using var zip = new GZipStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            var chunk = new byte[1 << 16];
            int n;
            while ((n = zip.Read(chunk)) > 0)
            {
                if (output.Length + n > MaxElements + 16)
                    throw new InvalidDataException($"IDX '{name}': gzip data inflates past the {MaxElements}-element cap.");
                output.Write(chunk, 0, n);
            }
            return output.ToArray();
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("IDX", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"IDX '{name}': corrupt or truncated gzip data ({e.Message}).", e);
        }
    }
}
