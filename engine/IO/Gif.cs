// Gif — an animated GIF encoder (GIF89a), written here because it is small and the spec is stable.
//
// Spec: "Graphics Interchange Format, Version 89a" (CompuServe, 1990), plus the NETSCAPE2.0
// application extension that every browser reads as "loop this animation".
//
// File layout written:
//   "GIF89a" · logical screen (width, height, 256-entry global colour table) · the table
//   · NETSCAPE2.0 loop extension · per frame: graphic control extension (delay) + image
//   descriptor + LZW data in ≤255-byte sub-blocks · trailer 0x3B.
// Palette: one global table for all frames, so frames need no local tables.
//   * Every frame gray (R = G = B everywhere): 256 grays, index = gray level — lossless.
//   * Otherwise a fixed 6×7×6 colour cube (252 colours; green gets 7 levels because the eye is most
//     sensitive to it), each channel rounded to its nearest level. Plots on white with a few strong
//     colours survive this well; photographs would want dithering, which we do not need.
// LZW (spec appendix F): minimum code size 8; codes start at 9 bits and grow by one bit each time
// the table reaches a power of two, up to 12 bits; when the table is full (4096 codes) a clear code
// resets it. The string table is a trie stored as child[code·256 + byte] → code.
//
// Run the tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.Gif

namespace Denoise.IO;

