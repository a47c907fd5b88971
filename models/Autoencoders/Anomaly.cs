// Anomaly — novelty detection with a generative model: train on some digits only, then score held-out
// images by how badly the model explains them (−ELBO for a VAE, reconstruction error for an
// autoencoder; An & Cho 2015). Images of unseen classes should score higher; the AUROC says how well
// the score separates them (1 = perfectly, 0.5 = chance).
//
// AUROC from ranks (Mann–Whitney U; Hanley & McNeil 1982):
//     AUROC = (R₊ − n₊(n₊ + 1)/2) / (n₊·n₋)
// where R₊ is the sum of the ranks (1-based, ascending score) of the n₊ positives (anomalies), tied
// scores sharing their average rank — the probability that a random anomaly outscores a random normal
// image, ties counting one half.
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Models.Vae
namespace Denoise.Models.Autoencoders;

public static class Anomaly
{
    /// <summary>P(score of a random positive &gt; score of a random negative) + ½·P(tie).</summary>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> isPositive)
    {
        if (scores.Count != isPositive.Count)
            throw new ArgumentException($"Anomaly.Auroc: {scores.Count} scores but {isPositive.Count} labels.");
        int n = scores.Count;
        foreach (var s in scores) if (double.IsNaN(s)) throw new ArgumentException("Anomaly.Auroc: a score is NaN.");
        long nPos = isPositive.Count(p => p), nNeg = n - nPos;
        if (nPos == 0 || nNeg == 0)
            throw new ArgumentException($"Anomaly.Auroc: needs both classes, got {nPos} positives and {nNeg} negatives.");

        var order = Enumerable.Range(0, n).OrderBy(i => scores[i]).ToArray();
        double rankSumPos = 0;
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && scores[order[end + 1]] == scores[order[start]]) end++;
            double averageRank = (start + end) / 2.0 + 1;                       // ranks start+1 … end+1
            for (int j = start; j <= end; j++) if (isPositive[order[j]]) rankSumPos += averageRank;
            start = end + 1;
        }
        return (rankSumPos - nPos * (nPos + 1) / 2.0) / ((double)nPos * nNeg);
    }

    /// <summary>−ELBO per image (nats; higher = more anomalous), in batches, without gradients, with a fixed noise seed.</summary>
    public static double[] NegativeElbo(Vae vae, Tensor images, int batchSize = 250, ulong seed = 0)
    {
        var gen = new Generator(seed);
        var scores = new List<double>();
        using var _ = Autograd.NoGrad();
        for (int i = 0; i < images.Shape[0]; i += batchSize)
            using (TensorScope.Begin())
            {
                var x = images.Narrow(0, i, Math.Min(batchSize, images.Shape[0] - i));
                scores.AddRange(vae.Terms(x, null, gen).Elbo.ToArray().Select(e => -(double)e));
            }
        return scores.ToArray();
    }
}
