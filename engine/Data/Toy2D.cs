// 2-D toy distributions for flows, flow matching, diffusion and EBMs. Each returns an (n, 2)
// Float32 tensor drawn from a Generator, so a seed fixes the data set.
//   TwoMoons     two interleaved half circles (as scikit-learn's make_moons), centred and scaled
//   EightGaussians  a ring of 8 small Gaussians of radius 2
//   Checkerboard  uniform on the dark squares of a 4×4 board over [−2, 2]²
//   SwissRoll    a 2-D spiral (scikit-learn's make_swiss_roll, x and z columns, ÷5, as in FFJORD)
//   Circles      two concentric rings of radius 3 and 1.5 (make_circles(factor 0.5, noise 0.08) · 3, FFJORD)
//   Pinwheel     five curved arms (Johnson et al., 2016, "Composing graphical models with neural
//                networks", as in FFJORD's toy_data.py)
// FFJORD: Grathwohl et al., 2019, github.com/rtqichen/ffjord lib/toy_data.py — the common reference
// for these sets, so results compare with the papers'.
namespace Denoise.Data;

public static class Toy2D
{
    /// <summary>
    /// Two moons: upper (cos θ, sin θ) and lower (1 − cos θ, 0.5 − sin θ), θ ~ U(0, π), plus
    /// Gaussian noise of std <paramref name="noise"/>; then shifted by (−0.5, −0.25) and scaled by 1.5
    /// so both coordinates have roughly unit spread, which suits a N(0, I) source.
    /// </summary>
    public static Tensor TwoMoons(int n, Generator? gen = null, float noise = 0.05f)
    {
        var g = gen ?? Generator.Default;
        var u = new float[n]; var which = new float[n]; var eps = new float[2 * n];
        g.FillUniform(u); g.FillUniform(which); g.FillNormal(eps);
        var xy = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float theta = MathF.PI * u[i];
            float x, y;
            if (which[i] < 0.5f) { x = MathF.Cos(theta); y = MathF.Sin(theta); }
            else { x = 1f - MathF.Cos(theta); y = 0.5f - MathF.Sin(theta); }
            xy[2 * i] = 1.5f * (x - 0.5f + noise * eps[2 * i]);
            xy[2 * i + 1] = 1.5f * (y - 0.25f + noise * eps[2 * i + 1]);
        }
        return Tensor.FromArray(xy, n, 2);
    }

    /// <summary>Eight Gaussians (std 0.1) centred on the circle of radius 2 at angles kπ/4.</summary>
    public static Tensor EightGaussians(int n, Generator? gen = null, float std = 0.1f)
    {
        var g = gen ?? Generator.Default;
        var k = new int[n]; var eps = new float[2 * n];
        g.FillInt(k, 0, 8); g.FillNormal(eps);
        var xy = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float a = MathF.PI / 4 * k[i];
            xy[2 * i] = 2f * MathF.Cos(a) + std * eps[2 * i];
            xy[2 * i + 1] = 2f * MathF.Sin(a) + std * eps[2 * i + 1];
        }
        return Tensor.FromArray(xy, n, 2);
    }

    /// <summary>Uniform on the squares (i + j even) of a 4×4 checkerboard covering [−2, 2]².</summary>
    public static Tensor Checkerboard(int n, Generator? gen = null)
    {
        var g = gen ?? Generator.Default;
        var u = new float[2 * n]; var cell = new int[2 * n];
        g.FillUniform(u); g.FillInt(cell, 0, 4);
        var xy = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            int cx = cell[2 * i], cy = cell[2 * i + 1];
            if ((cx + cy) % 2 == 1) cy = (cy + 1) % 4; // move to the dark square in the same column
            xy[2 * i] = -2f + cx + u[2 * i];
            xy[2 * i + 1] = -2f + cy + u[2 * i + 1];
        }
        return Tensor.FromArray(xy, n, 2);
    }

    /// <summary>
    /// Swiss roll: t = 1.5π(1 + 2u), u ~ U(0, 1); (t cos t, t sin t) + N(0, noise²·I), all ÷ 5.
    /// Radius t/5 runs from 0.94 to 2.83 over 1.5 turns.
    /// </summary>
    public static Tensor SwissRoll(int n, Generator? gen = null, float noise = 1f)
    {
        var g = gen ?? Generator.Default;
        var u = new float[n]; var eps = new float[2 * n];
        g.FillUniform(u); g.FillNormal(eps);
        var xy = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float t = 1.5f * MathF.PI * (1f + 2f * u[i]);
            xy[2 * i] = (t * MathF.Cos(t) + noise * eps[2 * i]) / 5f;
            xy[2 * i + 1] = (t * MathF.Sin(t) + noise * eps[2 * i + 1]) / 5f;
        }
        return Tensor.FromArray(xy, n, 2);
    }

    /// <summary>
    /// Two concentric circles, each point on either with probability ½: radius 3 (outer) or 1.5
    /// (inner), angle ~ U(0, 2π), plus Gaussian noise of std 3·<paramref name="noise"/>.
    /// </summary>
    public static Tensor Circles(int n, Generator? gen = null, float noise = 0.08f)
    {
        var g = gen ?? Generator.Default;
        var u = new float[n]; var which = new float[n]; var eps = new float[2 * n];
        g.FillUniform(u); g.FillUniform(which); g.FillNormal(eps);
        var xy = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float r = which[i] < 0.5f ? 1f : 0.5f;
            float a = 2f * MathF.PI * u[i];
            xy[2 * i] = 3f * (r * MathF.Cos(a) + noise * eps[2 * i]);
            xy[2 * i + 1] = 3f * (r * MathF.Sin(a) + noise * eps[2 * i + 1]);
        }
        return Tensor.FromArray(xy, n, 2);
    }

    /// <summary>
    /// Pinwheel with five arms: f = (1 + 0.3·ε₁, 0.1·ε₂), arm k ~ U{0..4}, angle a = 2πk/5 + 0.25·e^{f₁};
    /// x = 2·(f₁ cos a + f₂ sin a, −f₁ sin a + f₂ cos a), i.e. f rotated by −a (FFJORD's einsum).
    /// The exponential makes points further out turn further: the arms curve.
    /// </summary>
    public static Tensor Pinwheel(int n, Generator? gen = null, int arms = 5)
    {
        const float radialStd = 0.3f, tangentialStd = 0.1f, rate = 0.25f;
        var g = gen ?? Generator.Default;
        var arm = new int[n]; var eps = new float[2 * n];
        g.FillInt(arm, 0, arms); g.FillNormal(eps);
        var xy = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            float f1 = 1f + radialStd * eps[2 * i], f2 = tangentialStd * eps[2 * i + 1];
            float a = 2f * MathF.PI * arm[i] / arms + rate * MathF.Exp(f1);
            float c = MathF.Cos(a), s = MathF.Sin(a);
            xy[2 * i] = 2f * (f1 * c + f2 * s);
            xy[2 * i + 1] = 2f * (-f1 * s + f2 * c);
        }
        return Tensor.FromArray(xy, n, 2);
    }

    /// <summary>Every name ByName accepts (first spelling of each set).</summary>
    public static IReadOnlyList<string> Names { get; } = ["moons", "8gaussians", "checkerboard", "swissroll", "circles", "pinwheel"];

    public static Tensor ByName(string name, int n, Generator? gen = null) => name.ToLowerInvariant() switch
    {
        "moons" or "two-moons" or "twomoons" => TwoMoons(n, gen),
        "8gaussians" or "eight-gaussians" => EightGaussians(n, gen),
        "checkerboard" => Checkerboard(n, gen),
        "swissroll" or "swiss-roll" => SwissRoll(n, gen),
        "circles" => Circles(n, gen),
        "pinwheel" => Pinwheel(n, gen),
        _ => throw new ArgumentException($"Unknown 2-D data set '{name}'. Available: {string.Join(", ", Names)}."),
    };
}
