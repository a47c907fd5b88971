// Tests for engine/IO/ImageGrid.cs and engine/IO/Gif.cs.
// Grid: canvas size from the layout arithmetic, a chosen sample pixel lands where expected (gray and
// RGB, [0,1] and [−1,1] ranges), labels/title widen the canvas without crashing, strips put sample i's
// steps on row i. GIF: the structure (header, loop extension, one image descriptor per frame) and a
// full decode of the LZW data by an independent decoder written here from the GIF89a spec, on noisy
// frames big enough to cross every code width (9 → 12 bits) and several clear codes.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~IO.ImageGrid|FullyQualifiedName~IO.Gif"

using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.IO;

public class ImageGridTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-grid-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    [Test]
    public void Grid_SizeAndPixelPlacement_MatchLayout()
    {
        // 5 gray 28×28 images in 3 columns → 2 rows, auto scale 2, padding 2.
        var v = new float[5 * 28 * 28];
        v[((4 * 1 + 0) * 28 + 3) * 28 + 7] = 1f;   // sample 4 (row 1, col 1), pixel (3, 7)
        var x = Tensor.FromArray(v, 5, 1, 28, 28);
        var canvas = ImageGrid.Render(x, new GridStyle(Columns: 3), out var layout);

        Assert.That(layout.Scale, Is.EqualTo(2));
        Assert.That(canvas.Width, Is.EqualTo(3 * 56 + 4 * 2));
        Assert.That(canvas.Height, Is.EqualTo(2 * 56 + 3 * 2));
        int px = layout.TileX(1) + 7 * 2, py = layout.TileY(1) + 3 * 2;
        Assert.That((px, py), Is.EqualTo((2 + 58 + 14, 2 + 58 + 6)));
        Assert.That(canvas.GetPixel(px, py), Is.EqualTo(((byte)255, (byte)255, (byte)255)));
        Assert.That(canvas.GetPixel(px + 1, py + 1), Is.EqualTo(((byte)255, (byte)255, (byte)255)), "nearest 2× scale fills a 2×2 block");
        Assert.That(canvas.GetPixel(px + 2, py), Is.EqualTo(((byte)0, (byte)0, (byte)0)));
        Assert.That(canvas.GetPixel(0, 0), Is.EqualTo(GridStyle.Background), "padding");
        // The empty sixth slot stays background.
        Assert.That(canvas.GetPixel(layout.TileX(2) + 5, layout.TileY(1) + 5), Is.EqualTo(GridStyle.Background));
    }

    [Test]
    public void Grid_RgbInMinusOneToOne_MapsChannelsAndRange()
    {
        var v = Enumerable.Repeat(-1f, 2 * 3 * 4 * 4).ToArray();
        int At(int n, int c, int i, int j) => ((n * 3 + c) * 4 + i) * 4 + j;
        v[At(1, 0, 0, 0)] = 1f; v[At(1, 1, 0, 0)] = 0f;        // (255, 128, 0)
        v[At(1, 2, 2, 3)] = float.NaN;                          // any non-finite channel → magenta
        var x = Tensor.FromArray(v, 2, 3, 4, 4);
        var canvas = ImageGrid.Render(x, new GridStyle(Low: -1, High: 1, Scale: 3, Padding: 1, Columns: 2), out var layout);
        Assert.That(canvas.GetPixel(layout.TileX(1), layout.TileY(0)), Is.EqualTo(((byte)255, (byte)128, (byte)0)));
        Assert.That(canvas.GetPixel(layout.TileX(1) + 3 * 3 + 2, layout.TileY(0) + 2 * 3), Is.EqualTo(GridStyle.NotFinite));
        Assert.That(canvas.GetPixel(layout.TileX(0) + 1, layout.TileY(0) + 1), Is.EqualTo(((byte)0, (byte)0, (byte)0)));
    }

    [Test]
    public void Grid_WithLabelsAndTitle_WritesPngWithShiftedTiles()
    {
        var x = Tensor.Rand([6, 1, 28, 28], new Generator(1));
        var labels = new[] { "digit 0", "a much longer label (9)" };
        string path = Path.Combine(dir, "grid.png");
        var style = new GridStyle(Columns: 3, RowLabels: labels, ColumnLabels: ["a", "b", "c"], Title: "samples at step 1,000");
        ImageGrid.Write(path, x, style);
        var (w, h, _, _) = Png.Read(path);

        var canvas = ImageGrid.Render(x, style, out var layout);
        Assert.That((w, h), Is.EqualTo((canvas.Width, canvas.Height)));
        Assert.That(layout.Left, Is.GreaterThanOrEqualTo(Canvas.TextWidth(labels[1]) + 2), "tiles start right of the widest label");
        Assert.That(layout.Top, Is.GreaterThan(2 * Canvas.GlyphHeight), "title and column labels sit above the tiles");
        // Some label pixel is dark (text was drawn) left of the tiles.
        bool any = false;
        for (int yy = layout.TileY(0); yy < layout.TileY(0) + layout.TileHeight && !any; yy++)
            for (int xx = 0; xx < layout.Left - 2 && !any; xx++) any = canvas.GetPixel(xx, yy) == GridStyle.TextColor;
        Assert.That(any, "row label drawn");
    }

    [Test]
    public void Strip_PutsEachSampleOnItsOwnRow()
    {
        // 3 steps of 2 samples; step s of sample i is filled with (10·i + s) / 100.
        var steps = Enumerable.Range(0, 3).Select(s =>
            Tensor.FromArray(Enumerable.Range(0, 8).Select(k => (10 * (k / 4) + s) / 100f).ToArray(), 2, 1, 2, 2)).ToList();
        ImageGrid.WriteStrip(Path.Combine(dir, "strip.png"), steps, new GridStyle(RowLabels: ["x 0", "x 1"], ColumnLabels: ["x_T", "", "x_0"]));
        var canvas = ImageGrid.Render(Tensor.Zeros(6, 1, 2, 2), new GridStyle(Columns: 3, RowLabels: ["x 0", "x 1"], ColumnLabels: ["x_T", "", "x_0"]), out var layout);
        var strip = ImageGrid.RenderStrip(steps, new GridStyle(RowLabels: ["x 0", "x 1"], ColumnLabels: ["x_T", "", "x_0"]));
        Assert.That((strip.Width, strip.Height), Is.EqualTo((canvas.Width, canvas.Height)));
        for (int i = 0; i < 2; i++)
            for (int s = 0; s < 3; s++)
            {
                byte expected = (byte)MathF.Round((10 * i + s) / 100f * 255f);
                Assert.That(strip.GetPixel(layout.TileX(s), layout.TileY(i)).R, Is.EqualTo(expected), $"sample {i}, step {s}");
            }
    }

    [Test]
    public void Grid_BadShape_NamesTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageGrid.Render(Tensor.Zeros(2, 2, 4, 4)));
        Assert.That(e!.Message, Does.Contain("(2, 2, 4, 4)").Or.Contain("[2, 2, 4, 4]").Or.Contain("2x2x4x4"));
        Assert.Throws<ArgumentException>(() => ImageGrid.Render(Tensor.Zeros(4, 4)));
    }
}

