// Canvas — a tiny 8-bit RGB raster for plots: alpha-blended pixels, filled rectangles, Bresenham
// lines, anti-aliased filled circles, and a built-in 5x7 bitmap font (digits, A–Z, a–z and the
// punctuation axis labels need: . , - + e : ( ) / % = _ [ ] < > * ! ? # ' |).
//
// Coordinates are pixels, origin top-left, y down. Every draw call clips to the canvas and to an
// optional clip rectangle (SetClip), so callers may pass points outside it. The glyphs follow the
// classic HD44780 LCD character ROM shapes (Hitachi, 1980s), one row of five columns per string.
// Save writes a PNG atomically (Png.cs).
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.Plot

using Rgb = (byte R, byte G, byte B);

namespace Denoise.IO;

public sealed class Canvas
{
    public int Width { get; }
    public int Height { get; }

    /// <summary>Row-major RGB bytes, 3 per pixel.</summary>
    public byte[] Pixels { get; }

    int clipLeft, clipTop, clipRight, clipBottom;   // inclusive-exclusive: [left, right) × [top, bottom)

    public Canvas(int width, int height, Rgb background)
    {
        if (width <= 0 || height <= 0 || width > Png.MaxDimension || height > Png.MaxDimension)
            throw new ArgumentOutOfRangeException(nameof(width), $"canvas {width}x{height} must be within 1..{Png.MaxDimension} per side");
        Width = width;
        Height = height;
        Pixels = new byte[width * height * 3];
        ResetClip();
        FillRect(0, 0, width, height, background);
    }

    public Rgb GetPixel(int x, int y)
    {
        int i = (y * Width + x) * 3;
        return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
    }

    /// <summary>Restricts drawing to [x, x+w) × [y, y+h) (intersected with the canvas).</summary>
    public void SetClip(int x, int y, int w, int h)
    {
        clipLeft = Math.Clamp(x, 0, Width);
        clipTop = Math.Clamp(y, 0, Height);
        clipRight = Math.Clamp(x + w, clipLeft, Width);
        clipBottom = Math.Clamp(y + h, clipTop, Height);
    }

    public void ResetClip() => SetClip(0, 0, Width, Height);

    /// <summary>out = (1 − alpha)·out + alpha·color; pixels outside the clip are ignored.</summary>
    public void Blend(int x, int y, Rgb color, float alpha = 1f)
    {
        if (x < clipLeft || x >= clipRight || y < clipTop || y >= clipBottom || !(alpha > 0)) return;
        int i = (y * Width + x) * 3;
        if (alpha >= 1)
        {
            (Pixels[i], Pixels[i + 1], Pixels[i + 2]) = color;
            return;
        }
        Pixels[i] = Mix(Pixels[i], color.R, alpha);
        Pixels[i + 1] = Mix(Pixels[i + 1], color.G, alpha);
        Pixels[i + 2] = Mix(Pixels[i + 2], color.B, alpha);
    }

    static byte Mix(byte under, byte over, float alpha) => (byte)MathF.Round(under + (over - under) * alpha);

    public void FillRect(int x, int y, int w, int h, Rgb color, float alpha = 1f)
    {
        int x0 = Math.Max(x, clipLeft), x1 = (int)Math.Min((long)x + w, clipRight);
        int y0 = Math.Max(y, clipTop), y1 = (int)Math.Min((long)y + h, clipBottom);
        for (int py = y0; py < y1; py++)
            for (int px = x0; px < x1; px++)
                Blend(px, py, color, alpha);
    }

    /// <summary>A one-pixel outline of the rectangle [x, x+w) × [y, y+h).</summary>
    public void DrawRect(int x, int y, int w, int h, Rgb color)
    {
        FillRect(x, y, w, 1, color);
        FillRect(x, y + h - 1, w, 1, color);
        FillRect(x, y, 1, h, color);
        FillRect(x + w - 1, y, 1, h, color);
    }

    /// <summary>Bresenham (1965): one pixel per step along the major axis, error term picks the minor.</summary>
    public void DrawLine(int x0, int y0, int x1, int y1, Rgb color, float alpha = 1f)
    {
        // Far-away endpoints only cost iterations; pull them in so a stray point cannot stall us.
        const int Far = 1 << 16;
        x0 = Math.Clamp(x0, -Far, Far); y0 = Math.Clamp(y0, -Far, Far);
        x1 = Math.Clamp(x1, -Far, Far); y1 = Math.Clamp(y1, -Far, Far);

        int dx = Math.Abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
        int dy = -Math.Abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
        int error = dx + dy;
        while (true)
        {
            Blend(x0, y0, color, alpha);
            if (x0 == x1 && y0 == y1) return;
            int e2 = 2 * error;
            if (e2 >= dy) { error += dy; x0 += sx; }
            if (e2 <= dx) { error += dx; y0 += sy; }
        }
    }

