// Random tensors and random ops: rand, randn, randint, bernoulli, dropout, multinomial, top-k.
// All draw from a Generator (Generator.Default when none is given), so a seed fixes everything.
namespace Denoise;

public sealed partial class Tensor
{
    /// <summary>Uniform [0, 1) on <paramref name="device"/> (CPU when null); the same numbers on every device.</summary>
    public static Tensor Rand(int[] shape, Generator? gen = null, Device? device = null)
    {
        var t = Empty(shape, DType.Float32, device);
        if (t.Storage is GpuStorage) GpuOps.Random(t, gen ?? Generator.Default, normal: false);
        else (gen ?? Generator.Default).FillUniform(t.Span);
        return t;
    }

    public static Tensor Rand(params int[] shape) => Rand(shape, null);

    /// <summary>Standard normal N(0, 1) on <paramref name="device"/> (CPU when null); the same stream on every device.</summary>
    public static Tensor Randn(int[] shape, Generator? gen = null, Device? device = null)
    {
        var t = Empty(shape, DType.Float32, device);
        if (t.Storage is GpuStorage) GpuOps.Random(t, gen ?? Generator.Default, normal: true);
        else (gen ?? Generator.Default).FillNormal(t.Span);
        return t;
    }

    public static Tensor Randn(params int[] shape) => Randn(shape, null);
    public static Tensor RandnLike(Tensor t, Generator? gen = null) => Randn(t.shape, gen, t.Device);
    public static Tensor RandLike(Tensor t, Generator? gen = null) => Rand(t.shape, gen, t.Device);

    /// <summary>Uniform integers in [low, high) as an Int32 tensor.</summary>
    public static Tensor Randint(int low, int high, int[] shape, Generator? gen = null)
    {
        if (high <= low) throw new ArgumentException($"randint: need low < high, got [{low}, {high}).");
        var t = Empty(shape, DType.Int32);
        (gen ?? Generator.Default).FillInt(t.IntSpan, low, high);
        return t;
    }

