// Plot — two chart types drawn on Canvas and saved as PNG: scatter plots (e.g. samples of a 2-D
// toy distribution against the data) and line plots (loss curves, optional log y and smoothing).
//
// Layout: title on top, plot area framed with a light grid at the ticks, numeric tick labels,
// axis labels, a legend in the top-right corner. Ticks use Heckbert's "nice numbers" (Graphics
// Gems, 1990): steps of 1, 2 or 5 × 10^k. Bounds are shared by all series, padded by a margin.
// Non-finite values (and non-positive ones on a log axis) are skipped; a line breaks around them.
// Smoothing is a centred moving average, drawn over a faded copy of the raw curve.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.Plot

using System.Globalization;
using Rgb = (byte R, byte G, byte B);

namespace Denoise.IO;

public sealed record ScatterSeries(string Label, float[] X, float[] Y, (byte R, byte G, byte B) Color);

/// <summary>A curve; X defaults to the index 0, 1, 2, … (e.g. the training step).</summary>
public sealed record LineSeries(string Label, float[] Y, (byte R, byte G, byte B) Color, float[]? X = null);

public static class Plot
{
    /// <summary>Ten distinguishable colours (matplotlib's "tab10").</summary>
    public static readonly IReadOnlyList<(byte R, byte G, byte B)> Palette =
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    ];

    static readonly Rgb White = (255, 255, 255), Black = (0, 0, 0), Grid = (230, 230, 230), TextGray = (60, 60, 60);

    // ============================== Scatter ==================================================

    public static void Scatter(string path, IReadOnlyList<ScatterSeries> series, string title,
                               int width = 600, int height = 600) =>
        RenderScatter(series, title, width, height).Save(path);

    /// <param name="xLimits">Fixed x bounds (e.g. the same for every frame of an animation); null: fit the data.</param>
    public static Canvas RenderScatter(IReadOnlyList<ScatterSeries> series, string title, int width = 600, int height = 600,
                                       (float Min, float Max)? xLimits = null, (float Min, float Max)? yLimits = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Count == 0) throw new ArgumentException("scatter plot needs at least one series", nameof(series));
        foreach (var s in series)
        {
            ArgumentNullException.ThrowIfNull(s.X, $"series '{s.Label}'.X");
            ArgumentNullException.ThrowIfNull(s.Y, $"series '{s.Label}'.Y");
            if (s.X.Length != s.Y.Length)
                throw new ArgumentException($"series '{s.Label}' has {s.X.Length} x values but {s.Y.Length} y values", nameof(series));
        }
        if (series.All(s => s.X.Length == 0))
            throw new ArgumentException("every scatter series is empty: nothing to plot", nameof(series));

        var xs = xLimits is { } xl ? Range.Of([xl.Min, xl.Max], log: false) : Range.Of(series.SelectMany(s => s.X), log: false).Padded();
        var ys = yLimits is { } yl ? Range.Of([yl.Min, yl.Max], log: false) : Range.Of(series.SelectMany(s => s.Y), log: false).Padded();
        var canvas = new Canvas(width, height, White);
        var axes = DrawAxes(canvas, xs, ys, title, xLabel: "", yLabel: "");

        // Small translucent dots: dense regions read darker, as in a 2-D histogram.
        float radius = Math.Max(1.5f, Math.Min(width, height) / 250f);
        canvas.SetClip(axes.Left, axes.Top, axes.Right - axes.Left, axes.Bottom - axes.Top);
        foreach (var s in series)
            for (int i = 0; i < s.X.Length; i++)
                if (float.IsFinite(s.X[i]) && float.IsFinite(s.Y[i]))
                    canvas.FillCircle(axes.PixelX(s.X[i]), axes.PixelY(s.Y[i]), radius, s.Color, alpha: 0.6f);
        canvas.ResetClip();

        DrawLegend(canvas, axes, series.Select(s => (s.Label, (Rgb)s.Color)).ToList());
        return canvas;
    }

    // ============================== Lines ====================================================

    public static void Lines(string path, IReadOnlyList<LineSeries> series, string title, string xLabel, string yLabel,
                             bool logY = false, int smoothWindow = 0, int width = 800, int height = 500) =>
        RenderLines(series, title, xLabel, yLabel, logY, smoothWindow, width, height).Save(path);

    public static Canvas RenderLines(IReadOnlyList<LineSeries> series, string title, string xLabel, string yLabel,
                                     bool logY = false, int smoothWindow = 0, int width = 800, int height = 500)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentOutOfRangeException.ThrowIfNegative(smoothWindow);
        if (series.Count == 0) throw new ArgumentException("line plot needs at least one series", nameof(series));
        foreach (var s in series)
        {
            ArgumentNullException.ThrowIfNull(s.Y, $"series '{s.Label}'.Y");
            if (s.X is not null && s.X.Length != s.Y.Length)
                throw new ArgumentException($"series '{s.Label}' has {s.X.Length} x values but {s.Y.Length} y values", nameof(series));
        }
        if (series.All(s => s.Y.Length == 0))
            throw new ArgumentException("every line series is empty: nothing to plot", nameof(series));

        float[] XOf(LineSeries s) => s.X ?? Enumerable.Range(0, s.Y.Length).Select(i => (float)i).ToArray();
        var xs = Range.Of(series.SelectMany(XOf), log: false);
        var ys = Range.Of(series.SelectMany(s => s.Y), logY).Padded();
        var canvas = new Canvas(width, height, White);
        var axes = DrawAxes(canvas, xs, ys, title, xLabel, yLabel);

        canvas.SetClip(axes.Left, axes.Top, axes.Right - axes.Left, axes.Bottom - axes.Top);
        foreach (var s in series)
        {
            float[] x = XOf(s);
            if (smoothWindow > 1)
            {
                DrawPolyline(canvas, axes, x, s.Y, s.Color, alpha: 0.3f);   // raw, faded
                DrawPolyline(canvas, axes, x, MovingAverage(s.Y, smoothWindow), s.Color, alpha: 1f);
            }
            else
            {
                DrawPolyline(canvas, axes, x, s.Y, s.Color, alpha: 1f);
            }
        }
        canvas.ResetClip();

        DrawLegend(canvas, axes, series.Select(s => (s.Label, (Rgb)s.Color)).ToList());
        return canvas;
    }

    /// <summary>Connects consecutive drawable points; a skipped point breaks the line.</summary>
    static void DrawPolyline(Canvas canvas, Axes axes, float[] x, float[] y, Rgb color, float alpha)
    {
        (int X, int Y)? previous = null;
        for (int i = 0; i < y.Length; i++)
        {
            if (!axes.CanPlot(x[i], y[i])) { previous = null; continue; }
            var point = ((int)MathF.Round(axes.PixelX(x[i])), (int)MathF.Round(axes.PixelY(y[i])));
            if (previous is { } p) canvas.DrawLine(p.X, p.Y, point.Item1, point.Item2, color, alpha);
            else canvas.Blend(point.Item1, point.Item2, color, alpha);
            previous = point;
        }
    }

    /// <summary>
    /// Centred moving average: the mean of the finite values in a window of <paramref name="window"/>
    /// points around each point (shrinking at the ends); NaN where y itself is not finite. Centred,
    /// unlike an EMA or trailing mean, so the smooth curve does not lag behind the raw one.
    /// </summary>
    public static float[] MovingAverage(float[] y, int window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        // Prefix sums of the finite values and of their count make each window O(1).
        var sum = new double[y.Length + 1];
        var count = new int[y.Length + 1];
        for (int i = 0; i < y.Length; i++)
        {
            bool finite = float.IsFinite(y[i]);
            sum[i + 1] = sum[i] + (finite ? y[i] : 0);
            count[i + 1] = count[i] + (finite ? 1 : 0);
        }
        var smoothed = new float[y.Length];
        for (int i = 0; i < y.Length; i++)
        {
            int from = Math.Max(0, i - window / 2), to = Math.Min(y.Length, i - window / 2 + window);   // [from, to)
            int n = count[to] - count[from];
            smoothed[i] = float.IsFinite(y[i]) && n > 0 ? (float)((sum[to] - sum[from]) / n) : float.NaN;
        }
        return smoothed;
    }

    // ============================== Axes =====================================================

    /// <summary>Data bounds on one axis; for a log axis Min/Max are log10 of the data.</summary>
    readonly record struct Range(double Min, double Max, bool Log)
    {
        public static Range Of(IEnumerable<float> values, bool log)
        {
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            foreach (float v in values)
            {
                if (!float.IsFinite(v) || (log && v <= 0)) continue;
                double t = log ? Math.Log10(v) : v;
                min = Math.Min(min, t);
                max = Math.Max(max, t);
            }
            if (min > max) return new Range(0, 1, log);                      // nothing drawable: empty axes
            if (min == max)
            {
                double half = min == 0 ? 0.5 : Math.Abs(min) * 0.1;           // a constant: centre it
                return new Range(min - half, max + half, log);
            }
            return new Range(min, max, log);
        }

        /// <summary>5% each side so points do not sit on the frame.</summary>
        public Range Padded() => new(Min - 0.05 * (Max - Min), Max + 0.05 * (Max - Min), Log);
    }

    /// <summary>The plot area in pixels and the mapping from data to it.</summary>
    sealed record Axes(int Left, int Top, int Right, int Bottom, Range X, Range Y)
    {
        public float PixelX(double x) => AxisToPixelX(x);
        public float PixelY(double y) => AxisToPixelY(Y.Log ? Math.Log10(y) : y);

        // "Axis" values are what Range holds: the data, or its log10 on a log axis.
        public float AxisToPixelX(double t) => Map(t, X, Left, Right);
        public float AxisToPixelY(double t) => Map(t, Y, Bottom, Top);   // y grows upward

        public bool CanPlot(float x, float y) => float.IsFinite(x) && float.IsFinite(y) && (!Y.Log || y > 0);

        static float Map(double t, Range r, int from, int to) =>
            (float)Math.Clamp(from + (t - r.Min) / (r.Max - r.Min) * (to - from), -1e6, 1e6);
    }

    static Axes DrawAxes(Canvas canvas, Range xs, Range ys, string title, string xLabel, string yLabel)
    {
        var xTicks = Ticks(xs, target: Math.Max(2, canvas.Width / 90));
        var yTicks = Ticks(ys, target: Math.Max(2, canvas.Height / 60));
        int yTickWidth = yTicks.Max(t => Canvas.TextWidth(t.Label));

        // Margins sized to what sits in them.
        int left = 8 + (yLabel.Length > 0 ? Canvas.GlyphHeight + 8 : 0) + yTickWidth + 6;
        int top = title.Length > 0 ? 2 * Canvas.GlyphHeight + 16 : 12;
        int right = canvas.Width - 20;
        int bottom = canvas.Height - (6 + Canvas.GlyphHeight + 8 + (xLabel.Length > 0 ? Canvas.GlyphHeight + 8 : 0));
        if (right - left < 20 || bottom - top < 20)
            throw new ArgumentException($"a {canvas.Width}x{canvas.Height} image is too small for the plot's labels");
        var axes = new Axes(left, top, right, bottom, xs, ys);

        foreach (var (value, label) in xTicks)
        {
            int px = (int)MathF.Round(axes.AxisToPixelX(value));
            canvas.FillRect(px, top, 1, bottom - top, Grid);
            canvas.FillRect(px, bottom, 1, 4, Black);
            canvas.DrawText(px - Canvas.TextWidth(label) / 2, bottom + 6, label, TextGray);
        }
        foreach (var (value, label) in yTicks)
        {
            int py = (int)MathF.Round(axes.AxisToPixelY(value));
            canvas.FillRect(left, py, right - left, 1, Grid);
            canvas.FillRect(left - 4, py, 4, 1, Black);
            canvas.DrawText(left - 6 - Canvas.TextWidth(label), py - Canvas.GlyphHeight / 2, label, TextGray);
        }
        canvas.DrawRect(left, top, right - left + 1, bottom - top + 1, Black);

        if (title.Length > 0)
            canvas.DrawText((canvas.Width - Canvas.TextWidth(title, 2)) / 2, 8, title, Black, scale: 2);
        if (xLabel.Length > 0)
            canvas.DrawText((left + right - Canvas.TextWidth(xLabel)) / 2, canvas.Height - Canvas.GlyphHeight - 6, xLabel, Black);
        if (yLabel.Length > 0)
            canvas.DrawTextVertical(8, (top + bottom + Canvas.TextWidth(yLabel)) / 2, yLabel, Black);
        return axes;
    }

    static void DrawLegend(Canvas canvas, Axes axes, List<(string Label, Rgb Color)> items)
    {
        items = items.Where(i => !string.IsNullOrEmpty(i.Label)).ToList();
        if (items.Count == 0) return;
        const int RowHeight = 14, Swatch = 10, Pad = 6;
        int width = Pad + Swatch + 6 + items.Max(i => Canvas.TextWidth(i.Label)) + Pad;
        int height = Pad + items.Count * RowHeight - (RowHeight - Canvas.GlyphHeight - 3) + Pad - 3;
        int x = axes.Right - width - 6, y = axes.Top + 6;
        canvas.FillRect(x, y, width, height, White, alpha: 0.85f);
        canvas.DrawRect(x, y, width, height, (160, 160, 160));
        for (int k = 0; k < items.Count; k++)
        {
            int rowY = y + Pad + k * RowHeight;
            canvas.FillRect(x + Pad, rowY - 1, Swatch, Swatch, items[k].Color);
            canvas.DrawText(x + Pad + Swatch + 6, rowY, items[k].Label, Black);
        }
    }

    // ============================== Ticks ====================================================

    /// <summary>Tick positions (in the axis's own space: log10 for log axes) with their labels.</summary>
    static List<(double Value, string Label)> Ticks(Range r, int target)
    {
        if (!r.Log) return LinearTicks(r.Min, r.Max, target);

        // Log axis: whole decades when there are enough of them (thinned if many); over a narrower
        // span, 1-2-5 steps; and failing that (less than a factor 2.5), linear ticks of the values.
        int first = (int)Math.Ceiling(r.Min - 1e-9), last = (int)Math.Floor(r.Max + 1e-9);
        if (last - first >= 3)
        {
            int every = Math.Max(1, (last - first + target - 1) / target);
            return Enumerable.Range(0, (last - first) / every + 1)
                .Select(k => first + k * every)
                .Select(e => ((double)e, FormatLogTick(Math.Pow(10, e)))).ToList();
        }
        var oneTwoFive = new List<(double, string)>();
        for (int e = first - 1; e <= last; e++)
            foreach (int m in new[] { 1, 2, 5 })
            {
                double t = Math.Log10(m) + e;
                if (t >= r.Min && t <= r.Max) oneTwoFive.Add((t, FormatLogTick(m * Math.Pow(10, e))));
            }
        if (oneTwoFive.Count >= 2) return oneTwoFive;
        return LinearTicks(Math.Pow(10, r.Min), Math.Pow(10, r.Max), target)
            .Select(t => (Math.Log10(t.Value), t.Label)).Where(t => double.IsFinite(t.Item1)).ToList();
    }

    internal static List<(double Value, string Label)> LinearTicks(double min, double max, int target)
    {
        double step = NiceStep((max - min) / target);
        double start = Math.Ceiling(min / step) * step;
        int count = Math.Min(100, (int)Math.Floor((max - start) / step + 1e-9) + 1);
        var ticks = new List<(double, string)>();
        for (int k = 0; k < count; k++)
        {
            double v = start + k * step;
            if (Math.Abs(v) < step * 1e-9) v = 0;   // avoid "-0" and 1e-17 from rounding
            ticks.Add((v, FormatTick(v, step)));
        }
        return ticks;
    }

    /// <summary>The nice number (1, 2, 5 × 10^k) nearest above <paramref name="rough"/>.</summary>
    static double NiceStep(double rough)
    {
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double fraction = rough / magnitude;
        double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
        return nice * magnitude;
    }

    static string FormatTick(double value, double step)
    {
        var inv = CultureInfo.InvariantCulture;
        if (Math.Abs(value) >= 1e5 || step < 1e-3) return value == 0 ? "0" : value.ToString("0.##e0", inv);
        int decimals = Math.Clamp((int)Math.Ceiling(-Math.Log10(step) - 1e-9), 0, 6);
        return value.ToString("F" + decimals, inv);
    }

    static string FormatLogTick(double value) =>
        value is >= 1e-3 and < 1e5
            ? value.ToString("0.###", CultureInfo.InvariantCulture)
            : value.ToString("0.#e0", CultureInfo.InvariantCulture);
}
