// WganGp — Wasserstein GAN with gradient penalty (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville,
// "Improved Training of Wasserstein GANs", NeurIPS 2017). The critic D estimates the Wasserstein-1
// distance sup_{‖D‖_L ≤ 1} E[D(x)] − E[D(G(z))]; instead of clipping weights (Arjovsky et al. 2017) the
// 1-Lipschitz constraint is softened into a penalty on D's input gradient at random interpolates.
//
// Algorithm 1 of the paper (λ = 10, n_critic = 5, Adam α = 1e-4, β₁ = 0, β₂ = 0.9):
//   for each generator iteration:
//     for t = 1 … n_critic:
//       x ~ data, z ~ N(0, I), ε ~ U[0, 1] (one per image)
//       x̃ = G(z);  x̂ = ε·x + (1 − ε)·x̃
//       L_D = D(x̃) − D(x) + λ·(‖∇_x̂ D(x̂)‖₂ − 1)²                  (averaged over the batch)
//       w ← Adam(∇_w L_D)
//     z ~ N(0, I);  θ ← Adam(∇_θ −D(G(z)))
// The penalty differentiates D's input gradient with respect to D's weights, so ∇_x̂ D(x̂) is taken
// with Autograd.Grad(..., createGraph: true) and the backward of L_D runs through that backward
// (double backward through conv, LeakyReLU and linear).
//
// Networks: G is the DCGAN-S generator (Dcgan.cs; BatchNorm kept, as in the paper); the critic is the
// DCGAN-S discriminator without BatchNorm — the penalty is per input, and BatchNorm would make each
// critic value depend on the rest of the batch (the paper suggests layer norm or none).
//
//   var wgan = new WganGp(new WganGpConfig(), gen);
//   var stats = wgan.TrainStep(() => (Pixels.ToSigned(loader.Next().Inputs), null), gen);
// Run: dotnet run -c Release --project examples/Gan -- --model wgan-gp
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Gan
using Denoise.NN;

namespace Denoise.Models.Gan;

public sealed record WganGpConfig(float Lambda = 10f, int NCritic = 5, float Lr = 1e-4f, float Beta1 = 0f, float Beta2 = 0.9f,
                                  float EmaDecay = 0.999f, int ZDim = DcganGenerator.DefaultZDim);

public sealed class WganGp : Gan
{
    public WganGpConfig Config { get; }

    public WganGp(WganGpConfig config, Generator? gen = null)
        : base(new DcganGenerator(config.ZDim, 0, gen), new DcganDiscriminator(1, batchNorm: false, gen),
               config.ZDim, 0, GanLoss.Wasserstein, config.Lr, config.Lr, config.Beta1, config.Beta2, config.EmaDecay)
    {
        if (config.NCritic < 1) throw new ArgumentException($"WganGp: NCritic must be ≥ 1, got {config.NCritic}.");
        if (config.Lambda < 0) throw new ArgumentException($"WganGp: Lambda must be ≥ 0, got {config.Lambda}.");
        Config = config;
    }

    public override Tensor Generate(Tensor z, Tensor? labels) => G.Forward(z);
    public override Tensor Discriminate(Tensor x, Tensor? labels) => Critic.Forward(x);

    public DcganDiscriminator Critic => (DcganDiscriminator)D;

    /// <summary>
    /// λ·mean_b (‖∇_x̂ D(x̂_b)‖₂ − 1)² at x̂ = ε·real + (1 − ε)·fake, ε (B) one per image; on the tape
    /// (create-graph), so its backward reaches D's weights. Also returns the mean gradient norm.
    /// </summary>
    public static (Tensor Penalty, float MeanNorm) GradientPenalty(Func<Tensor, Tensor> critic, Tensor real, Tensor fake, Tensor eps, float lambda)
    {
        int B = real.Shape[0];
        using var _ = Autograd.EnableGrad();   // the penalty needs ∂D/∂x̂ even when called under NoGrad
        var e = eps.Reshape(B, 1, 1, 1);
        var xHat = (real.Detach() * e + fake.Detach() * (1f - e)).Detach().RequiresGrad_();   // a leaf: we want ∂D/∂x̂
        var grad = Autograd.Grad([critic(xHat).Sum()], [xHat], createGraph: true)[0]!;         // (B, C, H, W)
        var norm = grad.Reshape(B, -1).Norm(1);                                                 // (B)
        float meanNorm;
        using (Autograd.NoGrad()) meanNorm = norm.Mean().Item();
        return ((norm - 1f).Square().Mean() * lambda, meanNorm);
    }

    public override GanStepStats TrainStep(Func<(Tensor Images, Tensor? Labels)> nextReal, Generator gen)
    {
        float lossD = 0, accReal = 0, accFake = 0, normD = 0, gp = 0;
        int B = 0;
        for (int t = 0; t < Config.NCritic; t++)
        {
            var (real, _) = nextReal();
            B = real.Shape[0];
            Tensor fake;
            using (Autograd.NoGrad()) fake = G.Forward(SampleZ(B, gen));                      // x̃ (no graph to G)
            var dReal = Critic.Forward(real);
            var dFake = Critic.Forward(fake);
            var (penalty, _) = GradientPenalty(Critic.Forward, real, fake, Tensor.Rand([B], gen, real.Device), Config.Lambda);
            var loss = GanLosses.Discriminator(dReal, dFake, GanLoss.Wasserstein) + penalty;
            OptD.ZeroGrad();
            loss.Backward();
            normD = GanLosses.GradNorm(D.Parameters());
            OptD.Step();
            (accReal, accFake) = GanLosses.Accuracy(dReal, dFake, GanLoss.Wasserstein);
            lossD = loss.Item(); gp = penalty.Item();
        }
        var (lossG, normG) = GeneratorStep(G.Forward(SampleZ(B, gen)), null);               // −D(G(z))
        return new GanStepStats(lossD, lossG, accReal, accFake, normD, normG, gp);
    }
}
