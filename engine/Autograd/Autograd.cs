// Reverse-mode automatic differentiation with a dynamic tape, as in PyTorch (and micrograd).
//
// Every op that produces a float tensor calls Autograd.Record(op, output, inputs, backward) right
// after computing its forward. If gradients are enabled and some input requires grad, the output
// gets a Node remembering its inputs and a backward rule: a function from the output's gradient to
// one gradient per input. Backward rules are written with ordinary differentiable tensor ops, so
// with createGraph the gradients are themselves on the tape and can be differentiated again
// (WGAN-GP, R1, Jacobian-vector products).
//
// Backward(root): topologically sort the tensors reachable from root, walk them in reverse, call
// each node's rule, and accumulate into a gradient table; leaves that require grad accumulate into
// .Grad. Afterwards the graph is freed (rules and input references dropped) unless retainGraph.
//
// Ops with several outputs (Split, Chunk, Unbind) record one node shared by all of them
// (RecordMulti). Its rule runs once, when the reverse walk has passed every output of it that the
// walk reaches, with each output's gradient (null where none flowed): so splitting x into pieces
// costs one concatenation in the backward, not a zero-padded full-size gradient per piece plus
// the adds that sum them.
namespace Denoise;

/// <summary>One recorded op: its inputs and the rule mapping the output gradient(s) to input gradients.</summary>
internal sealed class Node
{
    public readonly string Op;
    public Tensor[] Inputs;
    public Func<Tensor, Tensor?[]>? Backward;
    /// <summary>Multi-output ops only: every output (each has this node as GradFn) and the rule taking one gradient per output.</summary>
    public Tensor[]? Outputs;
    public Func<Tensor?[], Tensor?[]>? MultiBackward;

    public Node(string op, Tensor[] inputs, Func<Tensor, Tensor?[]> backward) { Op = op; Inputs = inputs; Backward = backward; }

    public Node(string op, Tensor[] inputs, Tensor[] outputs, Func<Tensor?[], Tensor?[]> backward)
    {
        Op = op; Inputs = inputs; Outputs = outputs; MultiBackward = backward;
    }

    public bool Freed => Backward == null && MultiBackward == null;
    public void Free() { Backward = null; MultiBackward = null; Inputs = []; Outputs = null; }

    /// <summary>Which output <paramref name="t"/> is (by reference).</summary>
    public int OutputIndex(Tensor t)
    {
        for (int i = 0; i < Outputs!.Length; i++) if (ReferenceEquals(Outputs[i], t)) return i;
        throw new InvalidOperationException($"'{Op}': tensor {t.ShapeStr} is not one of this node's outputs (an engine bug).");
    }
}

/// <summary>A multi-output node's gradients gathered during one backward walk, and how many of its outputs the walk has yet to pass.</summary>
internal sealed class PendingOutputs(int outputs, int reached)
{
    public readonly Tensor?[] Grads = new Tensor?[outputs];
    public int Remaining = reached;
}

public static class Autograd
{
    [ThreadStatic] static int disabledDepth;

    /// <summary>Whether ops record onto the tape on this thread.</summary>
    public static bool IsEnabled => disabledDepth == 0;

    /// <summary>When on, Backward() checks every gradient for NaN/Inf and names the op that produced it.</summary>
    public static bool DetectAnomalies { get; set; }

    /// <summary><c>using (Autograd.NoGrad()) { … }</c>: nothing inside is recorded (sampling, evaluation, updates).</summary>
    public static GradModeScope NoGrad() { disabledDepth++; return new GradModeScope(restoreTo: disabledDepth - 1); }

    /// <summary>Re-enables recording inside a NoGrad region (used by create-graph backward).</summary>
    public static GradModeScope EnableGrad() { int old = disabledDepth; disabledDepth = 0; return new GradModeScope(restoreTo: old); }