public class GifTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-gif-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    [Test]
    public void Gif_NoisyGrayFrames_DecodeBackExactly()
    {
        // Uniform noise barely compresses, so 64×64 = 4,096 pixels give ~4,000 codes: the table
        // crosses 512, 1,024, 2,048 and fills at 4,096, forcing a clear code mid-frame.
        var rng = new Random(7);
        var frames = Enumerable.Range(0, 3).Select(_ => { var f = new byte[64 * 64]; rng.NextBytes(f); return f; }).ToList();
        string path = Path.Combine(dir, "noise.gif");
        Gif.WriteGray(path, 64, 64, frames, delayMs: 120);
        var gif = GifReader.Read(File.ReadAllBytes(path));

        Assert.That(gif.Width, Is.EqualTo(64));
        Assert.That(gif.Loops, Is.True, "NETSCAPE2.0 loop extension present");
        Assert.That(gif.DelaysCs, Is.EqualTo(new[] { 12, 12, 12 }));
        Assert.That(gif.Frames, Has.Count.EqualTo(3), "one image descriptor per frame");
        for (int f = 0; f < 3; f++)
        {
            Assert.That(gif.Frames[f], Is.EqualTo(frames[f]), $"frame {f} (palette = identity grays)");
            Assert.That(gif.Stats[f].MaxCodeSize, Is.EqualTo(12));
            Assert.That(gif.Stats[f].Clears, Is.GreaterThanOrEqualTo(2), "leading clear + one when the table filled");
        }
        for (int i = 0; i < 256; i++) Assert.That(gif.Palette[3 * i], Is.EqualTo(i));
    }

    [Test]
    public void Gif_RgbCanvasFrames_UseColourCube()
    {
        // A frame of cube colours comes back exactly; an off-cube colour comes back quantized.
        var a = new Canvas(40, 30, (255, 255, 255));
        a.FillRect(5, 5, 10, 10, (255, 0, 0));
        a.FillRect(20, 5, 10, 10, (0, 85, 51));   // levels g 2/6, b 1/5
        var b = new Canvas(40, 30, (31, 119, 180));
        Gif.Write(Path.Combine(dir, "rgb.gif"), [a, b], delayMs: 50);
        var gif = GifReader.Read(File.ReadAllBytes(Path.Combine(dir, "rgb.gif")));
        Assert.That(gif.Frames, Has.Count.EqualTo(2));

        (byte, byte, byte) At(int frame, int x, int y)
        {
            int idx = gif.Frames[frame][y * 40 + x];
            return (gif.Palette[3 * idx], gif.Palette[3 * idx + 1], gif.Palette[3 * idx + 2]);
        }
        Assert.That(At(0, 0, 0), Is.EqualTo(((byte)255, (byte)255, (byte)255)));
        Assert.That(At(0, 7, 7), Is.EqualTo(((byte)255, (byte)0, (byte)0)));
        Assert.That(At(0, 22, 7), Is.EqualTo(((byte)0, (byte)85, (byte)51)));
        Assert.That(At(1, 3, 3), Is.EqualTo(Gif.QuantizeRgb(31, 119, 180)));
    }

    [Test]
    public void Gif_EveryFrameSizeAndEdgeLengths_RoundTrip()
    {
        // Tiny and odd sizes exercise the end-of-stream code width (1 pixel, 511/512/513 codes).
        var rng = new Random(3);
        foreach (var (w, h) in new[] { (1, 1), (2, 1), (7, 13), (1, 257), (1, 256), (1, 255), (33, 65) })
        {
            var f = new byte[w * h];
            rng.NextBytes(f);
            var gif = GifReader.Read(Gif.Encode(w, h, 1, [f, f.Reverse().ToArray()]));
            Assert.That(gif.Frames[0], Is.EqualTo(f), $"{w}x{h}");
            Assert.That(gif.Frames[1], Is.EqualTo(f.Reverse().ToArray()), $"{w}x{h} second frame");
        }
        // Distinct pixels never repeat a pair, so each pixel is one code: 255 codes leave the decoder's
        // table at exactly 512 entries after the last one, so it reads the end code 10 bits wide.
        foreach (int n in new[] { 254, 255, 256 })
        {
            var ramp = Enumerable.Range(0, n).Select(i => (byte)i).ToArray();
            Assert.That(GifReader.Read(Gif.Encode(n, 1, 1, [ramp])).Frames[0], Is.EqualTo(ramp), $"ramp of {n}");
        }
        // Constant frames compress into long runs (the KwKwK case of LZW).
        var flat = new byte[100 * 100];
        Array.Fill(flat, (byte)9);
        Assert.That(GifReader.Read(Gif.Encode(100, 100, 1, [flat])).Frames[0], Is.EqualTo(flat));
    }

    [Test]
    public void Gif_BadInput_Throws()
    {
        Assert.Throws<ArgumentException>(() => Gif.Write(Path.Combine(dir, "x.gif"), []));
        Assert.Throws<ArgumentException>(() => Gif.Write(Path.Combine(dir, "x.gif"), [new Canvas(2, 2, (0, 0, 0)), new Canvas(3, 2, (0, 0, 0))]));
        Assert.That(File.Exists(Path.Combine(dir, "x.gif")), Is.False);
    }
}