    /// <summary>A disc centred on pixel coordinates (cx, cy); the edge pixel's alpha is its approximate coverage.</summary>
    public void FillCircle(float cx, float cy, float radius, Rgb color, float alpha = 1f)
    {
        if (!float.IsFinite(cx) || !float.IsFinite(cy) || !(radius > 0)) return;
        int x0 = (int)MathF.Floor(Math.Max(cx - radius, clipLeft)), x1 = (int)MathF.Ceiling(Math.Min(cx + radius, clipRight - 1));
        int y0 = (int)MathF.Floor(Math.Max(cy - radius, clipTop)), y1 = (int)MathF.Ceiling(Math.Min(cy + radius, clipBottom - 1));
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                float distance = MathF.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
                float coverage = Math.Clamp(radius + 0.5f - distance, 0f, 1f);
                Blend(x, y, color, alpha * coverage);
            }
    }

    // ---- Text -----------------------------------------------------------------------------

    public const int GlyphWidth = 5, GlyphHeight = 7, GlyphAdvance = 6;

    public static int TextWidth(string text, int scale = 1) =>
        text.Length == 0 ? 0 : (text.Length * GlyphAdvance - 1) * scale;

    /// <summary>Draws text with its top-left corner at (x, y); each font pixel becomes scale×scale.</summary>
    public void DrawText(int x, int y, string text, Rgb color, int scale = 1) =>
        DrawGlyphs(text, scale, (gx, gy) => FillRect(x + gx * scale, y + gy * scale, scale, scale, color));

    /// <summary>Draws text rotated 90° anticlockwise (reads bottom to top); (x, y) is its bottom-left corner.</summary>
    public void DrawTextVertical(int x, int y, string text, Rgb color, int scale = 1) =>
        DrawGlyphs(text, scale, (gx, gy) => FillRect(x + gy * scale, y - (gx + 1) * scale, scale, scale, color));

    void DrawGlyphs(string text, int scale, Action<int, int> plotFontPixel)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        for (int k = 0; k < text.Length; k++)
        {
            byte[] rows = Font5x7.Glyph(text[k]);
            for (int row = 0; row < GlyphHeight; row++)
                for (int col = 0; col < GlyphWidth; col++)
                    if ((rows[row] & (0x10 >> col)) != 0)
                        plotFontPixel(k * GlyphAdvance + col, row);
        }
    }

    public void Save(string path) => Png.Write(path, Width, Height, Pixels);
}

