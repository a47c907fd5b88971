// DeviceExamplesTests.cs — the example programs honour --device: each runs a tiny config (2 training
// steps, a handful of samples) with `--device ilgpu-cpu` (ILGPU's CPU accelerator running the GPU
// kernels), finishes with exit code 0, and — while it trains and samples — no op falls back to the host
// (DeviceFallbacks), except the ones listed per program with the reason.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Examples.DeviceExamples
using Denoise.Examples;
using Denoise.Models.Autoencoders;
using Denoise.Models.Common;
using Denoise.Models.Diffusion;
using Denoise.Models.FlowMatching;
using Denoise.NN;
using Denoise.Optim;
using NUnit.Framework;

namespace Denoise.Tests.Examples;

[NonParallelizable]   // DeviceFallbacks is process-wide
public class DeviceExamplesTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-device-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    static void RunsOnDevice(string program, Func<string[], TextWriter, TextWriter, int> run, string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        var memory = Device.IlgpuCpu.Memory;
        long rentsBefore = memory.Hits + memory.DeviceAllocations;
        DeviceFallbacks.Reset();
        int exit = run([.. args, "--device", "ilgpu-cpu"], o, e);
        Assert.That(exit, Is.Zero, $"{program} exit code; stderr: {e}\nstdout: {o}");
        // The run really used the device: it rented device memory (zero fallbacks alone would also hold on the CPU).
        Assert.That(memory.Hits + memory.DeviceAllocations - rentsBefore, Is.GreaterThan(100), program + ": device buffers rented");
        Assert.That(DeviceFallbacks.Total, Is.Zero, $"{program}: {DeviceFallbacks.Report()}");
    }

    [TestCase("flow")]
    [TestCase("ddim")]
    [TestCase("reflow")]
    public void Toy2D_RunsOnTheDevice_WithoutHostFallbacks(string method) =>
        RunsOnDevice("toy2d " + method, (a, o, e) => Toy2DApp.Run(a, o, e),
            ["--method", method, "--steps", "2", "--batch-size", "8", "--samples", "16", "--sampling-steps", "2",
             "--reflow-pairs", "8", "--reflow-steps", "2", "--log-every", "1", "--checkpoint-every", "2", "--out", Path.Combine(dir, method)]);

    /// <summary>
    /// examples/Diffusion at its smallest (a base-4 UNet on 28×28 images) takes minutes on the CPU accelerator, so its
    /// models run here instead, at a 4×4 toy size: a class-conditional UNet trained one step (AdamW, gradient
    /// clipping, EMA) with DDPM and with flow matching, then every sampler — DDPM ancestral, DDIM, RePaint
    /// inpainting, the guided Heun ODE, reflow pairs — on the device, against the same run on the CPU
    /// (same generator states ⇒ the same noise), with zero host fallbacks. The app's own --device wiring is
    /// the same calls (examples/Diffusion/DiffusionApp.cs).
    /// </summary>
    [Test]
    public void DiffusionModels_TrainAndSampleOnTheDevice_LikeOnTheCpu_WithoutHostFallbacks()
    {
        List<(string, Tensor)> Run(Device d)
        {
            var config = new UNetConfig(ImageSize: 4, BaseChannels: 4, ChannelMults: [1, 2], Groups: 2, TimeEmbedDim: 8, NumClasses: 3);
            var net = new UNet(config, new Generator(1));
            net.To(d);
            var ema = new Ema(net.Parameters(), decay: 0.9f);
            var opt = new AdamW(net.Parameters(), 1e-3f);
            var ddpm = new Ddpm(net, new DdpmConfig(Timesteps: 4, NumClasses: 3, LabelDropout: 0.5f, ClipX0: 1f), ema) { Device = d };
            var flow = new RectifiedFlow(net, new FlowConfig(3, 0.5f, OdeSolver.Heun), ema) { Device = d };
            var gen = new Generator(7);
            var x = Tensor.Randn([2, 1, 4, 4], new Generator(2)).To(d);
            var labels = Tensor.FromArray([0, 2], 2);                     // host labels: the models move them
            var outputs = new List<(string, Tensor)>();
            foreach (var loss in new Func<Tensor>[] { () => ddpm.Loss(x, gen, labels.To(d)), () => flow.Loss(x, gen, labels.To(d)) })
                using (TensorScope.Begin())
                {
                    var l = loss();
                    opt.ZeroGrad(); l.Backward();
                    GradClip.ClipGradNorm(net.Parameters(), 1f);
                    opt.Step(); ema.Update();
                    outputs.Add(("loss", scopeKeep(l)));
                }
            var mask = Tensor.FromArray(Enumerable.Range(0, 16).Select(p => p < 8 ? 1f : 0f).ToArray(), 1, 1, 4, 4).To(d);
            outputs.Add(("ddpm sample", ddpm.Sample([2, 1, 4, 4], new Generator(3), labels, guidance: 2f)));
            outputs.Add(("ddim sample", new Ddim(ddpm, new DdimConfig(2, Eta: 0.5f)).Sample([2, 1, 4, 4], new Generator(4), labels, guidance: 2f)));
            outputs.Add(("ddpm inpaint", ddpm.Inpaint(x, mask, new Generator(5), labels)));
            outputs.Add(("ddim inpaint", new Ddim(ddpm, new DdimConfig(2)).Inpaint(x, mask, new Generator(5), labels)));
            outputs.Add(("flow sample", flow.Sample([2, 1, 4, 4], 2, new Generator(6), labels: labels, guidance: 2f)));
            outputs.Add(("reflow pairs", flow.ReflowPairs([2, 1, 4, 4], 2, new Generator(8)).Samples));
            return outputs;

            static Tensor scopeKeep(Tensor t) { using (TensorScope.Suspend()) return t.Detach().To(Device.Cpu).Clone(); }
        }
        var cpu = Run(Device.Cpu);
        DeviceFallbacks.Reset();
        var dev = Run(Device.IlgpuCpu);
        Assert.That(DeviceFallbacks.Total, Is.Zero, DeviceFallbacks.Report());
        foreach (var ((what, c), (_, g)) in cpu.Zip(dev))
        {
            if (what != "loss") Assert.That(g.Device, Is.SameAs(Device.IlgpuCpu), what + " device");
            var (e, a) = (c.ToArray(), g.ToArray());
            for (int i = 0; i < e.Length; i++)
                Assert.That(a[i], Is.EqualTo(e[i]).Within(1e-3f * MathF.Max(1f, MathF.Abs(e[i]))), $"{what}[{i}]");
        }
    }

    /// <summary>The VAE's sampler draws z on the model's device (a tiny linear VAE; examples/Vae's conv nets are too slow here).</summary>
    [Test]
    public void VaeSample_DrawsOnTheModelsDevice_LikeOnTheCpu()
    {
        Tensor Run(Device d)
        {
            var vae = new Vae(new VaeConfig(LatentDim: 2), new Linear(3, 4, gen: new Generator(1)), new Linear(2, 3, gen: new Generator(2)));
            vae.To(d);
            var x = Tensor.Rand([5, 3], new Generator(3), d);
            var opt = new Adam(vae.Parameters(), 1e-2f);
            using (TensorScope.Begin()) { var l = vae.Loss(x, null, new Generator(4)); opt.ZeroGrad(); l.Backward(); opt.Step(); }
            return vae.Sample(4, new Generator(5));
        }
        var cpu = Run(Device.Cpu);
        DeviceFallbacks.Reset();
        var dev = Run(Device.IlgpuCpu);
        Assert.That(DeviceFallbacks.Total, Is.Zero, DeviceFallbacks.Report());
        Assert.That(dev.Device, Is.SameAs(Device.IlgpuCpu));
        var (e, a) = (cpu.ToArray(), dev.ToArray());
        for (int i = 0; i < e.Length; i++) Assert.That(a[i], Is.EqualTo(e[i]).Within(1e-4f), $"vae sample [{i}]");
    }

    /// <summary>examples/Vae and examples/Gan train on the device (2 steps, narrowest nets); their held-out metrics and
    /// figures run on the host by design (the model moves back), so only training and sampling are on the device.</summary>
    [TestCase("vae")]
    [TestCase("cvae")]
    public void Vae_TrainsOnTheDevice_WithoutHostFallbacks(string model) =>
        RunsOnDevice("vae " + model, (a, o, e) => VaeApp.Run(a, o, e),
            ["--model", model, "--out", Path.Combine(dir, model), "--steps", "2", "--batch-size", "4", "--width", "2", "--latent", "2",
             "--iwae-k", "2", "--iwae-images", "4", "--eval-images", "20", "--log-every", "1"]);

    /// <summary>examples/Compare trains, samples and estimates the VAE's likelihood on the device (2 steps, the narrowest VAE);
    /// only scoring (the MNIST classifier's features) runs on the host, after the images are read back.</summary>
    [Test]
    public void Compare_Vae_TrainsSamplesAndScoresLikelihoodOnTheDevice_WithoutHostFallbacks()
    {
        try { Denoise.Data.Mnist.Load(); }
        catch (Denoise.Data.DatasetNotFoundException e) { Assert.Ignore($"MNIST unavailable: {e.Message}"); }
        RunsOnDevice("compare vae", (a, o, e) => CompareApp.Run(a, o, e),
            ["--families", "vae", "--out", Path.Combine(dir, "compare"), "--steps", "2", "--batch-size", "4", "--seeds", "0", "--samples", "16",
             "--sample-batch", "16", "--vae-width", "2", "--vae-latent", "2", "--iwae-k", "2", "--likelihood-images", "4"]);
    }

    /// <summary>Explicit: 2½ minutes per case on the CPU accelerator (the 28×28 DCGAN convs), too slow for the suite; run it on a GPU box.</summary>
    [TestCase("dcgan"), TestCase("cgan"), Explicit("~2.5 min per case on ILGPU's CPU accelerator")]
    public void Gan_TrainsOnTheDevice_WithoutHostFallbacks(string model) =>
        RunsOnDevice("gan " + model, (a, o, e) => GanApp.Run(a, o, e),
            ["--model", model, "--out", Path.Combine(dir, model), "--steps", "1", "--batch-size", "2", "--eval-samples", "0", "--log-every", "1"]);
}
