// Element-wise operator contracts, in the pattern of System.Numerics.Tensors' internal operator
// structs: each op is a `readonly struct` with static members — a scalar form (used by the GPU
// kernels and by strided/tail loops) and Vector256/Vector512 forms (used by the CPU SIMD loops in
// Cpu/Map.cs). One generic loop per arity consumes them, so adding an op is one small struct.
using System.Runtime.Intrinsics;

namespace Denoise.Kernels.Ops;

/// <summary>y = f(x).</summary>
public interface IUnaryOp
{
    static abstract float Apply(float x);
    static abstract Vector256<float> Apply(Vector256<float> x);
    static abstract Vector512<float> Apply(Vector512<float> x);
}

/// <summary>y = f(a, b). Also used for ops with one scalar parameter (leaky_relu slope, elu alpha, pow exponent).</summary>
public interface IBinaryOp
{
    static abstract float Apply(float a, float b);
    static abstract Vector256<float> Apply(Vector256<float> a, Vector256<float> b);
    static abstract Vector512<float> Apply(Vector512<float> a, Vector512<float> b);
}
