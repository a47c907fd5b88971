using Denoise.Models.Common;
using Denoise.NN;
using NUnit.Framework;
namespace Denoise.Tests.Gpu;
[TestFixture, NonParallelizable, Explicit]
public class ScratchFallbackReport
{
    [Test]
    public void UNetStep()
    {
        var dev = Device.IlgpuCpu;
        var net = new UNet(new UNetConfig(ImageSize: 8, BaseChannels: 8, Groups: 2, TimeEmbedDim: 16, NumClasses: 3, Heads: 2), new Generator(1));
        net.To(dev);
        var opt = new Denoise.Optim.AdamW(net.Parameters(), 1e-3f);
        var x = Tensor.Randn([2, 1, 8, 8], new Generator(2), dev);
        var t = Tensor.Rand([2], new Generator(3), dev);
        var labels = Tensor.FromArray([0, 2], 2).To(dev);
        DeviceFallbacks.Reset();
        using (TensorScope.Begin())
        {
            var loss = F.MseLoss(net.Forward(x, t, labels), x);
            opt.ZeroGrad(); loss.Backward(); opt.Step();
            TestContext.Out.WriteLine("loss " + loss.Item());
        }
        TestContext.Out.Write(DeviceFallbacks.Report());
    }

    [Test]
    public void GptStep()
    {
        var dev = Device.IlgpuCpu;
        int B = 2, T = 5, C = 8, V = 11;
        var gen = new Generator(5);
        Tensor P(params int[] s) => (Tensor.Randn(s, gen) * 0.3f).To(dev).RequiresGrad_();
        var emb = P(V, C); var ln = P(C); var wq = P(3 * C, C); var wo = P(V, C);
        var ids = Tensor.FromArray(Enumerable.Range(0, B * T).Select(i => i % V).ToArray(), B, T).To(dev);
        var targets = Tensor.FromArray(Enumerable.Range(0, B * T).Select(i => (i * 3) % V).ToArray(), B * T).To(dev);
        DeviceFallbacks.Reset();
        using (TensorScope.Begin())
        {
            var h = F.Embedding(ids, emb);
            var n = F.LayerNorm(h, C, ln, null);
            var qkv = F.Linear(n, wq).Chunk(3, -1);
            var a = F.ScaledDotProductAttention(qkv[0], qkv[1], qkv[2], isCausal: true);
            var logits = F.Linear((a + h).Gelu(true), wo).Reshape(B * T, V);
            var loss = F.CrossEntropy(logits, targets);
            loss.Backward();
            TestContext.Out.WriteLine("loss " + loss.Item());
        }
        TestContext.Out.Write(DeviceFallbacks.Report());
    }
}
