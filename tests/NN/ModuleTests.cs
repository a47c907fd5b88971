// Tests for engine/NN/Module.cs, Init.cs and the layers: registration order and dotted names,
// parameter counts (the WORKLOADS M2 network has exactly 133,122), PyTorch default init bounds,
// state dict round trip and its errors, train/eval propagation, BatchNorm modes, MHA vs a loop
// reference built from its own weights, persistence of parameters across TensorScopes.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter "FullyQualifiedName~Tests.NN"
using Denoise;
using Denoise.NN;
using NUnit.Framework;

namespace Denoise.Tests.NN;

public class ModuleTests
{
    /// <summary>WORKLOADS M2: concat(x, t) → Linear(3→256), SiLU, Linear(256→256), SiLU, Linear(256→256), SiLU, Linear(256→2).</summary>
    static Sequential M2(Generator? gen = null) => new(
        new Linear(3, 256, gen: gen), new SiLU(), new Linear(256, 256, gen: gen), new SiLU(),
        new Linear(256, 256, gen: gen), new SiLU(), new Linear(256, 2, gen: gen));

    sealed class Block : Layer
    {
        public readonly Linear Fc1, Fc2;
        public readonly BatchNorm1d Norm;
        public Block(Generator? gen = null)
        {
            Fc1 = Add("fc1", new Linear(3, 4, gen: gen));
            Norm = Add("norm", new BatchNorm1d(4));
            Fc2 = Add("fc2", new Linear(4, 2, bias: false, gen: gen));
        }
        public override Tensor Forward(Tensor x) => Fc2.Forward(Norm.Forward(Fc1.Forward(x)).Relu());
    }

    sealed class Net : Layer
    {
        public readonly Block Body;
        public readonly Tensor Scale;
        public Net(Generator? gen = null)
        {
            Scale = Parameter("scale", Init.OnesPersistent(2));
            Body = Add("body", new Block(gen));
            Add("drop", new Dropout(0.5f));
        }
        public override Tensor Forward(Tensor x) => Body.Forward(x) * Scale;
    }

    [Test]
    public void ParameterCounts_MatchPyTorch_LinearAndWorkloadM2()
    {
        Assert.That(new Linear(3, 256).ParameterCount(), Is.EqualTo(1024));
        Assert.That(new Linear(3, 256, bias: false).ParameterCount(), Is.EqualTo(768));
        Assert.That(M2().ParameterCount(), Is.EqualTo(133_122));
        // torch.nn.MultiheadAttention(128, 4): in_proj 3·128·128 + 384, out_proj 128·128 + 128.
        Assert.That(new MultiheadAttention(128, 4).ParameterCount(), Is.EqualTo(66_048));
        Assert.That(new BatchNorm2d(8).ParameterCount(), Is.EqualTo(16));
        Assert.That(new GroupNorm(8, 32).ParameterCount(), Is.EqualTo(64));
    }

