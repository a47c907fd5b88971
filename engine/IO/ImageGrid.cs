// ImageGrid — a batch of images (N, C, H, W) laid out as a PNG contact sheet: rows × columns of
// tiles with padding between them, each tile scaled up by an integer factor (nearest neighbour, so
// 28×28 digits stay crisp), optional labels left of each row, labels over each column and a title.
// Strip: a sampling trajectory x_T … x_0 as one row per sample and one column per saved step.
//
// Values map linearly from [low, high] to 0..255 and are clamped: pass (0, 1) for images in [0, 1]
// (the default) or (−1, 1) for diffusion-style data. Non-finite values draw magenta so a NaN in
// the samples shows rather than hides as black. C = 1 draws gray, C = 3 draws RGB.
// Text uses Canvas's 5×7 bitmap font (engine/IO/Canvas.cs).
//
// Run the tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.ImageGrid

using Rgb = (byte R, byte G, byte B);

namespace Denoise.IO;

/// <summary>How a grid looks; every field has a sensible default.</summary>
/// <param name="Columns">Tiles per row; 0 = ceil(√N).</param>
/// <param name="Scale">Integer scale-up; 0 = automatic (the largest side becomes at least 56 px: 2× for 28×28).</param>
public sealed record GridStyle(
    int Columns = 0,
    float Low = 0f,
    float High = 1f,
    int Scale = 0,
    int Padding = 2,
    IReadOnlyList<string>? RowLabels = null,
    IReadOnlyList<string>? ColumnLabels = null,
    string? Title = null)
{
    public static readonly (byte R, byte G, byte B) Background = (255, 255, 255);
    public static readonly (byte R, byte G, byte B) TextColor = (0, 0, 0);
    public static readonly (byte R, byte G, byte B) NotFinite = (255, 0, 255);
}

/// <summary>Where tile (row, col)'s pixel (0, 0) lands on the canvas, and each pixel's size.</summary>
public readonly record struct GridLayout(int Left, int Top, int TileWidth, int TileHeight, int Padding, int Scale)
{
    public int TileX(int col) => Left + col * (TileWidth + Padding);
    public int TileY(int row) => Top + row * (TileHeight + Padding);
}

public static class ImageGrid
{
    /// <summary>Writes <paramref name="images"/> (N, C, H, W), C = 1 or 3, as a grid PNG.</summary>
    public static void Write(string path, Tensor images, GridStyle? style = null) =>
        Render(images, style, out _).Save(path);

    public static Canvas Render(Tensor images, GridStyle? style = null) => Render(images, style, out _);

