// Seedable random number generator over the counter-based Philox4x32-10 (kernels/Random/Philox.cs).
//
// State is just (seed, offset): each draw of n numbers reads Philox blocks offset … offset+⌈n/4⌉−1
// and advances the offset. So the stream is bit-identical run after run, can be saved in a
// checkpoint as two integers, and a GPU kernel can reproduce any draw from (seed, offset) alone.
using Denoise.Kernels;

namespace Denoise;

public sealed class Generator
{
    public ulong Seed { get; private set; }
    /// <summary>Philox blocks consumed so far.</summary>
    public ulong Offset { get; set; }

    public Generator(ulong seed = 0) { Seed = seed; }

    /// <summary>The process-wide default generator used when none is passed (seed 0 until ManualSeed).</summary>
    public static Generator Default { get; } = new(0);

    /// <summary>Reseeds the default generator (like torch.manual_seed).</summary>
    public static void ManualSeed(ulong seed) => Default.Reset(seed);

    public void Reset(ulong seed) { Seed = seed; Offset = 0; }

    public (ulong seed, ulong offset) GetState() => (Seed, Offset);
    public void SetState(ulong seed, ulong offset) { Seed = seed; Offset = offset; }

    internal ulong Advance(int n)
    {
        ulong o = Offset;
        Offset += Philox.CountersUsed(n);
        return o;
    }

    public void FillUniform(Span<float> dst) => Philox.FillUniform(dst, Seed, Advance(dst.Length));
    public void FillNormal(Span<float> dst) => Philox.FillNormal(dst, Seed, Advance(dst.Length));
    public void FillInt(Span<int> dst, int low, int high) => Philox.FillInt(dst, low, high, Seed, Advance(dst.Length));

    /// <summary>One uniform float in [0, 1).</summary>
    public float NextFloat() { Span<float> one = stackalloc float[1]; FillUniform(one); return one[0]; }

    /// <summary>One integer in [low, high).</summary>
    public int NextInt(int low, int high) { Span<int> one = stackalloc int[1]; FillInt(one, low, high); return one[0]; }
}