/// <summary>A minimal GIF89a reader written from the spec, independent of the encoder: global palette only.</summary>
static class GifReader
{
    public sealed record Decoded(int Width, int Height, byte[] Palette, bool Loops, List<int> DelaysCs, List<byte[]> Frames, List<(int MaxCodeSize, int Clears)> Stats);

    public static Decoded Read(byte[] b)
    {
        Assert.That(System.Text.Encoding.ASCII.GetString(b, 0, 6), Is.EqualTo("GIF89a"));
        int width = b[6] | b[7] << 8, height = b[8] | b[9] << 8;
        Assert.That(b[10] & 0x80, Is.Not.Zero, "global colour table");
        int tableSize = 3 * (1 << ((b[10] & 7) + 1));
        var palette = b[13..(13 + tableSize)];
        int p = 13 + tableSize;
        bool loops = false;
        var delays = new List<int>();
        var frames = new List<byte[]>();
        var stats = new List<(int, int)>();
        while (true)
        {
            byte kind = b[p++];
            if (kind == 0x3B) break;
            if (kind == 0x21)
            {
                byte label = b[p++];
                if (label == 0xFF && System.Text.Encoding.ASCII.GetString(b, p + 1, 11) == "NETSCAPE2.0") loops = true;
                if (label == 0xF9) delays.Add(b[p + 2] | b[p + 3] << 8);
                while (b[p] != 0) p += b[p] + 1;   // skip sub-blocks
                p++;
                continue;
            }
            Assert.That(kind, Is.EqualTo(0x2C), $"unexpected block 0x{kind:X2} at {p - 1}");
            int w = b[p + 4] | b[p + 5] << 8, h = b[p + 6] | b[p + 7] << 8;
            Assert.That((w, h), Is.EqualTo((width, height)));
            Assert.That(b[p + 8] & 0x80, Is.Zero, "no local table");
            p += 9;
            int minCodeSize = b[p++];
            var data = new List<byte>();
            while (b[p] != 0) { data.AddRange(b.AsSpan(p + 1, b[p]).ToArray()); p += b[p] + 1; }
            p++;
            var (pixels, maxCode, clears) = Lzw(data.ToArray(), minCodeSize, w * h);
            frames.Add(pixels);
            stats.Add((maxCode, clears));
        }
        return new Decoded(width, height, palette, loops, delays, frames, stats);
    }

