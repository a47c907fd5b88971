// 2-D toy distributions for flows, flow matching, diffusion and EBMs. Each returns an (n, 2)
// Float32 tensor drawn from a Generator, so a seed fixes the data set.
//   TwoMoons     two interleaved half circles (as scikit-learn's make_moons), centred and scaled
//   EightGaussians  a ring of 8 small Gaussians of radius 2
//   Checkerboard  uniform on the dark squares of a 4×4 board over [−2, 2]²
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

    public static Tensor ByName(string name, int n, Generator? gen = null) => name.ToLowerInvariant() switch
    {
        "moons" or "two-moons" or "twomoons" => TwoMoons(n, gen),
        "8gaussians" or "eight-gaussians" => EightGaussians(n, gen),
        "checkerboard" => Checkerboard(n, gen),
        _ => throw new ArgumentException($"Unknown 2-D data set '{name}'. Available: moons, 8gaussians, checkerboard."),
    };
}
