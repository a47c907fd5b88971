// The shared UNet (models/Common/UNet.cs): WORKLOADS M1's exact parameter count and shapes, the
// class-conditional variant, the sinusoidal time embedding, and that every parameter is trained.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~DiffusionUNet"
using Denoise;
using Denoise.Models.Common;
using NUnit.Framework;

namespace Denoise.Tests.Models;

public class DiffusionUNetTests
{
    /// <summary>A UNet small enough to train in a test: 8×8 images, two levels of 8 and 16 channels, attention at 4×4.</summary>
    internal static UNetConfig Tiny(int numClasses = 0, int size = 8) =>
        new(ImageSize: size, BaseChannels: 8, ChannelMults: [1, 2], AttentionResolutions: [size / 2], Heads: 2, Groups: 4,
            TimeEmbedDim: 16, NumClasses: numClasses);

    [Test]
    public void UNet_M1_HasWorkloadsParameterCount_AndKeepsShape()
    {
        var net = new UNet(UNetConfig.M1(), new Generator(1));
        Assert.That(net.ParameterCount(), Is.EqualTo(2_152_289), "WORKLOADS M1 parameter count (PyTorch's count)");
        using var scope = TensorScope.Begin();
        using var _ = Autograd.NoGrad();
        var y = net.Forward(Tensor.Randn([2, 1, 28, 28], new Generator(2)), Tensor.FromArray([3f, 700f], 2), null);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 2, 1, 28, 28 }));
        Assert.That(y.ToArray().All(float.IsFinite));
    }

    [Test]
    public void UNet_ClassConditional_AddsLabelTable_AndNullLabelIsTheDefault()
    {
        var net = new UNet(UNetConfig.M1(numClasses: 10), new Generator(1));
        Assert.That(net.ParameterCount(), Is.EqualTo(2_152_289 + 11 * 256), "M1 plus an 11×256 label embedding (10 classes + null)");
        using var scope = TensorScope.Begin();
        using var _ = Autograd.NoGrad();
        var x = Tensor.Randn([2, 1, 28, 28], new Generator(2));
        var t = Tensor.FromArray([50f, 999f], 2);
        var cond = net.Forward(x, t, Tensor.FromArray([4, 9], 2));
        Assert.That(cond.Shape.ToArray(), Is.EqualTo(new[] { 2, 1, 28, 28 }));
        var withNull = net.Forward(x, t, Tensor.FromArray([10, 10], 2)).ToArray();
        var noLabels = net.Forward(x, t, null).ToArray();
        Assert.That(noLabels, Is.EqualTo(withNull), "no labels = the null label");
        Assert.That(cond.ToArray(), Is.Not.EqualTo(withNull), "the label changes the output");
    }

    [Test]
    public void UNet_BadInputs_ThrowWithShapes()
    {
        var net = new UNet(Tiny(), new Generator(1));
        var ex = Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Zeros(2, 3, 8, 8), Tensor.Zeros(2), null));
        Assert.That(ex!.Message, Does.Contain("(2, 3, 8, 8)").Or.Contain("[2, 3, 8, 8]").Or.Contain("2×3×8×8").Or.Contain("2, 3, 8, 8"));
        Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Zeros(2, 1, 8, 8), Tensor.Zeros(3), null));
        Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Zeros(2, 1, 8, 8), Tensor.Zeros(2), Tensor.FromArray([0, 1], 2)));
    }

    [Test]
    public void UNet_Tiny_EveryParameterGetsAGradient()
    {
        var net = new UNet(Tiny(numClasses: 3), new Generator(3));
        using var scope = TensorScope.Begin();
        var y = net.Forward(Tensor.Randn([2, 1, 8, 8], new Generator(4)), Tensor.FromArray([5f, 500f], 2), Tensor.FromArray([0, 2], 2));
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 2, 1, 8, 8 }));
        net.ZeroGrad();
        y.Square().Sum().Backward();
        foreach (var (name, p) in net.NamedParameters())
        {
            if (name.StartsWith("label_embedding")) continue;    // only the rows of labels 0 and 2 move
            Assert.That(p.Grad, Is.Not.Null, name);
            Assert.That(p.Grad!.ToArray().Any(g => g != 0f), name + " has an all-zero gradient");
        }
    }

    [Test]
    public void UNet_OddSizes_SkipsLineUp()
    {
        // 12 → 6 → 3 and back: upsampling goes to the skip's size.
        var net = new UNet(new UNetConfig(ImageSize: 12, BaseChannels: 8, ChannelMults: [1, 1, 2], Heads: 2, Groups: 4, TimeEmbedDim: 16), new Generator(5));
        using var scope = TensorScope.Begin();
        using var _ = Autograd.NoGrad();
        Assert.That(net.Forward(Tensor.Zeros(1, 1, 12, 12), Tensor.Zeros(1), null).Shape.ToArray(), Is.EqualTo(new[] { 1, 1, 12, 12 }));
    }

    [Test]
    public void SinusoidalEmbedding_MatchesFormula()
    {
        var t = Tensor.FromArray([0f, 1f, 37f], 3);
        var e = UNet.SinusoidalEmbedding(t, 128).ToArray();
        float[] ts = [0f, 1f, 37f];
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 64; i++)
            {
                double angle = ts[b] * Math.Exp(-Math.Log(10000.0) * i / 64);
                Assert.That(e[b * 128 + i], Is.EqualTo(Math.Sin(angle)).Within(2e-5), $"sin t={ts[b]} i={i}");
                Assert.That(e[b * 128 + 64 + i], Is.EqualTo(Math.Cos(angle)).Within(2e-5), $"cos t={ts[b]} i={i}");
            }
    }
}
