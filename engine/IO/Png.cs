// Png — a small PNG encoder and a strict decoder for 8-bit images (PNG spec, W3C 2003 / ISO 15948).
//
// File = 8-byte signature, then chunks: [u32 BE length][4-byte type][data][u32 BE CRC-32 of type+data].
//   IHDR  width, height (u32 BE), bit depth 8, colour type (0 gray, 2 RGB, 4 gray+alpha, 6 RGBA),
//         compression 0, filter method 0, interlace 0
//   IDAT  zlib stream (RFC 1950) of the scanlines; each scanline = 1 filter-type byte + the row,
//         filtered with None, Sub, Up, Average or Paeth (spec §9)
//   IEND  empty
// The encoder picks each row's filter by the spec's "minimum sum of absolute differences"
// heuristic (§12.8), so written files exercise all five filters in the decoder.
// The decoder reads only what the encoder family needs: 8-bit gray / gray+alpha / RGB / RGBA,
// non-interlaced. It treats input as hostile: chunk lengths checked against the input, CRCs
// verified, dimensions capped, and the output buffer allocated only after the compressed data is
// known to be large enough to hold it (deflate cannot expand more than ~1032:1). Every failure is
// an ImageFormatException with a message that names the problem. (It derives from FormatException,
// like SafeTensorsFormatException: System.IO.InvalidDataException is sealed.)
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.Png

using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Denoise.IO;

/// <summary>An image file that cannot be decoded; the message says why.</summary>
public sealed class ImageFormatException(string message, Exception? inner = null) : FormatException(message, inner);

public static class Png
{
    /// <summary>Largest width or height the decoder accepts.</summary>
    public const int MaxDimension = 16384;

    /// <summary>Largest pixel count the decoder accepts (64 Mpx; 256 MB as RGBA).</summary>
    public const long MaxPixels = 1L << 26;

    static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    // ============================== Encoding =================================================

    /// <summary>Writes 8-bit RGB pixels (row-major, 3 bytes per pixel) to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, int width, int height, ReadOnlySpan<byte> rgb) =>
        AtomicFile.WriteAllBytes(path, Encode(width, height, 3, rgb));

    /// <summary>Writes 8-bit grayscale pixels (row-major, 1 byte per pixel) atomically.</summary>
    public static void WriteGray(string path, int width, int height, ReadOnlySpan<byte> gray) =>
        AtomicFile.WriteAllBytes(path, Encode(width, height, 1, gray));

    /// <summary>Writes 8-bit RGBA pixels (row-major, 4 bytes per pixel) atomically.</summary>
    public static void WriteRgba(string path, int width, int height, ReadOnlySpan<byte> rgba) =>
        AtomicFile.WriteAllBytes(path, Encode(width, height, 4, rgba));

