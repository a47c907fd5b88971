// Attention.V0Reference.cs — the reference: the formulas of Attention.cs as plain loops in double,
// one (b, h) problem after another, with each score row (forward) or the whole Tq × Tk P (backward)
// materialised. Slow and memory-hungry on purpose: every faster version is tested against it.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Kernels.Attention
namespace Denoise.Kernels.Cpu;

public static unsafe partial class Attention
{
    static void V0Forward(in Operands a)
    {
        var s = a.S;
        var p = new double[s.Tk];
        for (int bh = 0; bh < s.Problems; bh++)
        {
            float* q = a.QAt(bh), k = a.KAt(bh), v = a.VAt(bh), o = a.OAt(bh), lse = a.LseAt(bh);
            for (int i = 0; i < s.Tq; i++)
            {
                int seen = s.Causal ? Math.Min(i + 1, s.Tk) : s.Tk;
                double m = double.NegativeInfinity;
                for (int j = 0; j < seen; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < s.D; c++) dot += (double)q[i * a.Ql.StrideT + c] * k[j * a.Kl.StrideT + c];
                    p[j] = s.Scale * dot;
                    m = Math.Max(m, p[j]);
                }
                double l = 0;
                for (int j = 0; j < seen; j++) { p[j] = Math.Exp(p[j] - m); l += p[j]; }
                for (int c = 0; c < s.Dv; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < seen; j++) acc += p[j] * v[j * a.Vl.StrideT + c];
                    o[(long)i * s.Dv + c] = (float)(acc / l);     // l = 0 (no key seen): NaN, as softmax gives
                }
                lse[i] = (float)(m + Math.Log(l));
            }
        }
    }

    static void V0Backward(in Operands a, in Gradients g)
    {
        var s = a.S;
        var P = new double[(long)s.Tq * s.Tk];
        var dP = new double[s.Tk];
        var dq = new double[s.D];
        var dk = new double[(long)s.Tk * s.D];
        var dv = new double[(long)s.Tk * s.Dv];
        for (int bh = 0; bh < s.Problems; bh++)
        {
            float* q = a.QAt(bh), k = a.KAt(bh), v = a.VAt(bh), dO = g.DOAt(bh, s.H);
            float* dQ = g.DQ + (long)bh * s.Tq * s.D, dK = g.DK + (long)bh * s.Tk * s.D, dV = g.DV + (long)bh * s.Tk * s.Dv;
            long qs = a.Ql.StrideT, ks = a.Kl.StrideT, vs = a.Vl.StrideT, gs = g.DOl.StrideT;
            // P from scratch (not from the saved lse), so that the reference checks V1's lse too.
            for (int i = 0; i < s.Tq; i++)
            {
                int seen = s.Causal ? Math.Min(i + 1, s.Tk) : s.Tk;
                double m = double.NegativeInfinity, l = 0;
                for (int j = 0; j < s.Tk; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < s.D; c++) dot += (double)q[i * qs + c] * k[j * ks + c];
                    P[(long)i * s.Tk + j] = j < seen ? s.Scale * dot : double.NegativeInfinity;
                    if (j < seen) m = Math.Max(m, P[(long)i * s.Tk + j]);
                }
                for (int j = 0; j < s.Tk; j++) { P[(long)i * s.Tk + j] = j < seen ? Math.Exp(P[(long)i * s.Tk + j] - m) : 0; l += P[(long)i * s.Tk + j]; }
                for (int j = 0; j < s.Tk; j++) P[(long)i * s.Tk + j] /= l;
            }
            Array.Clear(dk); Array.Clear(dv);
            for (int i = 0; i < s.Tq; i++)
            {
                double D = 0;
                for (int j = 0; j < s.Tk; j++)
                {
                    double acc = 0;
                    for (int c = 0; c < s.Dv; c++) acc += (double)dO[i * gs + c] * v[j * vs + c];
                    dP[j] = acc;
                    D += P[(long)i * s.Tk + j] * acc;
                }
                Array.Clear(dq);
                for (int j = 0; j < s.Tk; j++)
                {
                    double pij = P[(long)i * s.Tk + j], dS = pij * (dP[j] - D);
                    for (int c = 0; c < s.Dv; c++) dv[(long)j * s.Dv + c] += pij * dO[i * gs + c];
                    for (int c = 0; c < s.D; c++)
                    {
                        dq[c] += dS * k[j * ks + c];
                        dk[(long)j * s.D + c] += dS * q[i * qs + c];
                    }
                }
                for (int c = 0; c < s.D; c++) dQ[(long)i * s.D + c] = (float)(s.Scale * dq[c]);
            }
            for (long e = 0; e < (long)s.Tk * s.D; e++) dK[e] = (float)(s.Scale * dk[e]);
            for (long e = 0; e < (long)s.Tk * s.Dv; e++) dV[e] = (float)dv[e];
        }
    }
}
