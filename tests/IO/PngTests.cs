// Tests for engine/IO/Png.cs: encoder/decoder round trips over every channel count, PNGs built
// by hand (stored deflate block; split IDAT + ancillary chunk) that exercise all five filters,
// hostile headers, and a fuzz pass where every input must decode or raise ImageFormatException.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.Png

using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.IO;

public class PngTests
{
    // 2x2 RGB built byte by byte (CRCs and Adler-32 from Python's zlib, an independent
    // implementation). The IDAT is a zlib *stored* block; row 0 uses Sub, row 1 Paeth.
    // Pixels: (10,20,30) (40,60,80) / (15,25,35) (45,65,85).
    const string HandBuiltRgb =
        "89504e470d0a1a0a" +                                                  // signature
        "0000000d" + "49484452" + "00000002" + "00000002" + "0802000000" + "fdd49a73" +   // IHDR 2x2, 8-bit RGB
        "00000019" + "49444154" + "7801" + "01" + "0e00" + "f1ff" +           // IDAT: zlib header, stored block, LEN, NLEN
        "01" + "0a141e" + "1e2832" + "04" + "050505" + "050505" + "078100d8" + "0ccf07f2" +   // rows, Adler-32, CRC
        "00000000" + "49454e44" + "ae426082";                                 // IEND

    // 3x2 gray with a tEXt chunk and the zlib stream split over two IDATs; rows use Average, Up.
    // Pixels: 100 110 120 / 50 60 250.
    const string HandBuiltGray =
        "89504e470d0a1a0a0000000d4948445200000003000000020800000000b81f39c6" +
        "0000001274455874436f6d6d656e740068616e64206275696c745d76c565" +
        "0000000549444154789c634eb1eab5383300" +
        "00000b4944415471643a77ae09000a1903058195e392" +
        "0000000049454e44ae426082";

    [Test]
    public void Decode_HandBuiltRgb_SubAndPaethRows()
    {
        var (w, h, channels, pixels) = Png.Decode(Convert.FromHexString(HandBuiltRgb));
        Assert.That((w, h, channels), Is.EqualTo((2, 2, 3)));
        Assert.That(pixels, Is.EqualTo(new byte[] { 10, 20, 30, 40, 60, 80, 15, 25, 35, 45, 65, 85 }));
    }

    [Test]
    public void Decode_HandBuiltGray_AverageAndUpRows_SplitIdat_SkipsText()
    {
        var (w, h, channels, pixels) = Png.Decode(Convert.FromHexString(HandBuiltGray));
        Assert.That((w, h, channels), Is.EqualTo((3, 2, 1)));
        Assert.That(pixels, Is.EqualTo(new byte[] { 100, 110, 120, 50, 60, 250 }));
    }