    public static Canvas Render(Tensor images, GridStyle? style, out GridLayout layout)
    {
        style ??= new GridStyle();
        var (N, C, H, W) = CheckImages(images, "ImageGrid");
        if (!(style.High > style.Low)) throw new ArgumentException($"ImageGrid: value range [{style.Low}, {style.High}] is empty.");
        ArgumentOutOfRangeException.ThrowIfNegative(style.Padding);
        ArgumentOutOfRangeException.ThrowIfNegative(style.Scale);
        ArgumentOutOfRangeException.ThrowIfNegative(style.Columns);

        int cols = style.Columns > 0 ? Math.Min(style.Columns, N) : (int)Math.Ceiling(Math.Sqrt(N));
        int rows = (N + cols - 1) / cols;
        int scale = style.Scale > 0 ? style.Scale : Math.Max(1, 56 / Math.Max(H, W));
        int tileW = W * scale, tileH = H * scale, pad = style.Padding;

        // Margins sized to what sits in them: row labels left, column labels and title on top.
        const int TextGap = 4;
        int labelWidth = style.RowLabels is { Count: > 0 } rl ? rl.Max(l => Canvas.TextWidth(l)) + 2 * TextGap : 0;
        int columnLabelHeight = style.ColumnLabels is { Count: > 0 } ? Canvas.GlyphHeight + 2 * TextGap : 0;
        int gridW = cols * tileW + (cols + 1) * pad, gridH = rows * tileH + (rows + 1) * pad;
        string title = style.Title ?? "";
        int titleHeight = title.Length > 0 ? Canvas.GlyphHeight + 2 * TextGap : 0;
        int width = Math.Max(labelWidth + gridW, title.Length > 0 ? Canvas.TextWidth(title) + 2 * TextGap : 0);
        int height = titleHeight + columnLabelHeight + gridH;

        var canvas = new Canvas(width, height, GridStyle.Background);
        layout = new GridLayout(labelWidth + pad, titleHeight + columnLabelHeight + pad, tileW, tileH, pad, scale);

        if (title.Length > 0) canvas.DrawText((width - Canvas.TextWidth(title)) / 2, TextGap, title, GridStyle.TextColor);
        if (style.RowLabels is { } rowLabels)
            for (int r = 0; r < Math.Min(rows, rowLabels.Count); r++)
                canvas.DrawText(TextGap, layout.TileY(r) + (tileH - Canvas.GlyphHeight) / 2, rowLabels[r], GridStyle.TextColor);
        if (style.ColumnLabels is { } columnLabels)
            for (int c = 0; c < Math.Min(cols, columnLabels.Count); c++)
                canvas.DrawText(layout.TileX(c) + (tileW - Canvas.TextWidth(columnLabels[c])) / 2, titleHeight + TextGap,
                                columnLabels[c], GridStyle.TextColor);

        float[] x = images.ToArray();   // (N, C, H, W) contiguous
        float toByte = 255f / (style.High - style.Low);
        for (int n = 0; n < N; n++)
        {
            int x0 = layout.TileX(n % cols), y0 = layout.TileY(n / cols);
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                {
                    Rgb color;
                    if (C == 1)
                    {
                        float v = x[(n * H + i) * W + j];
                        color = float.IsFinite(v) ? Gray(ToByte(v, style.Low, toByte)) : GridStyle.NotFinite;
                    }
                    else
                    {
                        int plane = H * W, at = n * 3 * plane + i * W + j;
                        float r = x[at], g = x[at + plane], b = x[at + 2 * plane];
                        color = float.IsFinite(r) && float.IsFinite(g) && float.IsFinite(b)
                            ? (ToByte(r, style.Low, toByte), ToByte(g, style.Low, toByte), ToByte(b, style.Low, toByte))
                            : GridStyle.NotFinite;
                    }
                    canvas.FillRect(x0 + j * scale, y0 + i * scale, scale, scale, color);
                }
        }
        return canvas;
    }

    /// <summary>
    /// A trajectory strip: <paramref name="steps"/>[s] is the batch (N, C, H, W) at saved step s
    /// (x_T first, x_0 last); row i shows sample i across the steps.
    /// </summary>
    public static Canvas RenderStrip(IReadOnlyList<Tensor> steps, GridStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0) throw new ArgumentException("ImageGrid.RenderStrip: no steps given.", nameof(steps));
        var (N, C, H, W) = CheckImages(steps[0], "ImageGrid.RenderStrip");
        for (int s = 1; s < steps.Count; s++)
            if (!steps[s].Shape.SequenceEqual(steps[0].Shape))
                throw new ArgumentException($"ImageGrid.RenderStrip: step {s} has shape {steps[s].ShapeStr}, but step 0 has {steps[0].ShapeStr}.");

        // (S, N, C, H, W) → (N, S, C, H, W): sample-major, so a row of S tiles is one sample's path.
        var stacked = Tensor.Stack(steps.ToArray(), 0).Transpose(0, 1).Reshape(N * steps.Count, C, H, W);
        return Render(stacked, (style ?? new GridStyle()) with { Columns = steps.Count });
    }

    public static void WriteStrip(string path, IReadOnlyList<Tensor> steps, GridStyle? style = null) =>
        RenderStrip(steps, style).Save(path);

    static (int N, int C, int H, int W) CheckImages(Tensor images, string op)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || images.Shape[1] is not (1 or 3) || images.Shape[0] == 0)
            throw new ArgumentException($"{op}: images{images.NameSuffix} have shape {images.ShapeStr}; expected (N, C, H, W) with N ≥ 1 and C = 1 or 3.");
        if (images.DType != DType.Float32)
            throw new ArgumentException($"{op}: images{images.NameSuffix} are {images.DType}; expected Float32.");
        return (images.Shape[0], images.Shape[1], images.Shape[2], images.Shape[3]);
    }

    static byte ToByte(float v, float low, float toByte) => (byte)Math.Clamp(MathF.Round((v - low) * toByte), 0f, 255f);
    static Rgb Gray(byte v) => (v, v, v);
}
