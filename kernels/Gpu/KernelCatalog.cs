// KernelCatalog.cs — every GPU kernel entry point in this assembly as a concrete MethodInfo, for the
// test that compiles all of them to PTX and OpenCL C with no device present, and for the bench's
// PTX dump. A kernel added to kernels/Gpu without a line here is not compile-checked: add it.
using System.Reflection;
using Denoise.Kernels.Ops;

namespace Denoise.Kernels.Gpu;

public static class KernelCatalog
{
    /// <summary>(name, kernel method) for every kernel, generic ones instantiated for every op / layout.</summary>
    public static IEnumerable<(string Name, MethodInfo Method)> All()
    {
        var asm = typeof(KernelCatalog).Assembly;
        var ops = asm.GetTypes().Where(t => t.IsValueType && t.Namespace == typeof(IUnaryOp).Namespace).OrderBy(t => t.Name).ToList();
        foreach (var op in ops.Where(typeof(IUnaryOp).IsAssignableFrom))
        {
            yield return ($"Map.Unary<{op.Name}>", Generic(typeof(Map), nameof(Map.UnaryKernel), op));
            yield return ($"Strided.Unary<{op.Name}>", Generic(typeof(Strided), nameof(Strided.UnaryKernel), op));
        }
        foreach (var op in ops.Where(typeof(IBinaryOp).IsAssignableFrom))
        {
            yield return ($"Map.Binary<{op.Name}>", Generic(typeof(Map), nameof(Map.BinaryKernel), op));
            yield return ($"Map.BinaryScalarA<{op.Name}>", Generic(typeof(Map), nameof(Map.BinaryScalarAKernel), op));
            yield return ($"Map.BinaryScalarB<{op.Name}>", Generic(typeof(Map), nameof(Map.BinaryScalarBKernel), op));
            yield return ($"Strided.Binary<{op.Name}>", Generic(typeof(Strided), nameof(Strided.BinaryKernel), op));
            yield return ($"Strided.Scalar<{op.Name}>", Generic(typeof(Strided), nameof(Strided.ScalarKernel), op));
        }
        yield return ("Strided.CopyInt", Plain(typeof(Strided), nameof(Strided.CopyIntKernel)));
        yield return ("Strided.Where", Plain(typeof(Strided), nameof(Strided.WhereKernel)));
        yield return ("Strided.Fill", Plain(typeof(Strided), nameof(Strided.FillKernel)));
        yield return ("Strided.ColSum", Plain(typeof(Strided), nameof(Strided.ColSumKernel)));
        yield return ("Conv2d.Im2Col", Plain(typeof(Conv2d), nameof(Conv2d.Im2ColKernel)));
        yield return ("Conv2d.Col2Im", Plain(typeof(Conv2d), nameof(Conv2d.Col2ImKernel)));
        yield return ("Conv2d.ImplicitGemm", Plain(typeof(Conv2d), nameof(Conv2d.ImplicitGemmKernel)));
        yield return ("GroupNorm.Forward", Plain(typeof(GroupNorm), nameof(GroupNorm.ForwardKernel)));
        yield return ("GroupNorm.Backward", Plain(typeof(GroupNorm), nameof(GroupNorm.BackwardKernel)));
        yield return ("Softmax.Forward", Plain(typeof(Softmax), nameof(Softmax.ForwardKernel)));
        yield return ("Softmax.Backward", Plain(typeof(Softmax), nameof(Softmax.BackwardKernel)));
        yield return ("LayerNorm.Forward", Plain(typeof(LayerNorm), nameof(LayerNorm.ForwardKernel)));
        yield return ("LayerNorm.Backward", Plain(typeof(LayerNorm), nameof(LayerNorm.BackwardKernel)));
        yield return ("LayerNorm.ParamPartials", Plain(typeof(LayerNorm), nameof(LayerNorm.ParamPartialsKernel)));
        yield return ("FlashAttention.Forward", Plain(typeof(FlashAttention), nameof(FlashAttention.ForwardKernel)));
        yield return ("FlashAttention.RowDot", Plain(typeof(FlashAttention), nameof(FlashAttention.RowDotKernel)));
        yield return ("FlashAttention.KeyGrads", Plain(typeof(FlashAttention), nameof(FlashAttention.KeyGradsKernel)));
        yield return ("FlashAttention.QueryGrads", Plain(typeof(FlashAttention), nameof(FlashAttention.QueryGradsKernel)));
        yield return ("FlashAttention.V2Forward", Plain(typeof(FlashAttention), nameof(FlashAttention.V2ForwardKernel)));
        yield return ("FlashAttention.V2KeyGrads", Plain(typeof(FlashAttention), nameof(FlashAttention.V2KeyGradsKernel)));
        yield return ("FlashAttention.V2QueryGrads", Plain(typeof(FlashAttention), nameof(FlashAttention.V2QueryGradsKernel)));
        yield return ("IndexRows.Select<Single>", Generic(typeof(IndexRows), nameof(IndexRows.SelectKernel), typeof(float)));
        yield return ("IndexRows.Select<Int32>", Generic(typeof(IndexRows), nameof(IndexRows.SelectKernel), typeof(int)));
        yield return ("IndexRows.OneHot", Plain(typeof(IndexRows), nameof(IndexRows.OneHotKernel)));
        yield return ("IndexRows.GatherLast", Plain(typeof(IndexRows), nameof(IndexRows.GatherLastKernel)));
        yield return ("IndexRows.ScatterAddLast", Plain(typeof(IndexRows), nameof(IndexRows.ScatterAddLastKernel)));
        yield return ("IndexRows.Add", Plain(typeof(IndexRows), nameof(IndexRows.AddKernel)));
        yield return ("Pool.MaxForward", Plain(typeof(Pool), nameof(Pool.MaxForwardKernel)));
        yield return ("Pool.AvgForward", Plain(typeof(Pool), nameof(Pool.AvgForwardKernel)));
        yield return ("Pool.AvgAdjoint", Plain(typeof(Pool), nameof(Pool.AvgAdjointKernel)));
        yield return ("Reduce.RowSum", Plain(typeof(Reduce), nameof(Reduce.RowSumKernel)));
        yield return ("Reduce.PartialSum", Plain(typeof(Reduce), nameof(Reduce.PartialSumKernel)));
        yield return ("Reduce.RowMax", Plain(typeof(Reduce), nameof(Reduce.RowMaxKernel)));
        foreach (var (version, kernel) in GemmKernels)
            foreach (var a in new[] { typeof(NoTrans), typeof(Trans) })
                foreach (var b in new[] { typeof(NoTrans), typeof(Trans) })
                    yield return ($"Gemm.{version}<{a.Name},{b.Name}>", Generic(typeof(Gemm), kernel, a, b));
        yield return ("Philox.Bits", Plain(typeof(PhiloxKernel), nameof(PhiloxKernel.BitsKernel)));
        yield return ("Philox.Uniform", Plain(typeof(PhiloxKernel), nameof(PhiloxKernel.UniformKernel)));
        yield return ("Philox.Normal", Plain(typeof(PhiloxKernel), nameof(PhiloxKernel.NormalKernel)));
        yield return ("Adam.Step", Plain(typeof(AdamKernel), nameof(AdamKernel.StepKernel)));
        yield return ("Sgd.Step", Plain(typeof(SgdKernel), nameof(SgdKernel.StepKernel)));
        // gpu-cover: the ops that used to fall back to the host
        yield return ("Rmsprop.Step", Plain(typeof(RmspropKernel), nameof(RmspropKernel.StepKernel)));
        yield return ("Ema.Lerp", Plain(typeof(EmaKernel), nameof(EmaKernel.LerpKernel)));
        yield return ("GatherScatter.Gather", Plain(typeof(GatherScatter), nameof(GatherScatter.GatherKernel)));
        yield return ("GatherScatter.ScatterAdd", Plain(typeof(GatherScatter), nameof(GatherScatter.ScatterAddKernel)));
        yield return ("GatherScatter.RangeCheck", Plain(typeof(GatherScatter), nameof(GatherScatter.RangeCheckKernel)));
        yield return ("Scan.Line", Plain(typeof(Scan), nameof(Scan.LineKernel)));
        yield return ("TopK.Rows", Plain(typeof(TopK), nameof(TopK.RowsKernel)));
        yield return ("TopK.ArgExtreme", Plain(typeof(TopK), nameof(TopK.ArgExtremeKernel)));
        yield return ("Multinomial.Rows", Plain(typeof(MultinomialKernel), nameof(MultinomialKernel.RowsKernel)));
        yield return ("Linalg.Lu", Plain(typeof(Linalg), nameof(Linalg.LuKernel)));
        yield return ("IntOps.AddScalar", Plain(typeof(IntOps), nameof(IntOps.AddScalarKernel)));
    }

    static readonly (GpuGemmVersion, string)[] GemmKernels =
    [
        (GpuGemmVersion.V0Naive, nameof(Gemm.V0NaiveKernel)),
        (GpuGemmVersion.V1Tiled, nameof(Gemm.V1TiledKernel)),
        (GpuGemmVersion.V2Register, nameof(Gemm.V2RegisterKernel)),
        (GpuGemmVersion.V3Register8, nameof(Gemm.V3Register8Kernel)),
    ];

    static MethodInfo Plain(Type t, string name) => t.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!;
    static MethodInfo Generic(Type t, string name, params Type[] args) => Plain(t, name).MakeGenericMethod(args);
}