    public readonly struct GradModeScope : IDisposable
    {
        readonly int restoreTo;
        internal GradModeScope(int restoreTo) { this.restoreTo = restoreTo; }
        public void Dispose() => disabledDepth = restoreTo;
    }

    /// <summary>
    /// Attaches a backward rule to <paramref name="output"/> when recording is on and any input
    /// requires grad; returns output. <paramref name="backward"/> receives dL/d(output) (same shape
    /// as output) and returns dL/d(input) for each input, or null where an input needs none.
    /// </summary>
    internal static Tensor Record(string op, Tensor output, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
    {
        if (DetectAnomalies) CheckForwardFinite(op, output, inputs);
        if (Diagnostics.OpProfiler.Enabled) Diagnostics.OpProfiler.OnRecord(op);
        if (!IsEnabled) return output;
        bool any = false;
        foreach (var t in inputs) any |= t.RequiresGrad;
        if (!any) return output;
        output.GradFn = new Node(op, inputs, backward);
        output.requiresGrad = true;
        return output;
    }

    /// <summary>
    /// <see cref="Record"/> for an op with several outputs: one node shared by all of them, whose
    /// <paramref name="backward"/> receives one gradient per output (null for an output no gradient
    /// reached) and returns one per input. It runs once per backward pass, after every output's
    /// gradient is complete.
    /// </summary>
    internal static Tensor[] RecordMulti(string op, Tensor[] outputs, Tensor[] inputs, Func<Tensor?[], Tensor?[]> backward)
    {
        if (DetectAnomalies) foreach (var o in outputs) CheckForwardFinite(op, o, inputs);
        if (Diagnostics.OpProfiler.Enabled) Diagnostics.OpProfiler.OnRecord(op);
        if (!IsEnabled) return outputs;
        bool any = false;
        foreach (var t in inputs) any |= t.RequiresGrad;
        if (!any) return outputs;
        var node = new Node(op, inputs, (Tensor[])outputs.Clone(), backward);   // a copy: callers may replace the returned array's entries
        foreach (var o in outputs) { o.GradFn = node; o.requiresGrad = true; }
        return outputs;
    }

    /// <summary>
    /// Gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/> (like
    /// torch.autograd.grad). Does not touch .Grad. With createGraph the results are on the tape.
    /// </summary>
    public static Tensor?[] Grad(Tensor[] outputs, Tensor[] inputs, Tensor[]? gradOutputs = null,
        bool createGraph = false, bool? retainGraph = null, bool allowUnused = false)
    {
        var wanted = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].RequiresGrad)
                throw new InvalidOperationException($"Autograd.Grad: input {i}{inputs[i].NameSuffix} of shape {inputs[i].ShapeStr} does not require grad.");
            wanted[inputs[i]] = i;
        }
        var result = new Tensor?[inputs.Length];
        Run(outputs, gradOutputs, retainGraph ?? createGraph, createGraph, accumulateLeaves: false, wanted, result);
        if (!allowUnused)
            for (int i = 0; i < inputs.Length; i++)
                if (result[i] == null)
                    throw new InvalidOperationException($"Autograd.Grad: input {i}{inputs[i].NameSuffix} of shape {inputs[i].ShapeStr} is not used by the outputs (pass allowUnused: true to get null).");
        return result;
    }

    /// <summary>
    /// Jacobian-vector product J·v of y = f(x) by the double-backward trick: with a dummy cotangent u
    /// (requires grad), g(u) = Jᵀu is linear in u, so d⟨g(u), v⟩/du = J·v. Costs two backward passes.
    /// </summary>
    public static (Tensor y, Tensor jvp) Jvp(Func<Tensor, Tensor> f, Tensor x, Tensor v)
    {
        if (!ShapeUtil.Equal(x.Shape, v.Shape)) throw new ArgumentException($"Jvp: tangent of shape {v.ShapeStr} does not match input {x.ShapeStr}.");
        using var _ = EnableGrad();
        var xi = x.Detach().RequiresGrad_();
        var y = f(xi);
        var u = Tensor.ZerosLike(y).RequiresGrad_();
        var g = Grad([y], [xi], [u], createGraph: true)[0]!;
        var jv = Grad([(g * v).Sum()], [u])[0]!;
        return (y.Detach(), jv);
    }

    internal static void Backward(Tensor root, Tensor? grad, bool retainGraph, bool createGraph) =>
        Run([root], grad == null ? null : [grad], retainGraph, createGraph, accumulateLeaves: true, null, null);

    static void Run(Tensor[] roots, Tensor[]? rootGrads, bool retainGraph, bool createGraph, bool accumulateLeaves,
        Dictionary<Tensor, int>? wanted, Tensor?[]? wantedGrads)
    {
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        for (int r = 0; r < roots.Length; r++)
        {
            var root = roots[r];
            if (!root.RequiresGrad)
                throw new InvalidOperationException($"Backward: tensor{root.NameSuffix} of shape {root.ShapeStr} does not require grad and has no grad_fn " +
                    "(was it computed under NoGrad, detached, or from inputs that do not require grad?).");
            Tensor g;
            if (rootGrads != null && rootGrads[r] != null)
            {
                g = rootGrads[r];
                if (!ShapeUtil.Equal(g.Shape, root.Shape))
                    throw new ArgumentException($"Backward: gradient of shape {g.ShapeStr} given for tensor of shape {root.ShapeStr}; they must match.");
            }
            else
            {
                if (root.Numel != 1)
                    throw new InvalidOperationException($"Backward: tensor{root.NameSuffix} of shape {root.ShapeStr} is not a scalar; pass the upstream gradient explicitly.");
                using (NoGrad()) g = Tensor.OnesLike(root);
            }
            if (DetectAnomalies && root.DType == DType.Float32 && !AllFinite(root))
                throw new ArithmeticException($"Backward: the loss{root.NameSuffix} of shape {root.ShapeStr} produced by '{root.GradFn?.Op}' is not finite ({string.Join(", ", root.ToArray().Where(v => !float.IsFinite(v)).Take(3))}) (Autograd.DetectAnomalies is on).");
            grads[root] = grads.TryGetValue(root, out var prev) ? Accumulate(prev, g, createGraph) : g;
        }

        bool profile = Diagnostics.OpProfiler.Enabled;
        if (profile) Diagnostics.OpProfiler.BeginBackward();
        var order = TopologicalOrder(roots);
        // Multi-output nodes: how many of each one's outputs this walk passes (its rule runs at the last).
        Dictionary<Node, PendingOutputs>? pending = null;
        foreach (var t in order)
            if (t.GradFn is { Outputs: { } outs } n)
            {
                pending ??= new(ReferenceEqualityComparer.Instance);
                if (pending.TryGetValue(n, out var p)) p.Remaining++;
                else pending[n] = new PendingOutputs(outs.Length, 1);
            }
        if (profile) Diagnostics.OpProfiler.EndBackward("(tape: topological sort)");
        using var mode = createGraph ? EnableGrad() : NoGrad();
        for (int k = order.Count - 1; k >= 0; k--)
        {
            var t = order[k];
            bool flowed = grads.Remove(t, out var g);
            if (flowed)
            {
                if (t.hooks != null)
                    foreach (var hook in t.hooks) g = hook(g!) ?? g;
                if (wanted != null && wanted.TryGetValue(t, out int wi)) wantedGrads![wi] = g;
            }

            var node = t.GradFn;
            Tensor?[] inputGrads;
            if (node?.Outputs != null)
            {
                // One output of a multi-output op: gather its gradient; run the rule after the last one.
                var p = pending![node];
                if (flowed) p.Grads[node.OutputIndex(t)] = g;
                if (--p.Remaining > 0 || Array.TrueForAll(p.Grads, x => x == null)) continue;
                if (profile) Diagnostics.OpProfiler.BeginBackward();
                inputGrads = node.MultiBackward!(p.Grads);
            }
            else
            {
                if (!flowed) continue;
                if (node == null)
                {
                    if (!accumulateLeaves) continue;
                    if (profile) Diagnostics.OpProfiler.BeginBackward();
                    t.AccumulateGrad(g!, createGraph);
                    if (profile) Diagnostics.OpProfiler.EndBackward("(leaf grad accumulate)");
                    continue;
                }
                if (node.Freed)
                    throw new InvalidOperationException($"Backward: the graph through '{node.Op}' was already freed by an earlier backward; pass retainGraph: true to the first call.");
                if (profile) Diagnostics.OpProfiler.BeginBackward();
                inputGrads = node.Backward!(g!);
            }
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                var x = node.Inputs[i];
                var gx = inputGrads[i];
                if (gx == null || !x.RequiresGrad) continue;
                if (!ShapeUtil.Equal(gx.Shape, x.Shape))
                    throw new InvalidOperationException($"Backward of '{node.Op}': gradient for input {i} has shape {gx.ShapeStr}, input has {x.ShapeStr} (a bug in the op's rule).");
                // A CPU 0-d input of a GPU op (a learnable scalar) gets its gradient back on the CPU, as in PyTorch.
                if (gx.Device != x.Device) gx = gx.To(x.Device);
                if (DetectAnomalies) CheckFinite(gx, node.Op, i);
                grads[x] = grads.TryGetValue(x, out var acc) ? Accumulate(acc, gx, createGraph) : gx;
            }
            if (!retainGraph) node.Free();
            if (profile) Diagnostics.OpProfiler.EndBackward(node.Op);
        }
        if (profile) Diagnostics.OpProfiler.Mark();
    }

    static Tensor Accumulate(Tensor a, Tensor b, bool createGraph) => a + b;

    /// <summary>With DetectAnomalies on, the first op whose output holds NaN/Inf while its inputs do not is named.</summary>
    static void CheckForwardFinite(string op, Tensor output, Tensor[] inputs)
    {
        if (output.DType != DType.Float32 || AllFinite(output)) return;
        foreach (var x in inputs) if (x.DType == DType.Float32 && !AllFinite(x)) return; // propagated, not produced here
        throw new ArithmeticException($"'{op}' produced a non-finite value from finite inputs of shapes " +
            $"{string.Join(", ", inputs.Select(x => x.ShapeStr))} → {output.ShapeStr} (Autograd.DetectAnomalies is on).");
    }

    static bool AllFinite(Tensor t)
    {
        foreach (var v in t.ToArray()) if (!float.IsFinite(v)) return false;
        return true;
    }

    static void CheckFinite(Tensor g, string op, int input)
    {
        foreach (var v in g.ToArray())
            if (!float.IsFinite(v))
                throw new ArithmeticException($"Backward of '{op}' produced a non-finite gradient ({v}) for input {input} of shape {g.ShapeStr} (Autograd.DetectAnomalies is on).");
    }

    /// <summary>Tensors reachable from the roots through requires-grad edges, inputs before users.
    /// Iterative DFS: a 10,000-op chain must not overflow the stack.</summary>
    static List<Tensor> TopologicalOrder(Tensor[] roots)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor t, int next)>();
        foreach (var root in roots)
        {
            if (!visited.Add(root)) continue;
            stack.Push((root, 0));
            while (stack.Count > 0)
            {
                var (t, next) = stack.Pop();
                var inputs = t.GradFn?.Inputs ?? [];
                if (next < inputs.Length)
                {
                    stack.Push((t, next + 1));
                    var x = inputs[next];
                    if (x.RequiresGrad && visited.Add(x)) stack.Push((x, 0));
                }
                else order.Add(t);
            }
        }
        return order;
    }
}