/// <summary>5x7 glyphs: seven rows of five columns, '#' lit; bit 4 of each row byte is the left column.</summary>
static class Font5x7
{
    static readonly Dictionary<char, byte[]> Glyphs = Build(new Dictionary<char, string>
    {
        [' '] = "..... ..... ..... ..... ..... ..... .....",
        ['0'] = ".###. #...# #..## #.#.# ##..# #...# .###.",
        ['1'] = "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
        ['2'] = ".###. #...# ....# ...#. ..#.. .#... #####",
        ['3'] = "##### ...#. ..#.. ...#. ....# #...# .###.",
        ['4'] = "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
        ['5'] = "##### #.... ####. ....# ....# #...# .###.",
        ['6'] = "..##. .#... #.... ####. #...# #...# .###.",
        ['7'] = "##### ....# ...#. ..#.. .#... .#... .#...",
        ['8'] = ".###. #...# #...# .###. #...# #...# .###.",
        ['9'] = ".###. #...# #...# .#### ....# ...#. .##..",
        ['A'] = ".###. #...# #...# ##### #...# #...# #...#",
        ['B'] = "####. #...# #...# ####. #...# #...# ####.",
        ['C'] = ".###. #...# #.... #.... #.... #...# .###.",
        ['D'] = "###.. #..#. #...# #...# #...# #..#. ###..",
        ['E'] = "##### #.... #.... ####. #.... #.... #####",
        ['F'] = "##### #.... #.... ####. #.... #.... #....",
        ['G'] = ".###. #...# #.... #.### #...# #...# .####",
        ['H'] = "#...# #...# #...# ##### #...# #...# #...#",
        ['I'] = ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        ['J'] = "..### ...#. ...#. ...#. ...#. #..#. .##..",
        ['K'] = "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
        ['L'] = "#.... #.... #.... #.... #.... #.... #####",
        ['M'] = "#...# ##.## #.#.# #.#.# #...# #...# #...#",
        ['N'] = "#...# #...# ##..# #.#.# #..## #...# #...#",
        ['O'] = ".###. #...# #...# #...# #...# #...# .###.",
        ['P'] = "####. #...# #...# ####. #.... #.... #....",
        ['Q'] = ".###. #...# #...# #...# #.#.# #..#. .##.#",
        ['R'] = "####. #...# #...# ####. #.#.. #..#. #...#",
        ['S'] = ".#### #.... #.... .###. ....# ....# ####.",
        ['T'] = "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        ['U'] = "#...# #...# #...# #...# #...# #...# .###.",
        ['V'] = "#...# #...# #...# #...# #...# .#.#. ..#..",
        ['W'] = "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
        ['X'] = "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
        ['Y'] = "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
        ['Z'] = "##### ....# ...#. ..#.. .#... #.... #####",
        ['a'] = "..... ..... .###. ....# .#### #...# .####",
        ['b'] = "#.... #.... #.##. ##..# #...# #...# ####.",
        ['c'] = "..... ..... .###. #.... #.... #...# .###.",
        ['d'] = "....# ....# .##.# #..## #...# #...# .####",
        ['e'] = "..... ..... .###. #...# ##### #.... .###.",
        ['f'] = "..##. .#..# .#... ###.. .#... .#... .#...",
        ['g'] = "..... .#### #...# #...# .#### ....# .###.",
        ['h'] = "#.... #.... #.##. ##..# #...# #...# #...#",
        ['i'] = "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
        ['j'] = "...#. ..... ..##. ...#. ...#. #..#. .##..",
        ['k'] = "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
        ['l'] = ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        ['m'] = "..... ..... ##.#. #.#.# #.#.# #...# #...#",
        ['n'] = "..... ..... #.##. ##..# #...# #...# #...#",
        ['o'] = "..... ..... .###. #...# #...# #...# .###.",
        ['p'] = "..... ..... ####. #...# ####. #.... #....",
        ['q'] = "..... ..... .##.# #..## .#### ....# ....#",
        ['r'] = "..... ..... #.##. ##..# #.... #.... #....",
        ['s'] = "..... ..... .###. #.... .###. ....# ####.",
        ['t'] = ".#... .#... ###.. .#... .#... .#..# ..##.",
        ['u'] = "..... ..... #...# #...# #...# #..## .##.#",
        ['v'] = "..... ..... #...# #...# #...# .#.#. ..#..",
        ['w'] = "..... ..... #...# #...# #.#.# #.#.# .#.#.",
        ['x'] = "..... ..... #...# .#.#. ..#.. .#.#. #...#",
        ['y'] = "..... ..... #...# #...# .#### ....# .###.",
        ['z'] = "..... ..... ##### ...#. ..#.. .#... #####",
        ['.'] = "..... ..... ..... ..... ..... .##.. .##..",
        [','] = "..... ..... ..... ..... .##.. ..#.. .#...",
        ['-'] = "..... ..... ..... ##### ..... ..... .....",
        ['+'] = "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
        [':'] = "..... .##.. .##.. ..... .##.. .##.. .....",
        ['('] = "...#. ..#.. .#... .#... .#... ..#.. ...#.",
        [')'] = ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
        ['/'] = "..... ....# ...#. ..#.. .#... #.... .....",
        ['_'] = "..... ..... ..... ..... ..... ..... #####",
        ['='] = "..... ..... ##### ..... ##### ..... .....",
        ['%'] = "##... ##..# ...#. ..#.. .#... #..## ...##",
        ['['] = ".###. .#... .#... .#... .#... .#... .###.",
        [']'] = ".###. ...#. ...#. ...#. ...#. ...#. .###.",
        ['<'] = "...#. ..#.. .#... #.... .#... ..#.. ...#.",
        ['>'] = ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
        ['*'] = "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
        ['!'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
        ['?'] = ".###. #...# ....# ...#. ..#.. ..... ..#..",
        ['#'] = ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
        ['\''] = "..#.. ..#.. .#... ..... ..... ..... .....",
        ['|'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    });

    /// <summary>The glyph for <paramref name="ch"/>; characters outside the font draw as '?'.</summary>
    public static byte[] Glyph(char ch) => Glyphs.TryGetValue(ch, out var rows) ? rows : Glyphs['?'];

    static Dictionary<char, byte[]> Build(Dictionary<char, string> patterns)
    {
        var glyphs = new Dictionary<char, byte[]>();
        foreach (var (ch, pattern) in patterns)
        {
            string[] rows = pattern.Split(' ');
            if (rows.Length != Canvas.GlyphHeight || rows.Any(r => r.Length != Canvas.GlyphWidth))
                throw new InvalidOperationException($"glyph '{ch}' is not 5x7");
            glyphs[ch] = rows.Select(r => (byte)r.Aggregate(0, (bits, c) => (bits << 1) | (c == '#' ? 1 : 0))).ToArray();
        }
        return glyphs;
    }
}
