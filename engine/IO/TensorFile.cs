// Tensors ↔ safetensors files (the public format, read by PyTorch, JAX and others; see SafeTensors.cs).
//
//   TensorFile.Save("weights.safetensors", model.StateDict());              // atomic write
//   var (tensors, meta) = TensorFile.Load("weights.safetensors");
//   model.LoadSafetensors("pytorch.safetensors", name => name.Replace("net.", ""));  // a PyTorch state dict with a name map
//
// Float32 and Int32 tensors are written as F32 / I32. Reading converts F16, BF16 and F64 to Float32
// and the integer types to Int32 (range-checked), so half-precision checkpoints from PyTorch load.
using Denoise.NN;

namespace Denoise.IO;

public static class TensorFile
{
    public static SafeTensorEntry ToEntry(string name, Tensor t)
    {
        var shape = t.Shape.ToArray().Select(d => (long)d).ToArray();
        return t.DType == DType.Int32
            ? SafeTensorEntry.FromInt32(name, shape, t.ToIntArray())
            : SafeTensorEntry.FromFloat32(name, shape, t.ToArray());
    }

    /// <summary>A new tensor holding an entry's values (Float32 for float dtypes, Int32 for integer and bool dtypes).</summary>
    public static Tensor FromEntry(SafeTensorEntry e)
    {
        var shape = new int[e.Shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            if (e.Shape[i] > int.MaxValue) throw new SafeTensorsFormatException($"tensor '{e.Name}': dimension {e.Shape[i]} is too large.");
            shape[i] = (int)e.Shape[i];
        }
        // Built 1-D and reshaped, so that a 0-d entry (shape []) stays 0-d.
        if (e.DType.IsFloatingPoint()) { var f = e.ToFloat32Array(); return Tensor.FromArray(f, f.Length).Reshape(shape); }
        var i32 = e.ToInt32Array();
        return Tensor.FromArray(i32, i32.Length).Reshape(shape);
    }

    /// <summary>Writes tensors (and optional string metadata) atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensorsFile.Write(path, tensors.Select(kv => ToEntry(kv.Key, kv.Value)), metadata);

    /// <summary>Reads every tensor of a safetensors file; a malformed file throws SafeTensorsFormatException.</summary>
    public static (Dictionary<string, Tensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        var content = SafeTensorsFile.Read(path);
        var tensors = new Dictionary<string, Tensor>();
        using (TensorScope.Suspend())
            foreach (var e in content.Tensors) tensors[e.Name] = FromEntry(e);
        return (tensors, content.Metadata);
    }

    /// <summary>Saves a module's parameters and buffers.</summary>
    public static void SaveSafetensors(this Module module, string path) => Save(path, module.StateDict());

    /// <summary>Loads parameters and buffers in place; <paramref name="nameMap"/> renames file keys (e.g. a PyTorch prefix) first.</summary>
    public static void LoadSafetensors(this Module module, string path, Func<string, string>? nameMap = null, bool strict = true)
    {
        var (tensors, _) = Load(path);
        var renamed = new Dictionary<string, Tensor>();
        foreach (var (k, v) in tensors)
        {
            var name = nameMap?.Invoke(k) ?? k;
            if (!renamed.TryAdd(name, v)) throw new ArgumentException($"LoadSafetensors: the name map sends two keys of {path} to '{name}'.");
        }
        module.LoadStateDict(renamed, strict);
    }
}
