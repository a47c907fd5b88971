// Tests for engine/IO/Canvas.cs and engine/IO/Plot.cs: drawing primitives land where they should,
// plots decode as PNGs of the requested size, data lands in the right region, hostile values
// (NaN, ±Inf, non-positive on a log axis) are skipped, and empty input is a clear ArgumentException.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.Plot

using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.IO;

public class PlotTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-plot-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static readonly (byte R, byte G, byte B) Red = (255, 0, 0), Blue = (0, 0, 255);

    // ---- Canvas -------------------------------------------------------------------------

    [Test]
    public void Canvas_LineRectCircle_DrawWhereAsked()
    {
        var c = new Canvas(40, 30, (255, 255, 255));
        c.DrawLine(2, 3, 20, 12, Red);
        Assert.That(c.GetPixel(2, 3), Is.EqualTo(Red));
        Assert.That(c.GetPixel(20, 12), Is.EqualTo(Red));
        Assert.That(c.GetPixel(11, 7) == Red || c.GetPixel(11, 8) == Red, "at x = 11 the line passes y = 7.5");

        c.FillRect(30, 20, 5, 5, Blue);
        Assert.That(c.GetPixel(32, 22), Is.EqualTo(Blue));
        Assert.That(c.GetPixel(35, 22), Is.EqualTo(((byte)255, (byte)255, (byte)255)), "rect is half-open");

        c.FillCircle(10, 22, 3, (0, 0, 0), alpha: 0.5f);
        Assert.That(c.GetPixel(10, 22), Is.EqualTo(((byte)128, (byte)128, (byte)128)), "half alpha on white");
        Assert.That(c.GetPixel(10, 27), Is.EqualTo(((byte)255, (byte)255, (byte)255)), "outside the radius");
    }

    [Test]
    public void Canvas_ClipAndOutOfBoundsDrawing_IsSafe()
    {
        var c = new Canvas(10, 10, (0, 0, 0));
        c.SetClip(0, 0, 5, 10);
        c.FillRect(-100, -100, 1000, 1000, Red);
        Assert.That(c.GetPixel(4, 9), Is.EqualTo(Red));
        Assert.That(c.GetPixel(5, 0), Is.EqualTo(((byte)0, (byte)0, (byte)0)), "right of the clip untouched");
        c.ResetClip();
        c.DrawLine(-1_000_000, 5, 1_000_000, 5, Blue);
        c.FillCircle(1e30f, -1e30f, 5, Blue);
        c.FillCircle(float.NaN, 0, 5, Blue);
        c.DrawText(-3, 8, "clipped text 0.5e-3", Blue);
        Assert.That(c.GetPixel(9, 5), Is.EqualTo(Blue));
    }

    [Test]
    public void Canvas_DrawText_LightsGlyphPixels()
    {
        var c = new Canvas(30, 10, (255, 255, 255));
        c.DrawText(1, 1, "1-e", (0, 0, 0));
        // '1' has its stem in column 2 for all rows 1..6; '-' is row 3 of the second cell.
        Assert.That(c.GetPixel(1 + 2, 1 + 3), Is.EqualTo(((byte)0, (byte)0, (byte)0)));
        Assert.That(c.GetPixel(1 + 6 + 0, 1 + 3), Is.EqualTo(((byte)0, (byte)0, (byte)0)));
        Assert.That(c.GetPixel(1 + 6 + 0, 1 + 0), Is.EqualTo(((byte)255, (byte)255, (byte)255)));
        Assert.That(Canvas.TextWidth("1-e"), Is.EqualTo(17));
        Assert.That(Canvas.TextWidth("ab", scale: 2), Is.EqualTo(22));
    }

    // ---- Scatter -----------------------------------------------------------------------

    [Test]
    public void Scatter_WritesPngOfRequestedSize()
    {
        string path = Path.Combine(dir, "scatter.png");
        Plot.Scatter(path, [new ScatterSeries("data", [0, 1, 2], [1, 0, 2], Red)], "Scatter", width: 320, height: 240);
        var (w, h, channels, _) = Png.Read(path);
        Assert.That((w, h, channels), Is.EqualTo((320, 240, 3)));
    }

    [Test]
    public void Scatter_PointsInOneCorner_ColourThatCornerOnly()
    {
        // A red cluster near (1, 1) and one blue anchor at (0, 0) to fix the bounds.
        var rng = new Random(3);
        float[] x = Enumerable.Range(0, 200).Select(_ => 0.9f + 0.1f * rng.NextSingle()).ToArray();
        float[] y = Enumerable.Range(0, 200).Select(_ => 0.9f + 0.1f * rng.NextSingle()).ToArray();
        var canvas = Plot.RenderScatter(
        [
            new ScatterSeries("", x, y, Red),
            new ScatterSeries("", [0f], [0f], Blue),
        ], "corner", 400, 400);

        int Reddish(int x0, int x1, int y0, int y1)
        {
            int n = 0;
            for (int py = y0; py < y1; py++)
                for (int px = x0; px < x1; px++)
                    if (canvas.GetPixel(px, py) is var (r, g, b) && r > 200 && g < 150 && b < 150) n++;
            return n;
        }
        Assert.That(Reddish(200, 400, 0, 200), Is.GreaterThan(100), "top-right quadrant holds the cluster");
        Assert.That(Reddish(0, 200, 200, 400), Is.EqualTo(0), "bottom-left quadrant has no red");
    }

    [Test]
    public void Scatter_NonFiniteValues_AreSkipped()
    {
        var canvas = Plot.RenderScatter(
        [
            new ScatterSeries("mixed", [float.NaN, 1, float.PositiveInfinity, 2, 3], [0, 1, 5, float.NegativeInfinity, 3], Red),
            new ScatterSeries("all bad", [float.NaN], [float.PositiveInfinity], Blue),
        ], "NaN and Inf");
        Assert.That(canvas.Width, Is.EqualTo(600));

        // Only non-finite values at all: empty axes rather than a crash.
        Assert.DoesNotThrow(() => Plot.RenderScatter([new ScatterSeries("nan", [float.NaN], [float.NaN], Red)], "all NaN"));
    }

    [Test]
    public void Scatter_EmptyOrMismatchedInput_ThrowsArgumentException()
    {
        Assert.That(() => Plot.RenderScatter([], "t"), Throws.ArgumentException.With.Message.Contains("at least one series"));
        Assert.That(() => Plot.RenderScatter([new ScatterSeries("e", [], [], Red)], "t"),
            Throws.ArgumentException.With.Message.Contains("empty"));
        Assert.That(() => Plot.RenderScatter([new ScatterSeries("m", [1, 2], [1], Red)], "t"),
            Throws.ArgumentException.With.Message.Contains("'m'"));
    }

    // ---- Lines -------------------------------------------------------------------------

    [Test]
    public void Lines_LossCurveWithSmoothingAndLogY_WritesPng()
    {
        var rng = new Random(5);
        float[] loss = Enumerable.Range(0, 500).Select(i => 2f * MathF.Exp(-i / 100f) + 0.05f * rng.NextSingle()).ToArray();
        float[] val = Enumerable.Range(0, 500).Select(i => i % 50 == 0 ? 2.2f * MathF.Exp(-i / 110f) : float.NaN).ToArray();
        string path = Path.Combine(dir, "loss.png");
        Plot.Lines(path, [new LineSeries("train", loss, Plot.Palette[0]), new LineSeries("val", val, Plot.Palette[1])],
                   "Loss", "step", "loss", logY: true, smoothWindow: 20);
        var (w, h, _, pixels) = Png.Read(path);
        Assert.That((w, h), Is.EqualTo((800, 500)));

        var train = Plot.Palette[0];
        int trainPixels = 0;
        for (int i = 0; i < pixels.Length; i += 3)
            if ((pixels[i], pixels[i + 1], pixels[i + 2]) == train) trainPixels++;
        Assert.That(trainPixels, Is.GreaterThan(300), "the smoothed curve is drawn in the series colour");
    }

    [Test]
    public void Lines_NonFiniteAndNonPositiveOnLogAxis_AreSkipped()
    {
        float[] y = [1, float.NaN, 0.5f, float.PositiveInfinity, 0, -1, 0.1f, float.NegativeInfinity];
        Assert.DoesNotThrow(() => Plot.RenderLines([new LineSeries("y", y, Red)], "t", "x", "y", logY: true, smoothWindow: 3));
        Assert.DoesNotThrow(() => Plot.RenderLines([new LineSeries("y", y, Red, X: [0, 1, 2, 3, 4, float.NaN, 6, 7])], "t", "x", "y"));
        Assert.DoesNotThrow(() => Plot.RenderLines([new LineSeries("flat", [3, 3, 3], Red)], "", "", ""));
        Assert.DoesNotThrow(() => Plot.RenderLines([new LineSeries("huge", [-3e38f, 3e38f], Red)], "", "", ""));
    }

    [Test]
    public void Lines_EmptyOrMismatchedInput_ThrowsArgumentException()
    {
        Assert.That(() => Plot.RenderLines([], "t", "x", "y"), Throws.ArgumentException);
        Assert.That(() => Plot.RenderLines([new LineSeries("e", [], Red)], "t", "x", "y"),
            Throws.ArgumentException.With.Message.Contains("empty"));
        Assert.That(() => Plot.RenderLines([new LineSeries("m", [1, 2], Red, X: [1])], "t", "x", "y"),
            Throws.ArgumentException.With.Message.Contains("'m'"));
    }

    [Test]
    public void MovingAverage_IsCentredMeanOfFiniteValues()
    {
        float[] smoothed = Plot.MovingAverage([1, 3, 5, float.NaN, 7], window: 3);
        Assert.That(smoothed[0], Is.EqualTo(2), "window shrinks at the start: [1, 3]");
        Assert.That(smoothed[1], Is.EqualTo(3), "[1, 3, 5]");
        Assert.That(smoothed[2], Is.EqualTo(4), "[3, 5, NaN] has two finite values");
        Assert.That(smoothed[3], Is.NaN, "a non-finite point stays a gap");
        Assert.That(smoothed[4], Is.EqualTo(7), "[NaN, 7]");
        Assert.That(Plot.MovingAverage([4, 8], window: 1), Is.EqualTo(new[] { 4f, 8f }));
    }

    [Test]
    public void LinearTicks_AreNiceNumbers()
    {
        Assert.That(Plot.LinearTicks(0, 1, 5).Select(t => t.Label), Is.EqualTo(new[] { "0.0", "0.2", "0.4", "0.6", "0.8", "1.0" }));
        Assert.That(Plot.LinearTicks(-13, 27, 4).Select(t => t.Label), Is.EqualTo(new[] { "-10", "0", "10", "20" }));
        Assert.That(Plot.LinearTicks(0, 3e-5, 3).Select(t => t.Label), Is.EqualTo(new[] { "0", "1e-5", "2e-5", "3e-5" }));
    }
}