public static class Gif
{
    /// <summary>
    /// Writes an animated GIF of <paramref name="frames"/> (all the same size), each shown for
    /// <paramref name="delayMs"/> milliseconds, looping <paramref name="loopCount"/> times (0 = forever).
    /// Written atomically (temp file, then rename).
    /// </summary>
    public static void Write(string path, IReadOnlyList<Canvas> frames, int delayMs = 80, int loopCount = 0)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0) throw new ArgumentException("Gif.Write: no frames to write.", nameof(frames));
        int width = frames[0].Width, height = frames[0].Height;
        for (int f = 1; f < frames.Count; f++)
            if (frames[f].Width != width || frames[f].Height != height)
                throw new ArgumentException($"Gif.Write: frame {f} is {frames[f].Width}x{frames[f].Height}, but frame 0 is {width}x{height}.", nameof(frames));
        AtomicFile.WriteAllBytes(path, Encode(width, height, 3, frames.Select(c => c.Pixels).ToList(), delayMs, loopCount));
    }

    /// <summary>Writes single-channel (gray) frames of width×height bytes.</summary>
    public static void WriteGray(string path, int width, int height, IReadOnlyList<byte[]> frames, int delayMs = 80, int loopCount = 0) =>
        AtomicFile.WriteAllBytes(path, Encode(width, height, 1, frames, delayMs, loopCount));

    /// <summary>The GIF file's bytes for frames of 1 (gray) or 3 (RGB) channels, row-major.</summary>
    public static byte[] Encode(int width, int height, int channels, IReadOnlyList<byte[]> frames, int delayMs = 80, int loopCount = 0)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (width < 1 || height < 1 || width > ushort.MaxValue || height > ushort.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(width), $"Gif: a frame of {width}x{height} is outside 1..65535 per side.");
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), $"Gif: {channels} channels; expected 1 (gray) or 3 (RGB).");
        if (frames.Count == 0) throw new ArgumentException("Gif: no frames to encode.", nameof(frames));
        ArgumentOutOfRangeException.ThrowIfNegative(delayMs);
        if (loopCount is < 0 or > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(loopCount));
        int pixels = width * height;
        for (int f = 0; f < frames.Count; f++)
            if (frames[f].Length != pixels * channels)
                throw new ArgumentException($"Gif: frame {f} has {frames[f].Length} bytes; a {width}x{height}x{channels} frame has {pixels * channels}.", nameof(frames));

        bool gray = channels == 1 || frames.All(IsGray);
        var output = new MemoryStream();
        var w = new BinaryWriter(output);

        // 1. Header and logical screen descriptor. Packed byte 0xF7: global table present (0x80),
        //    colour resolution 8 bits (0x70), not sorted, table size 2^(7+1) = 256 (0x07).
        w.Write("GIF89a"u8);
        w.Write((ushort)width);
        w.Write((ushort)height);
        w.Write((byte)0xF7);
        w.Write((byte)0);   // background colour index
        w.Write((byte)0);   // pixel aspect ratio: not given
        w.Write(gray ? GrayPalette() : CubePalette());

        // 2. NETSCAPE2.0 application extension: sub-block id 1, then the loop count (0 = forever).
        w.Write((byte)0x21); w.Write((byte)0xFF); w.Write((byte)11);
        w.Write("NETSCAPE2.0"u8);
        w.Write((byte)3); w.Write((byte)1); w.Write((ushort)loopCount); w.Write((byte)0);

        // Delays are in hundredths of a second; browsers replace 0 or 1 by 10 (100 ms), so 2 is the floor.
        ushort delay = (ushort)Math.Clamp((int)Math.Round(delayMs / 10.0), 2, ushort.MaxValue);
        var indices = new byte[pixels];
        var encoder = new LzwEncoder();
        foreach (var frame in frames)
        {
            // 3. Graphic control extension: disposal 1 ("leave in place"), no transparency.
            w.Write((byte)0x21); w.Write((byte)0xF9); w.Write((byte)4);
            w.Write((byte)(1 << 2)); w.Write(delay); w.Write((byte)0); w.Write((byte)0);

            // 4. Image descriptor covering the whole screen, no local table, not interlaced.
            w.Write((byte)0x2C);
            w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)width); w.Write((ushort)height);
            w.Write((byte)0);

            ToIndices(frame, channels, gray, indices);
            w.Write((byte)LzwEncoder.MinCodeSize);
            encoder.Encode(indices, output);
        }
        w.Write((byte)0x3B);
        w.Flush();
        return output.ToArray();
    }

    static bool IsGray(byte[] rgb)
    {
        for (int i = 0; i < rgb.Length; i += 3)
            if (rgb[i] != rgb[i + 1] || rgb[i] != rgb[i + 2]) return false;
        return true;
    }

    // ---- Palettes ---------------------------------------------------------------------------

    const int RLevels = 6, GLevels = 7, BLevels = 6;

    static byte[] GrayPalette()
    {
        var p = new byte[768];
        for (int i = 0; i < 256; i++) p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = (byte)i;
        return p;
    }

    /// <summary>Entry r·42 + g·6 + b holds the levels (r/5, g/6, b/5)·255; entries 252–255 stay black.</summary>
    static byte[] CubePalette()
    {
        var p = new byte[768];
        for (int r = 0; r < RLevels; r++)
            for (int g = 0; g < GLevels; g++)
                for (int b = 0; b < BLevels; b++)
                {
                    int i = CubeIndex(r, g, b);
                    p[3 * i] = Level(r, RLevels);
                    p[3 * i + 1] = Level(g, GLevels);
                    p[3 * i + 2] = Level(b, BLevels);
                }
        return p;
    }

    static int CubeIndex(int r, int g, int b) => (r * GLevels + g) * BLevels + b;
    static byte Level(int k, int levels) => (byte)Math.Round(k * 255.0 / (levels - 1));
    static int Nearest(byte v, int levels) => (v * (levels - 1) + 127) / 255;

    /// <summary>The palette colour an RGB pixel is drawn with in a colour (non-gray) GIF.</summary>
    public static (byte R, byte G, byte B) QuantizeRgb(byte r, byte g, byte b) =>
        (Level(Nearest(r, RLevels), RLevels), Level(Nearest(g, GLevels), GLevels), Level(Nearest(b, BLevels), BLevels));

    static void ToIndices(byte[] frame, int channels, bool gray, byte[] indices)
    {
        if (channels == 1) { frame.CopyTo(indices, 0); return; }
        for (int i = 0; i < indices.Length; i++)
        {
            byte r = frame[3 * i], g = frame[3 * i + 1], b = frame[3 * i + 2];
            indices[i] = gray ? r : (byte)CubeIndex(Nearest(r, RLevels), Nearest(g, GLevels), Nearest(b, BLevels));
        }
    }

    // ---- LZW --------------------------------------------------------------------------------

    /// <summary>Variable-width LZW as GIF uses it, writing codes LSB-first into 255-byte sub-blocks.</summary>
    sealed class LzwEncoder
    {
        public const int MinCodeSize = 8;
        const int Clear = 1 << MinCodeSize, EndOfInformation = Clear + 1, MaxCodes = 4096;

        // child[code·256 + byte] = the code for string(code)+byte, or 0 for "not in the table"
        // (0 is never a child: codes 0–255 are the roots). A row is cleared when its code is created.
        readonly ushort[] child = new ushort[MaxCodes * 256];
        int nextCode, codeSize;

        // Bit packing: codes accumulate in `bits` (LSB first); whole bytes go to `block`.
        readonly byte[] block = new byte[255];
        int blockLength, bitCount;
        uint bits;
        Stream output = Stream.Null;

        public void Encode(ReadOnlySpan<byte> pixels, Stream destination)
        {
            output = destination;
            blockLength = 0; bitCount = 0; bits = 0;
            Reset();
            Emit(Clear);   // a leading clear code is customary and costs 9 bits

            int current = pixels[0];
            for (int i = 1; i < pixels.Length; i++)
            {
                byte next = pixels[i];
                int found = child[current * 256 + next];
                if (found != 0) { current = found; continue; }   // extend the match

                Emit(current);
                child[current * 256 + next] = (ushort)nextCode;
                Array.Clear(child, nextCode * 256, 256);
                nextCode++;
                // The decoder adds its entry one code later, so it widens when *its* next code
                // reaches 2^codeSize — which is exactly when ours has passed it.
                if (nextCode > (1 << codeSize) && codeSize < 12) codeSize++;
                if (nextCode == MaxCodes)
                {
                    Emit(Clear);
                    Reset();
                }
                current = next;
            }
            Emit(current);
            // The decoder adds a table entry for this last code too (it cannot know it is the last),
            // and may widen before reading EndOfInformation: widen in step with it.
            nextCode++;
            if (nextCode > (1 << codeSize) && codeSize < 12) codeSize++;
            Emit(EndOfInformation);
            if (bitCount > 0) PutByte((byte)bits);
            FlushBlock();
            output.WriteByte(0);   // block terminator
        }

        void Reset()
        {
            Array.Clear(child, 0, 256 * 256);
            nextCode = EndOfInformation + 1;
            codeSize = MinCodeSize + 1;
        }

        void Emit(int code)
        {
            bits |= (uint)code << bitCount;
            bitCount += codeSize;
            while (bitCount >= 8)
            {
                PutByte((byte)bits);
                bits >>= 8;
                bitCount -= 8;
            }
        }

        void PutByte(byte b)
        {
            block[blockLength++] = b;
            if (blockLength == 255) FlushBlock();
        }

        void FlushBlock()
        {
            if (blockLength == 0) return;
            output.WriteByte((byte)blockLength);
            output.Write(block, 0, blockLength);
            blockLength = 0;
        }
    }
}
