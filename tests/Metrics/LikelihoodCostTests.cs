// Likelihood (nats ↔ bits/dim with 8-bit dequantisation) on hand cases, Dequantize's bins, and
// CostMeter's counts.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Metrics.LikelihoodCost
using Denoise.Metrics;
using NUnit.Framework;

namespace Denoise.Tests.Metrics;

public class LikelihoodCostTests
{
    [Test]
    public void BitsPerDim_UniformDensity_IsEightBits_InEitherScaling()
    {
        // The uniform density on [0,1]^D has nll 0; on [−1,1]^D it is D·ln 2. Both are raw bytes: 8 bits/dim.
        Assert.That(Likelihood.BitsPerDim(0, 784), Is.EqualTo(8).Within(1e-12));
        Assert.That(Likelihood.BitsPerDim(784 * Math.Log(2), 784, dataRange: 2), Is.EqualTo(8).Within(1e-12));
    }

    [Test]
    public void BitsPerDim_HandCase_AndRoundTrip()
    {
        // nll = −1000 nats on [0,1]^784 (a density peaked above 1): bpd = (−1000 + 784·ln 256)/(784·ln 2) = 8 − 1000/(784·ln 2).
        double bpd = Likelihood.BitsPerDim(-1000, 784);
        Assert.That(bpd, Is.EqualTo(8 - 1000 / (784 * 0.6931471805599453)).Within(1e-12));
        Assert.That(bpd, Is.EqualTo(6.159828).Within(1e-6));
        Assert.That(Likelihood.NatsFromBitsPerDim(bpd, 784), Is.EqualTo(-1000).Within(1e-9));
        Assert.That(Likelihood.NatsFromBitsPerDim(Likelihood.BitsPerDim(-321, 12, 2), 12, 2), Is.EqualTo(-321).Within(1e-9));
        Assert.That(Likelihood.BitsPerDimDiscrete(784 * Math.Log(2), 784), Is.EqualTo(1).Within(1e-12));
        Assert.Throws<ArgumentException>(() => Likelihood.BitsPerDim(1, 0));
    }

    [Test]
    public void Dequantize_StaysInTheByteBin_WithUniformOffsets()
    {
        var bytes = Enumerable.Range(0, 4096).Select(i => (float)(i % 256)).ToArray();
        var x = Tensor.FromArray(bytes.Select(b => b / 255f).ToArray(), 4096);
        var y = Likelihood.Dequantize(x, new Generator(3)).ToArray();
        for (int i = 0; i < y.Length; i++)
        {
            Assert.That(y[i], Is.GreaterThanOrEqualTo(bytes[i] / 256f).And.LessThan((bytes[i] + 1) / 256f), $"element {i}");
        }
        double meanOffset = y.Select((v, i) => v * 256.0 - bytes[i]).Average();
        Assert.That(meanOffset, Is.EqualTo(0.5).Within(0.03));   // U[0,1): sd 0.29/√4096 = 0.0045
    }

    [Test]
    public void CostMeter_CountsSamplesEvaluationsAndPoolGrowth()
    {
        using var meter = CostMeter.Start("sampling", parameters: 1234);
        using (var scope = TensorScope.Begin())
        {
            var t = Tensor.Empty([123_457]);   // a size nothing else uses: a pool miss
            t.Fill(1f);
        }
        meter.AddSamples(10, evaluationsEach: 5);
        meter.AddEvaluations(30);              // e.g. 3 more network calls over batches of 10
        var cost = meter.Stop();
        Assert.That((cost.Phase, cost.Samples, cost.NetworkEvaluations, cost.EvaluationsPerSample, cost.Parameters),
                    Is.EqualTo(("sampling", 10L, 80L, 8.0, 1234L)));
        Assert.That(cost.Seconds, Is.GreaterThan(0));
        Assert.That(cost.SecondsPerSample, Is.EqualTo(cost.Seconds / 10).Within(1e-15));
        Assert.That(cost.PoolAllocatedBytes, Is.GreaterThanOrEqualTo(123_457L * 4));
        Assert.That(cost.PeakManagedBytes, Is.GreaterThan(0));
        Assert.That(cost.ProcessPeakWorkingSetBytes, Is.GreaterThanOrEqualTo(cost.PeakManagedBytes / 2));
        Assert.That(meter.Stop(), Is.SameAs(cost), "Stop is idempotent");
        Assert.That(cost.ToString(), Does.Contain("sampling").And.Contain("8 NFE/sample"));
    }
}
