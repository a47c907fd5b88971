// TensorScope: the owner of intermediate tensors.
//
//   for (int step = 0; step < steps; step++)
//   {
//       using var scope = TensorScope.Begin();   // every tensor created below belongs to the scope
//       var loss = model.Loss(batch);
//       optimizer.ZeroGrad(); loss.Backward(); optimizer.Step();
//   }                                             // its storage goes back to the pool here
//
// Parameters, gradients (.Grad) and optimizer state are created outside any scope (or under
// TensorScope.Suspend()) and live as long as their owner. A tensor that must outlive the scope —
// the new x of a sampling loop — leaves with scope.Keep(x). Tensors created with no scope open are
// ordinary GC-managed memory. Scopes nest; they are per thread.
namespace Denoise;

public sealed class TensorScope : IDisposable
{
    [ThreadStatic] static TensorScope? current;

    readonly TensorScope? parent;
    readonly bool suspended;
    List<Storage>? owned = new();
    HashSet<Storage>? kept;

    TensorScope(TensorScope? parent, bool suspended) { this.parent = parent; this.suspended = suspended; }

    /// <summary>Opens a scope: tensors created until it is disposed are released with it.</summary>
    public static TensorScope Begin() => current = new TensorScope(current, suspended: false);

    /// <summary>Opens a region whose tensors belong to no scope (persistent state such as optimizer moments).</summary>
    public static TensorScope Suspend() => current = new TensorScope(current, suspended: true);

    /// <summary>The number of storages the innermost scope owns (for tests and memory reports).</summary>
    public static int CurrentOwnedCount => current?.owned?.Count ?? 0;

    internal static void Register(Storage s)
    {
        var scope = current;
        if (scope == null || scope.suspended) return;
        scope.owned!.Add(s);
    }

    /// <summary>Moves <paramref name="t"/>'s storage out of this scope into the enclosing one (or, at
    /// the outermost scope, to the GC), so it stays valid after this scope ends. Returns t.</summary>
    public Tensor Keep(Tensor t)
    {
        if (owned == null) throw new ObjectDisposedException(nameof(TensorScope));
        (kept ??= new HashSet<Storage>(ReferenceEqualityComparer.Instance)).Add(t.Storage);
        return t;
    }

    public void Dispose()
    {
        if (owned == null) return;
        if (current != this)
            throw new InvalidOperationException("TensorScope disposed out of order: dispose inner scopes first (use `using`).");
        current = parent;
        foreach (var s in owned)
        {
            if (kept != null && kept.Contains(s))
            {
                if (parent != null && !parent.suspended) parent.owned!.Add(s);
                continue;
            }
            s.Release();
        }
        owned = null;
        kept = null;
    }
}
