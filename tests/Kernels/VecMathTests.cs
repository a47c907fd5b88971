// VecMathTests.cs — the inlined vector eˣ (kernels/Ops/VecMath.cs) against double-precision exp:
// within 2 ulp over the whole float range where eˣ is normal, +∞ above ln(FLT_MAX), gradual underflow to
// 0 below, NaN kept; the Vector256 and Vector512 forms give the same bits.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.VecMath
using System.Runtime.Intrinsics;
using Denoise.Kernels.Ops;
using NUnit.Framework;

namespace Denoise.Tests.Kernels;

public class VecMathTests
{
    [Test]
    public void Exp_WithinTwoUlp_OfDoubleExp_AndBothWidthsAgree()
    {
        var rng = new Random(11);
        var buf = new float[16];
        double worst = 0;
        for (int it = 0; it < 20000; it++)
        {
            for (int j = 0; j < 16; j++) buf[j] = (float)(rng.NextDouble() * 200 - 105);
            var v512 = VecMath.Exp(Vector512.Create(buf));
            var v256 = VecMath.Exp(Vector256.Create(buf, 0));
            for (int j = 0; j < 16; j++)
            {
                if (j < 8) Assert.That(v256[j], Is.EqualTo(v512[j]), $"x = {buf[j]}");
                double exact = Math.Exp(buf[j]);
                float got = v512[j];
                if (exact > float.MaxValue) { Assert.That(float.IsPositiveInfinity(got), $"x = {buf[j]}"); continue; }
                if (exact < 1.17549435e-38) { Assert.That(Math.Abs(got - exact), Is.LessThanOrEqualTo(1.5e-45), $"x = {buf[j]}"); continue; }
                double ulp = MathF.BitIncrement((float)exact) - (float)exact;
                worst = Math.Max(worst, Math.Abs(got - exact) / ulp);
            }
        }
        Assert.That(worst, Is.LessThan(2.0), "max error in ulp");
    }

    [Test]
    public void Exp_SpecialValues()
    {
        float[] x = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, 88.72f, 89f, -104f, -1000f, 1f, -1f];
        var y = VecMath.Exp(Vector256.Create(x, 0));
        var y2 = VecMath.Exp(Vector256.Create(x, 2));
        Assert.That(float.IsNaN(y[0]));
        Assert.That(y[1], Is.EqualTo(float.PositiveInfinity));
        Assert.That(y[2], Is.EqualTo(0f));
        Assert.That(y[3], Is.EqualTo(1f));
        Assert.That(y[4], Is.EqualTo(MathF.Exp(88.72f)).Within(2).Ulps);
        Assert.That(y[5], Is.EqualTo(float.PositiveInfinity));
        Assert.That(y[6], Is.LessThanOrEqualTo(1.5e-45f));   // e^−104 ≈ 6.8e−46: half the smallest denormal
        Assert.That(y[7], Is.EqualTo(0f));
        Assert.That(y2[6], Is.EqualTo(MathF.E).Within(1).Ulps);
        Assert.That(y2[7], Is.EqualTo(1 / MathF.E).Within(1).Ulps);
    }
}