    /// <summary>A random permutation of 0..n−1 (Fisher–Yates driven by the generator), Int32.</summary>
    public static Tensor Randperm(int n, Generator? gen = null)
    {
        var g = gen ?? Generator.Default;
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = g.NextInt(0, i + 1); (p[i], p[j]) = (p[j], p[i]); }
        return FromArray(p, n);
    }

    /// <summary>1 with probability p (elementwise, p = this), else 0. Not differentiable.</summary>
    public Tensor Bernoulli(Generator? gen = null)
    {
        CheckFloat("bernoulli");
        var u = Rand(shape, gen, Device);
        return u.Lt(this.Detach());
    }

    /// <summary>
    /// Draws <paramref name="numSamples"/> category indices per row of a (C) or (N, C) tensor of
    /// non-negative weights (need not sum to 1), like torch.multinomial. Returns Int32 (N, numSamples).
    /// </summary>
    public Tensor Multinomial(int numSamples, bool replacement = false, Generator? gen = null)
    {
        CheckFloat("multinomial");
        if (Rank != 1 && Rank != 2) throw new ArgumentException($"multinomial: expected a (C) or (N, C) tensor of weights, got {ShapeStr}.");
        var w2 = Rank == 1 ? Unsqueeze(0) : this;
        int N = w2.shape[0], C = w2.shape[1];
        if (!replacement && numSamples > C) throw new ArgumentException($"multinomial: cannot draw {numSamples} samples without replacement from {C} categories.");
        var g = gen ?? Generator.Default;
        if (Storage is GpuStorage) return MultinomialOnDevice(w2, numSamples, replacement, g);
        var w = w2.ToArray();
        var result = new int[N * numSamples];
        var row = new double[C];
        for (int n = 0; n < N; n++)
        {
            double total = 0;
            for (int c = 0; c < C; c++)
            {
                float v = w[n * C + c];
                if (!(v >= 0) || float.IsInfinity(v)) throw new ArgumentException($"multinomial: weights must be finite and ≥ 0; row {n} has {v}.");
                row[c] = v; total += v;
            }
            for (int s = 0; s < numSamples; s++)
            {
                if (total <= 0) throw new ArgumentException($"multinomial: row {n} has no positive weight left.");
                double u = g.NextFloat() * total, acc = 0;
                int pick = C - 1;
                for (int c = 0; c < C; c++) { acc += row[c]; if (u < acc && row[c] > 0) { pick = c; break; } }
                while (row[pick] <= 0) pick--; // u landed on the float edge of the last bucket
                result[n * numSamples + s] = pick;
                if (!replacement) { total -= row[pick]; row[pick] = 0; }
            }
        }
        var r = FromArray(result, N, numSamples).To(Device);
        return Rank == 1 ? r.Squeeze(0) : r;
    }

    /// <summary>
    /// Multinomial on a GPU device: kernels/Gpu/Random/Multinomial.cs draws the CPU's samples (same Philox
    /// blocks, same double arithmetic) and reports a bad row through one status int.
    /// </summary>
    Tensor MultinomialOnDevice(Tensor w2, int numSamples, bool replacement, Generator g)
    {
        int N = w2.shape[0], C = w2.shape[1];
        var r = Empty([N, numSamples], DType.Int32, Device);
        if (N > 0 && numSamples > 0 && GpuOps.Multinomial(w2, r, N, C, numSamples, replacement, g) is int code)
        {
            int n = code / 2;
            if (code % 2 == 1) throw new ArgumentException($"multinomial: row {n} has no positive weight left.");
            var row = w2.Select(0, n).ToArray();
            float v = row.First(x => !(x >= 0) || float.IsInfinity(x));
            throw new ArgumentException($"multinomial: weights must be finite and ≥ 0; row {n} has {v}.");
        }
        return Rank == 1 ? r.Squeeze(0) : r;
    }

    /// <summary>
    /// The k largest values along the last dim and their indices (sorted, largest first; ties by lower
    /// index, NaN smallest). The values are a gather of the indices, so their gradient scatters back.
    /// On a GPU device the indices come from kernels/Gpu/TopK.cs (one group per row).
    /// </summary>
    public (Tensor values, Tensor indices) TopK(int k)
    {
        CheckFloat("topk");
        int C = shape[^1];
        if (k < 1 || k > C) throw new ArgumentException($"topk: k = {k} is out of range for last dimension {C} of shape {ShapeStr}.");
        var outShape = shape[..^1].Append(k).ToArray();
        int rows = Numel / Math.Max(1, C);
        if (Storage is GpuStorage)
        {
            var ind = Empty(outShape, DType.Int32, Device);
            if (rows > 0) GpuOps.TopKIndices(ContiguousNoGrad(), ind, rows, C, k);
            return (Gather(-1, ind), ind);
        }
        var x = ContiguousNoGrad().ToArray();
        var idx = new int[rows * k];
        var order = new int[C];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < C; c++) order[c] = c;
            int off = r * C;
            Array.Sort(order, (a, b) => x[off + b].CompareTo(x[off + a]) is var cmp && cmp != 0 ? cmp : a.CompareTo(b));
            Array.Copy(order, 0, idx, r * k, k);
        }
        var indices = FromArray(idx, outShape);
        return (Gather(-1, indices), indices);
    }

    /// <summary>
    /// Keeps only the k largest logits per row (others set to −∞), for top-k sampling:
    /// logits.TopKFilter(k).Softmax(-1).Multinomial(1).
    /// </summary>
    public Tensor TopKFilter(int k)
    {
        var (values, _) = Detach().TopK(k);
        var threshold = values.Narrow(-1, k - 1, 1);
        return MaskedFill(Lt(threshold), float.NegativeInfinity);
    }
}

public static partial class F
{
    /// <summary>
    /// Inverted dropout: in training, zeroes each element with probability p and scales the rest by
    /// 1/(1−p) so the expectation is unchanged; identity in evaluation.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Generator? gen = null)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"dropout: p must be in [0, 1), got {p}.");
        if (!training || p == 0) return x;
        var keep = Tensor.Rand(x.Shape.ToArray(), gen, x.Device).Ge(p);
        return x * (keep * (1f / (1f - p)));
    }
}