    [TestCase(1), TestCase(2), TestCase(3), TestCase(4)]
    public void Encode_ThenDecode_RoundTrips(int channels)
    {
        // Smooth gradients, noise and flat areas make the encoder choose different filters per row.
        int w = 37, h = 23;
        var rng = new Random(channels);
        var pixels = new byte[w * h * channels];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < channels; c++)
                    pixels[(y * w + x) * channels + c] = (y % 3) switch
                    {
                        0 => (byte)(x * 7 + c * 40),
                        1 => (byte)rng.Next(256),
                        _ => (byte)(y * 11),
                    };
        var decoded = Png.Decode(Png.Encode(w, h, channels, pixels));
        Assert.That((decoded.Width, decoded.Height, decoded.Channels), Is.EqualTo((w, h, channels)));
        Assert.That(decoded.Pixels, Is.EqualTo(pixels));
    }

    [Test]
    public void Write_ThenRead_RgbAndGrayFiles()
    {
        string dir = Directory.CreateTempSubdirectory("denoise-png-").FullName;
        try
        {
            byte[] rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9];
            Png.Write(Path.Combine(dir, "rgb.png"), 2, 2, rgb);
            Assert.That(Png.Read(Path.Combine(dir, "rgb.png")).Pixels, Is.EqualTo(rgb));

            byte[] gray = [0, 64, 128, 255];
            Png.WriteGray(Path.Combine(dir, "gray.png"), 4, 1, gray);
            var read = Png.Read(Path.Combine(dir, "gray.png"));
            Assert.That((read.Channels, read.Pixels), Is.EqualTo((1, gray)));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void Encode_RejectsWrongPixelCount() =>
        Assert.That(() => Png.Encode(2, 2, 3, new byte[11]), Throws.ArgumentException.With.Message.Contains("12"));

    // ---- Hostile inputs ------------------------------------------------------------------

    static void AssertRejected(byte[] png, string messagePart)
    {
        var e = Assert.Throws<ImageFormatException>(() => Png.Decode(png, "evil.png"))!;
        Assert.That(e.Message, Does.Contain("evil.png").And.Contain(messagePart));
    }

    static byte[] Valid() => Convert.FromHexString(HandBuiltRgb);

    /// <summary>The hand-built RGB file with a new IHDR payload and a correct CRC for it.</summary>
    static byte[] WithHeader(uint width, uint height, byte colourType = 2, byte bitDepth = 8, byte interlace = 0)
    {
        byte[] png = Valid();
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), width);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), height);
        png[24] = bitDepth; png[25] = colourType; png[28] = interlace;
        uint crc = Crc32Reference(png.AsSpan(12, 17));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), crc);
        return png;
    }

    static uint Crc32Reference(ReadOnlySpan<byte> bytes)
    {
        // Bitwise CRC-32, deliberately not the table version under test.
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320 & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    [Test] public void Decode_BadSignature_Throws() { var p = Valid(); p[1] = (byte)'J'; AssertRejected(p, "signature"); }
    [Test] public void Decode_BadCrc_Throws() { var p = Valid(); p[20] ^= 1; AssertRejected(p, "CRC"); }
    [Test] public void Decode_Truncated_Throws() => AssertRejected(Valid()[..^6], "truncated");
    [Test] public void Decode_ChunkLengthBeyondFile_Throws() { var p = Valid(); p[8] = 0x7F; AssertRejected(p, "more than the file holds"); }
    [Test] public void Decode_OversizedDimensions_Throws() => AssertRejected(WithHeader(100_000, 1), "outside");
    [Test] public void Decode_TooManyPixels_Throws() => AssertRejected(WithHeader(16384, 16384), "limit");
    [Test] public void Decode_ZeroWidth_Throws() => AssertRejected(WithHeader(0, 2), "outside");
    [Test] public void Decode_Palette_Throws() => AssertRejected(WithHeader(2, 2, colourType: 3), "palette");
    [Test] public void Decode_SixteenBit_Throws() => AssertRejected(WithHeader(2, 2, bitDepth: 16), "bit depth");
    [Test] public void Decode_Interlaced_Throws() => AssertRejected(WithHeader(2, 2, interlace: 1), "interlaced");

    [Test]
    public void Decode_LargeDimensionsWithTinyIdat_ThrowsBeforeAllocating() =>
        AssertRejected(WithHeader(4000, 4000), "cannot hold");

    [Test]
    public void Decode_IdatInflatesToWrongSize_Throws()
    {
        // Header says 3x2 RGB but the data is for 2x2: too short.
        AssertRejected(WithHeader(3, 2), "inflates to 14 bytes, expected 20");
        // Header says 1x2 RGB but the data is for 2x2: too long.
        AssertRejected(WithHeader(1, 2), "more than the expected 8 bytes");
    }

    [Test]
    public void Decode_UnknownFilterType_Throws()
    {
        byte[] raw = [7, 1, 2, 3];   // 1x1 RGB, filter 7
        var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
        byte[] png = BuildPng(1, 1, 2, idat.ToArray());
        AssertRejected(png, "unknown filter type 7");
    }

    [Test]
    public void Decode_CorruptZlib_Throws() => AssertRejected(BuildPng(1, 1, 2, [0x78, 0x9C, 0xFF, 0xFF, 0xFF, 0xFF]), "zlib");

    static byte[] BuildPng(uint w, uint h, byte colourType, byte[] idat)
    {
        var png = new MemoryStream();
        png.Write(Valid().AsSpan(0, 8));
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 8; ihdr[9] = colourType;
        Chunk(png, "IHDR"u8, ihdr);
        Chunk(png, "IDAT"u8, idat);
        Chunk(png, "IEND"u8, []);
        return png.ToArray();
    }

    static void Chunk(Stream s, ReadOnlySpan<byte> type, byte[] data)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length); s.Write(word);
        var typed = type.ToArray().Concat(data).ToArray();
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32Reference(typed)); s.Write(word);
    }

    [Test]
    public void Fuzz_RandomAndMutatedInputs_OnlyDecodeOrThrowImageFormatException()
    {
        byte[] valid = Png.Encode(9, 7, 3, Enumerable.Range(0, 9 * 7 * 3).Select(i => (byte)(i * 13)).ToArray());
        var rng = new Random(7);
        var watch = Stopwatch.StartNew();
        int decoded = 0;
        for (int i = 0; i < 1000; i++)
        {
            byte[] input;
            if (i % 4 == 0)
            {
                input = new byte[rng.Next(0, 200)];
                rng.NextBytes(input);
                if (input.Length >= 8 && i % 8 == 0) valid.AsSpan(0, 8).CopyTo(input);   // get past the signature
            }
            else
            {
                var bytes = valid.ToList();
                switch (rng.Next(3))
                {
                    case 0: bytes[rng.Next(bytes.Count)] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: bytes = bytes.Take(rng.Next(bytes.Count)).ToList(); break;
                    case 2: bytes.Insert(rng.Next(bytes.Count + 1), (byte)rng.Next(256)); break;
                }
                input = bytes.ToArray();
                // Half the mutations re-sign every chunk so the decoder gets past the CRC check.
                if (rng.Next(2) == 0) FixCrcs(input);
            }

            try { Png.Decode(input, $"case {i}"); decoded++; }
            catch (ImageFormatException) { }
            catch (Exception e) { Assert.Fail($"case {i}: {e.GetType().Name}: {e.Message}\n{Convert.ToHexString(input)}"); }
        }
        Assert.That(watch.Elapsed.TotalSeconds, Is.LessThan(3));
        Assert.That(decoded, Is.GreaterThan(0));
    }

    /// <summary>Recomputes the CRC of every complete chunk, walking lengths as a decoder would.</summary>
    static void FixCrcs(byte[] png)
    {
        int p = 8;
        while (p + 12 <= png.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(p));
            if (length > png.Length - p - 12) return;
            BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(p + 8 + (int)length), Crc32Reference(png.AsSpan(p + 4, 4 + (int)length)));
            p += 12 + (int)length;
        }
    }
}