    [Test]
    public void NamedParameters_FollowRegistrationOrder_WithDottedNames_AndNameTheTensors()
    {
        var net = new Net();
        var names = net.NamedParameters().Select(p => p.Name).ToArray();
        Assert.That(names, Is.EqualTo(new[] { "scale", "body.fc1.weight", "body.fc1.bias", "body.norm.weight", "body.norm.bias", "body.fc2.weight" }));
        foreach (var (name, p) in net.NamedParameters())
        {
            Assert.That(p.Name, Is.EqualTo(name));
            Assert.That(p.RequiresGrad, Is.True);
        }
        Assert.That(net.NamedBuffers().Select(b => b.Name).ToArray(),
            Is.EqualTo(new[] { "body.norm.running_mean", "body.norm.running_var", "body.norm.num_batches_tracked" }));
        Assert.That(net.NamedModules().Select(m => m.Name).ToArray(), Is.EqualTo(new[] { "", "body", "body.fc1", "body.norm", "body.fc2", "drop" }));
        Assert.That(net.Children().Count(), Is.EqualTo(2));
        Assert.That(net.StateDict().Keys.ToArray(), Is.EqualTo(new[] {
            "scale", "body.fc1.weight", "body.fc1.bias", "body.norm.weight", "body.norm.bias",
            "body.norm.running_mean", "body.norm.running_var", "body.norm.num_batches_tracked", "body.fc2.weight" }));
        Assert.That(M2().NamedParameters().Select(p => p.Name).Take(3).ToArray(), Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight" }));
    }

    [Test]
    public void DuplicateOrDottedNames_AreRejected()
    {
        Assert.Throws<ArgumentException>(() => new DupModule());
        Assert.Throws<ArgumentException>(() => new DotModule());
    }

    sealed class DupModule : Module { public DupModule() { Parameter("w", Init.Empty(1)); Buffer("w", Init.Empty(1)); } }
    sealed class DotModule : Module { public DotModule() { Parameter("a.b", Init.Empty(1)); } }

    [Test]
    public void DefaultInit_LinearWeightsAndBiases_WithinPyTorchBounds_WithUniformStd()
    {
        var gen = new Generator(7);
        foreach (var lin in M2(gen).Children().OfType<Linear>())
        {
            double bound = 1 / Math.Sqrt(lin.InFeatures);
            var w = lin.Weight.ToArray();
            Assert.That(w.Max(), Is.LessThanOrEqualTo(bound));
            Assert.That(w.Min(), Is.GreaterThanOrEqualTo(-bound));
            Assert.That(lin.Bias!.ToArray().Select(Math.Abs).Max(), Is.LessThanOrEqualTo(bound));
            double mean = w.Average(v => (double)v), std = Math.Sqrt(w.Average(v => (v - mean) * (v - mean)));
            // U(−b, b) has std b/√3; with n ≥ 512 samples the relative error of the estimate is < 10% by far.
            Assert.That(std, Is.EqualTo(bound / Math.Sqrt(3)).Within(0.1 * bound / Math.Sqrt(3)), $"{lin}");
            if (w.Length >= 65536) Assert.That(std, Is.EqualTo(bound / Math.Sqrt(3)).Within(0.01 * bound / Math.Sqrt(3)));
        }
    }

    [Test]
    public void Init_IsSeeded_AndHelpersHaveTheirMoments()
    {
        Assert.That(new Linear(5, 7, gen: new Generator(3)).Weight.ToArray(), Is.EqualTo(new Linear(5, 7, gen: new Generator(3)).Weight.ToArray()));
        Assert.That(new Linear(5, 7, gen: new Generator(3)).Weight.ToArray(), Is.Not.EqualTo(new Linear(5, 7, gen: new Generator(4)).Weight.ToArray()));

        var gen = new Generator(11);
        var e = new Embedding(100, 200, gen).Weight.ToArray();
        double em = e.Average(v => (double)v), es = Math.Sqrt(e.Average(v => (v - em) * (v - em)));
        Assert.That(em, Is.EqualTo(0).Within(0.02)); Assert.That(es, Is.EqualTo(1).Within(0.02));

        var x = Init.XavierUniform(Tensor.Empty([300, 100]), gen: gen).ToArray();
        double xb = Math.Sqrt(6.0 / 400);
        Assert.That(x.Max(), Is.LessThanOrEqualTo(xb)); Assert.That(x.Min(), Is.GreaterThanOrEqualTo(-xb));
        var k = Init.KaimingNormal(Tensor.Empty([200, 50, 3, 3]), gen: gen).ToArray(); // std √(2/450)
        Assert.That(Math.Sqrt(k.Average(v => (double)v * v)), Is.EqualTo(Math.Sqrt(2.0 / 450)).Within(0.01 * Math.Sqrt(2.0 / 450)));
        // ConvTranspose-shaped weight (in=16, out=4, 3, 3): PyTorch's fan_in reads dim 1 → 4·9 = 36.
        Assert.That(Init.Fans(Tensor.Empty([16, 4, 3, 3])), Is.EqualTo((36, 144)));
        var ct = Tensor.Empty([16, 4, 3, 3]); var ctb = Tensor.Empty([4]);
        Init.DefaultLinearOrConv(ct, ctb, gen);
        Assert.That(ct.ToArray().Select(Math.Abs).Max(), Is.LessThanOrEqualTo(1 / 6.0).And.GreaterThan(0.9 / 6.0));
    }

    [Test]
    public void StateDict_RoundTrips_IntoAFreshModule_InPlace()
    {
        var a = new Net(new Generator(1)); var b = new Net(new Generator(2));
        a.Body.Forward(GradCheck.Rand(1, 5, 3)); // moves a's running stats away from their init
        var bWeight = b.Body.Fc1.Weight;
        b.LoadStateDict(a.StateDict());
        Assert.That(ReferenceEquals(b.Body.Fc1.Weight, bWeight), Is.True, "loaded in place");
        foreach (var (k, v) in a.StateDict())
        {
            var w = b.StateDict()[k];
            if (v.DType == DType.Int32) Assert.That(w.ToIntArray(), Is.EqualTo(v.ToIntArray()), k);
            else Assert.That(w.ToArray(), Is.EqualTo(v.ToArray()), k);
        }
        var x = GradCheck.Rand(2, 4, 3);
        a.Eval(); b.Eval();
        Assert.That(b.Forward(x).ToArray(), Is.EqualTo(a.Forward(x).ToArray()));
    }

    [Test]
    public void LoadStateDict_MissingUnexpectedAndWrongShape_AreNamed_AndNothingIsCopied()
    {
        var net = new Net();
        var before = net.Body.Fc1.Weight.ToArray();
        var sd = new Net(new Generator(9)).StateDict();
        sd.Remove("body.fc2.weight");
        sd["extra.weight"] = Tensor.Zeros(1);
        var ex = Assert.Throws<ArgumentException>(() => net.LoadStateDict(sd));
        Assert.That(ex!.Message, Does.Contain("'body.fc2.weight'").And.Contain("'extra.weight'").And.Contain("missing").And.Contain("unexpected"));
        Assert.That(net.Body.Fc1.Weight.ToArray(), Is.EqualTo(before));

        var (missing, unexpected) = net.LoadStateDict(sd, strict: false);
        Assert.That(missing, Is.EqualTo(new[] { "body.fc2.weight" }));
        Assert.That(unexpected, Is.EqualTo(new[] { "extra.weight" }));
        Assert.That(net.Body.Fc1.Weight.ToArray(), Is.Not.EqualTo(before));

        var bad = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        bad["body.fc1.weight"] = Tensor.Zeros(3, 4);
        ex = Assert.Throws<ArgumentException>(() => net.LoadStateDict(bad, strict: false));
        Assert.That(ex!.Message, Does.Contain("'body.fc1.weight'").And.Contain("(3, 4)").And.Contain("(4, 3)"));
    }

    [Test]
    public void TrainEval_PropagateToChildren_AndNewChildrenInheritTheMode()
    {
        var net = new Net();
        Assert.That(net.NamedModules().All(m => m.Module.IsTraining), Is.True);
        Assert.That(net.Eval(), Is.SameAs(net));
        Assert.That(net.NamedModules().All(m => !m.Module.IsTraining), Is.True);
        net.Train();
        Assert.That(net.Body.Norm.IsTraining, Is.True);
        var seq = new Sequential(new Linear(2, 2));
        seq.Eval();
        seq.Append(new Dropout(0.5f));
        Assert.That(seq[1].IsTraining, Is.False);
        var x = Tensor.Ones(4, 2);
        Assert.That(new Dropout(0.5f).Eval() is Dropout d ? d.Forward(x).ToArray() : null, Is.EqualTo(x.ToArray()));
    }

    [Test]
    public void BatchNormModule_TrainUsesBatchStats_EvalUsesRunningStats()
    {
        var bn = new BatchNorm2d(2);
        var x = GradCheck.Rand(3, -1f, 3f, 4, 2, 2, 2);
        var yTrain = bn.Forward(x);
        var perChannel = yTrain.Mean([0, 2, 3]).ToArray();
        Assert.That(perChannel, Is.EqualTo(new[] { 0f, 0f }).Within(1e-5f));
        Assert.That(bn.NumBatchesTracked.Item(), Is.EqualTo(1));
        var rm = bn.RunningMean.ToArray(); var rv = bn.RunningVar.ToArray();

        bn.Eval();
        var yEval = bn.Forward(x).ToArray();
        var xv = x.ToArray();
        for (int i = 0; i < xv.Length; i++)
        {
            int c = i / 4 % 2;
            Assert.That(yEval[i], Is.EqualTo((xv[i] - rm[c]) / Math.Sqrt(rv[c] + 1e-5)).Within(1e-5));
        }
        Assert.That(bn.RunningMean.ToArray(), Is.EqualTo(rm), "eval must not update running stats");
        Assert.That(bn.NumBatchesTracked.Item(), Is.EqualTo(1));
        Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Zeros(4, 2)));
    }

    [Test]
    public void Parameters_AndBatchNormBuffers_SurviveTheTrainingStepScope_AndZeroGradKeepsGradBuffers()
    {
        Net net;
        using (TensorScope.Begin()) net = new Net(); // built inside a scope by mistake: still persistent
        var x = GradCheck.Rand(4, 6, 3);
        Tensor? grad = null;
        for (int step = 0; step < 2; step++)
        {
            using var scope = TensorScope.Begin();
            net.ZeroGrad();
            net.Forward(x).Square().Sum().Backward();
            grad ??= net.Body.Fc1.Weight.Grad;
            Assert.That(net.Body.Fc1.Weight.Grad, Is.SameAs(grad));
        }
        Assert.That(net.Body.Norm.RunningMean.ToArray().Any(v => v != 0), Is.True);
        Assert.That(net.Body.Norm.NumBatchesTracked.Item(), Is.EqualTo(2));
        net.ZeroGrad();
        Assert.That(grad!.ToArray().All(v => v == 0), Is.True);
        Assert.That(net.To(Device.Cpu), Is.SameAs(net));
    }

    [Test]
    public void Embedding_LooksUpRows_AndAccumulatesGradientsOfRepeatedIds()
    {
        var emb = new Embedding(5, 3, new Generator(1));
        var ids = Tensor.FromArray(new[] { 4, 0, 4, 2 }, 2, 2);
        var y = emb.Forward(ids);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 2, 2, 3 }));
        var w = emb.Weight.ToArray(); var yv = y.ToArray();
        int[] idv = [4, 0, 4, 2];
        for (int i = 0; i < 4; i++) for (int c = 0; c < 3; c++) Assert.That(yv[i * 3 + c], Is.EqualTo(w[idv[i] * 3 + c]));
        y.Sum().Backward();
        Assert.That(emb.Weight.Grad!.ToArray(), Is.EqualTo(new float[] { 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 2 }));
        var ex = Assert.Catch<ArgumentException>(() => emb.Forward(Tensor.FromArray(new[] { 5 }, 1)));
        Assert.That(ex!.Message, Does.Contain("(5, 3)"));
    }

    [Test]
    public void Sequential_M2_RunsForwardAndBackward()
    {
        var net = M2(new Generator(5));
        var x = GradCheck.Rand(1, 8, 3);
        var y = net.Forward(x);
        Assert.That(y.Shape.ToArray(), Is.EqualTo(new[] { 8, 2 }));
        y.Square().Mean().Backward();
        Assert.That(net.Parameters().All(p => p.Grad != null), Is.True);
        Assert.That(net[0], Is.InstanceOf<Linear>());
        Assert.That(net.Count, Is.EqualTo(7));
    }

    [Test]
    public void Activations_ForwardTheirTensorOps()
    {
        var x = GradCheck.Rand(6, 2, 5);
        (Layer layer, Tensor expected)[] cases =
        [
            (new ReLU(), x.Relu()), (new LeakyReLU(0.2f), x.LeakyRelu(0.2f)), (new SiLU(), x.SiLU()),
            (new GELU(), x.Gelu()), (new GELU(approximateTanh: true), x.Gelu(true)), (new Tanh(), x.Tanh()),
            (new Sigmoid(), x.Sigmoid()), (new ELU(0.5f), x.Elu(0.5f)), (new Softplus(), x.Softplus()), (new Identity(), x),
        ];
        foreach (var (layer, expected) in cases)
            Assert.That(layer.Forward(x).ToArray(), Is.EqualTo(expected.ToArray()), layer.GetType().Name);
        Assert.That(new Flatten().Forward(Tensor.Zeros(2, 3, 4)).Shape.ToArray(), Is.EqualTo(new[] { 2, 12 }));
    }

    [Test]
    public void LayerNormAndGroupNormModules_InitToIdentityAffine()
    {
        var ln = new LayerNorm(4); var gn = new GroupNorm(2, 4);
        Assert.That(ln.Weight!.ToArray(), Is.EqualTo(new float[] { 1, 1, 1, 1 }));
        Assert.That(gn.Bias!.ToArray(), Is.EqualTo(new float[] { 0, 0, 0, 0 }));
        var x = GradCheck.Rand(8, 3, 4);
        Assert.That(ln.Forward(x).ToArray(), Is.EqualTo(F.LayerNorm(x, 4).ToArray()).Within(1e-6f));
        Assert.That(new LayerNorm(4, affine: false).ParameterCount(), Is.EqualTo(0));
        var ex = Assert.Throws<ArgumentException>(() => gn.Forward(Tensor.Zeros(2, 3, 5)));
        Assert.That(ex!.Message, Does.Contain("(2, 3, 5)"));
    }

    // ───────────────────── multi-head attention ─────────────────────

    /// <summary>PyTorch's MHA written out in double from the module's own weights.</summary>
    static double[] MhaRef(MultiheadAttention mha, Tensor query, Tensor kv, bool causal)
    {
        int E = mha.EmbedDim, H = mha.NumHeads, dh = E / H, B = query.Shape[0], Tq = query.Shape[1], Tk = kv.Shape[1];
        var W = mha.InProjWeight.ToArray(); var bIn = mha.InProjBias!.ToArray();
        var Wo = mha.OutProj.Weight.ToArray(); var bo = mha.OutProj.Bias!.ToArray();
        var qv = query.ToArray(); var kvv = kv.ToArray();
        double[] Proj(float[] x, int T, int part)
        {
            var r = new double[B * T * E];
            for (int i = 0; i < B * T; i++)
                for (int o = 0; o < E; o++)
                {
                    double s = bIn[part * E + o];
                    for (int c = 0; c < E; c++) s += (double)x[i * E + c] * W[(part * E + o) * E + c];
                    r[i * E + o] = s;
                }
            return r;
        }
        var Q = Proj(qv, Tq, 0); var K = Proj(kvv, Tk, 1); var V = Proj(kvv, Tk, 2);
        var O = new double[B * Tq * E];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < Tq; i++)
                {
                    var s = new double[Tk];
                    for (int j = 0; j < Tk; j++)
                    {
                        for (int c = 0; c < dh; c++) s[j] += Q[(b * Tq + i) * E + h * dh + c] * K[(b * Tk + j) * E + h * dh + c];
                        s[j] = causal && j > i ? double.NegativeInfinity : s[j] / Math.Sqrt(dh);
                    }
                    double max = s.Max(), z = s.Sum(t => Math.Exp(t - max));
                    for (int j = 0; j < Tk; j++)
                        for (int c = 0; c < dh; c++) O[(b * Tq + i) * E + h * dh + c] += Math.Exp(s[j] - max) / z * V[(b * Tk + j) * E + h * dh + c];
                }
        var y = new double[B * Tq * E];
        for (int i = 0; i < B * Tq; i++)
            for (int o = 0; o < E; o++)
            {
                double s = bo[o];
                for (int c = 0; c < E; c++) s += O[i * E + c] * Wo[o * E + c];
                y[i * E + o] = s;
            }
        return y;
    }

    [Test]
    public void MultiheadAttention_MatchesHandComposedReference_SelfCausalAndCross()
    {
        var gen = new Generator(21);
        var mha = new MultiheadAttention(6, 2, gen: gen);
        Assert.That(mha.NamedParameters().Select(p => p.Name).ToArray(),
            Is.EqualTo(new[] { "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" }));
        Assert.That(mha.InProjWeight.Shape.ToArray(), Is.EqualTo(new[] { 18, 6 }));
        // Non-zero biases so the reference checks they are used.
        using (Autograd.NoGrad()) { Init.Uniform(mha.InProjBias!, -0.5f, 0.5f, gen); Init.Uniform(mha.OutProj.Bias!, -0.5f, 0.5f, gen); }

        var x = GradCheck.Rand(22, 2, 3, 6); var mem = GradCheck.Rand(23, 2, 4, 6);
        var self = mha.Forward(x);
        Assert.That(self.Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 6 }));
        Assert.That(self.ToArray(), Is.EqualTo(MhaRef(mha, x, x, false)).Within(1e-5));
        Assert.That(mha.Forward(x, x, x, isCausal: true).ToArray(), Is.EqualTo(MhaRef(mha, x, x, true)).Within(1e-5));
        // Same tensors through the separate q/k/v path (a clone defeats the fused-projection shortcut).
        Assert.That(mha.Forward(x, x.Clone(), x.Clone(), isCausal: true).ToArray(), Is.EqualTo(MhaRef(mha, x, x, true)).Within(1e-5));
        var cross = mha.Forward(x, mem, mem);
        Assert.That(cross.Shape.ToArray(), Is.EqualTo(new[] { 2, 3, 6 }));
        Assert.That(cross.ToArray(), Is.EqualTo(MhaRef(mha, x, mem, false)).Within(1e-5));
        // An additive causal mask equals isCausal.
        Assert.That(mha.Forward(x, x, x, F.CausalMask(3, 3)).ToArray(), Is.EqualTo(MhaRef(mha, x, x, true)).Within(1e-5));

        mha.Forward(x, mem, mem, isCausal: true).Sum().Backward();
        Assert.That(mha.Parameters().All(p => p.Grad != null), Is.True);
        var ex = Assert.Throws<ArgumentException>(() => mha.Forward(Tensor.Zeros(2, 3, 5)));
        Assert.That(ex!.Message, Does.Contain("(2, 3, 5)"));
    }
}