    /// <summary>GIF LZW decode (spec appendix F): widen when the next free code reaches 2^size, max 12 bits.</summary>
    static (byte[] Pixels, int MaxCodeSize, int Clears) Lzw(byte[] data, int minCodeSize, int count)
    {
        int clear = 1 << minCodeSize, eoi = clear + 1;
        var prefix = new int[4096]; var suffix = new byte[4096]; var length = new int[4096];
        for (int i = 0; i < clear; i++) { suffix[i] = (byte)i; length[i] = 1; prefix[i] = -1; }
        var output = new List<byte>(count);
        int size = minCodeSize + 1, next = eoi + 1, previous = -1, maxSize = size, clears = 0;
        long bitPos = 0;
        byte First(int code) { while (prefix[code] >= 0) code = prefix[code]; return suffix[code]; }
        void Append(int code)
        {
            var tmp = new byte[length[code]];
            for (int k = tmp.Length - 1; k >= 0; k--) { tmp[k] = suffix[code]; code = prefix[code]; }
            output.AddRange(tmp);
        }
        while (true)
        {
            Assert.That(bitPos + size, Is.LessThanOrEqualTo(data.Length * 8L), "LZW data ended without an end code");
            int code = 0;
            for (int k = 0; k < size; k++, bitPos++)
                if ((data[bitPos >> 3] >> (int)(bitPos & 7) & 1) != 0) code |= 1 << k;
            if (code == clear) { size = minCodeSize + 1; next = eoi + 1; previous = -1; clears++; continue; }
            if (code == eoi) break;
            Assert.That(code, Is.LessThanOrEqualTo(next), "code not yet defined");
            if (previous < 0) { Append(code); previous = code; continue; }
            if (next < 4096)
            {
                prefix[next] = previous;
                suffix[next] = code < next ? First(code) : First(previous);   // code == next: the KwKwK case
                length[next] = length[previous] + 1;
                next++;
            }
            Append(code);
            previous = code;
            if (next == 1 << size && size < 12) { size++; maxSize = Math.Max(maxSize, size); }
        }
        Assert.That(output, Has.Count.EqualTo(count), "pixel count");
        Assert.That((data.Length * 8L - bitPos), Is.LessThan(8), "no trailing codes after the end code");
        return (output.ToArray(), maxSize, clears);
    }
}