    /// <summary>The PNG bytes of an 8-bit image with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels.</summary>
    public static byte[] Encode(int width, int height, int channels, ReadOnlySpan<byte> pixels)
    {
        byte colourType = ColourTypeFor(channels);
        if (width <= 0 || height <= 0 || width > MaxDimension || height > MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(width), $"image {width}x{height} must be within 1..{MaxDimension} on each side");
        long expected = (long)width * height * channels;
        if (pixels.Length != expected)
            throw new ArgumentException($"{width}x{height}x{channels} image needs {expected} bytes, got {pixels.Length}", nameof(pixels));

        var png = new MemoryStream();
        png.Write(Signature);

        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], height);
        ihdr[8] = 8;            // bit depth
        ihdr[9] = colourType;
        ihdr[10] = 0;           // compression: deflate
        ihdr[11] = 0;           // filter method 0 (the five adaptive filters)
        ihdr[12] = 0;           // no interlace
        WriteChunk(png, "IHDR", ihdr);

        WriteChunk(png, "IDAT", CompressScanlines(width, height, channels, pixels));
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    static byte ColourTypeFor(int channels) => channels switch
    {
        1 => 0, 2 => 4, 3 => 2, 4 => 6,
        _ => throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be 1, 2, 3 or 4"),
    };

    static byte[] CompressScanlines(int width, int height, int channels, ReadOnlySpan<byte> pixels)
    {
        int stride = width * channels;
        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            var candidate = new byte[stride];
            var best = new byte[stride + 1];
            ReadOnlySpan<byte> previous = new byte[stride];   // the row above the first is all zeros
            for (int y = 0; y < height; y++)
            {
                ReadOnlySpan<byte> row = pixels.Slice(y * stride, stride);
                long bestScore = long.MaxValue;
                for (byte filter = 0; filter <= 4; filter++)
                {
                    long score = 0;
                    for (int i = 0; i < stride; i++)
                    {
                        byte a = i >= channels ? row[i - channels] : (byte)0;
                        byte c = i >= channels ? previous[i - channels] : (byte)0;
                        candidate[i] = (byte)(row[i] - Predict(filter, a, previous[i], c));
                        score += Math.Abs((int)(sbyte)candidate[i]);   // bytes as signed: small residuals score low
                    }
                    if (score < bestScore)
                    {
                        bestScore = score;
                        best[0] = filter;
                        candidate.CopyTo(best, 1);
                    }
                }
                zlib.Write(best);
                previous = row;
            }
        }
        return compressed.ToArray();
    }

    static void WriteChunk(Stream png, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);

        Span<byte> typeBytes = stackalloc byte[4];
        Encoding.ASCII.GetBytes(type, typeBytes);
        png.Write(typeBytes);
        png.Write(data);

        uint crc = Crc32.Update(Crc32.Update(Crc32.Initial, typeBytes), data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Finish(crc));
        png.Write(word);
    }

    /// <summary>
    /// The five filter predictors (spec §9.2). a = left, b = up, c = up-left; the filtered byte is
    /// x − Predict and the decoder adds Predict back, both modulo 256.
    /// </summary>
    static byte Predict(byte filter, byte a, byte b, byte c) => filter switch
    {
        0 => 0,                         // None
        1 => a,                         // Sub
        2 => b,                         // Up
        3 => (byte)((a + b) >> 1),      // Average
        _ => Paeth(a, b, c),            // Paeth
    };

    /// <summary>Paeth (1991): the neighbour closest to a + b − c, ties broken a, b, c.</summary>
    static byte Paeth(byte a, byte b, byte c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        return pb <= pc ? b : c;
    }

    // ============================== Decoding =================================================

    public static (int Width, int Height, int Channels, byte[] Pixels) Read(string path) =>
        Decode(File.ReadAllBytes(path), path);

    /// <summary>Decodes an 8-bit, non-interlaced gray / gray+alpha / RGB / RGBA PNG.</summary>
    public static (int Width, int Height, int Channels, byte[] Pixels) Decode(ReadOnlySpan<byte> png, string sourceName = "<bytes>")
    {
        string Where(string problem) => $"PNG '{sourceName}': {problem}";

        if (png.Length < 8 || !png[..8].SequenceEqual(Signature))
            throw new ImageFormatException(Where("missing PNG signature"));

        int width = 0, height = 0, channels = 0;
        bool sawHeader = false, sawEnd = false;
        var idat = new MemoryStream();
        int position = 8;

        // 1. Walk the chunks, checking each length and CRC before looking inside.
        while (!sawEnd)
        {
            if (png.Length - position < 12)
                throw new ImageFormatException(Where($"truncated at byte {position}: no complete chunk and no IEND"));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[position..]);
            ReadOnlySpan<byte> typeBytes = png.Slice(position + 4, 4);
            string type = Encoding.Latin1.GetString(typeBytes);
            if (length > int.MaxValue || length > png.Length - position - 12)
                throw new ImageFormatException(Where($"chunk '{Printable(type)}' claims {length} bytes, more than the file holds"));
            ReadOnlySpan<byte> data = png.Slice(position + 8, (int)length);
            uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(png[(position + 8 + (int)length)..]);
            uint crc = Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Initial, typeBytes), data));
            if (crc != storedCrc)
                throw new ImageFormatException(Where($"bad CRC in chunk '{Printable(type)}' (stored {storedCrc:X8}, computed {crc:X8})"));
            position += 12 + (int)length;

            if (!sawHeader && type != "IHDR")
                throw new ImageFormatException(Where($"first chunk is '{Printable(type)}', expected IHDR"));

            switch (type)
            {
                case "IHDR":
                    if (sawHeader) throw new ImageFormatException(Where("more than one IHDR"));
                    (width, height, channels) = ParseHeader(data, Where);
                    sawHeader = true;
                    break;
                case "IDAT":
                    idat.Write(data);
                    break;
                case "IEND":
                    sawEnd = true;
                    break;
                default:
                    // Bit 5 of the first type byte clear (uppercase) marks a chunk a decoder must understand.
                    if ((typeBytes[0] & 0x20) == 0)
                        throw new ImageFormatException(Where($"unsupported critical chunk '{Printable(type)}'"));
                    break;   // ancillary chunks (tEXt, gAMA, ...) are safe to skip
            }
        }
        if (idat.Length == 0) throw new ImageFormatException(Where("no IDAT data"));

        // 2. Bound the allocation by what the compressed bytes could possibly inflate to.
        int stride = width * channels;
        long rawLength = (long)(stride + 1) * height;
        const long MaxDeflateRatio = 1032;   // deflate's maximum expansion (258-byte matches in ~2 bits)
        if (rawLength > idat.Length * MaxDeflateRatio + 1024)
            throw new ImageFormatException(Where($"{idat.Length} bytes of IDAT cannot hold a {width}x{height} image"));

        // 3. Inflate exactly rawLength bytes and insist there is nothing more.
        var raw = new byte[rawLength];
        try
        {
            idat.Position = 0;
            using var zlib = new ZLibStream(idat, CompressionMode.Decompress);
            int got = zlib.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
            if (got < raw.Length)
                throw new ImageFormatException(Where($"IDAT inflates to {got} bytes, expected {rawLength}"));
            if (zlib.Read(new byte[1]) != 0)
                throw new ImageFormatException(Where($"IDAT inflates to more than the expected {rawLength} bytes"));
        }
        catch (InvalidDataException e)   // what ZLibStream throws on corrupt deflate data
        {
            throw new ImageFormatException(Where($"corrupt zlib data in IDAT: {e.Message}"), e);
        }

        // 4. Undo the per-row filters in place, then drop the filter bytes.
        var pixels = new byte[(long)stride * height];
        for (int y = 0; y < height; y++)
        {
            int rowStart = y * (stride + 1);
            byte filter = raw[rowStart];
            if (filter > 4) throw new ImageFormatException(Where($"row {y} has unknown filter type {filter}"));
            Span<byte> row = pixels.AsSpan(y * stride, stride);
            ReadOnlySpan<byte> previous = y > 0 ? pixels.AsSpan((y - 1) * stride, stride) : new byte[stride];
            ReadOnlySpan<byte> filtered = raw.AsSpan(rowStart + 1, stride);
            for (int i = 0; i < stride; i++)
            {
                byte a = i >= channels ? row[i - channels] : (byte)0;
                byte c = i >= channels ? previous[i - channels] : (byte)0;
                row[i] = (byte)(filtered[i] + Predict(filter, a, previous[i], c));
            }
        }
        return (width, height, channels, pixels);
    }

    static (int Width, int Height, int Channels) ParseHeader(ReadOnlySpan<byte> data, Func<string, string> where)
    {
        if (data.Length != 13) throw new ImageFormatException(where($"IHDR is {data.Length} bytes, expected 13"));
        uint width = BinaryPrimitives.ReadUInt32BigEndian(data);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        byte bitDepth = data[8], colourType = data[9], compression = data[10], filterMethod = data[11], interlace = data[12];

        if (width == 0 || height == 0 || width > MaxDimension || height > MaxDimension)
            throw new ImageFormatException(where($"dimensions {width}x{height} outside 1..{MaxDimension}"));
        if ((long)width * height > MaxPixels)
            throw new ImageFormatException(where($"{width}x{height} exceeds the {MaxPixels}-pixel limit"));
        int channels = colourType switch
        {
            0 => 1, 4 => 2, 2 => 3, 6 => 4,
            3 => throw new ImageFormatException(where("palette images (colour type 3) are not supported")),
            _ => throw new ImageFormatException(where($"invalid colour type {colourType}")),
        };
        if (bitDepth != 8) throw new ImageFormatException(where($"bit depth {bitDepth} not supported (only 8)"));
        if (compression != 0) throw new ImageFormatException(where($"unknown compression method {compression}"));
        if (filterMethod != 0) throw new ImageFormatException(where($"unknown filter method {filterMethod}"));
        if (interlace != 0) throw new ImageFormatException(where("interlaced images are not supported"));
        return ((int)width, (int)height, channels);
    }

    /// <summary>Chunk types from hostile files go into messages; keep them readable.</summary>
    static string Printable(string type) =>
        string.Concat(type.Select(ch => ch is >= ' ' and <= '~' ? ch.ToString() : $"\\x{(int)ch:X2}"));
}

/// <summary>CRC-32 (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320), as used by PNG chunks.</summary>
static class Crc32
{
    public const uint Initial = 0xFFFFFFFF;

    static readonly uint[] Table = BuildTable();

    static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    public static uint Update(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    public static uint Finish(uint crc) => crc ^ 0xFFFFFFFF;
}
