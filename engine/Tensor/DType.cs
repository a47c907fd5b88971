namespace Denoise;

/// <summary>Element types. Float32 is the type of everything differentiable; Int32 holds labels,
/// token ids and indices for the ops that take them (gather, index_select, embedding, cross-entropy).</summary>
public enum DType { Float32, Int32 }
