#!/usr/bin/env bash
# Denoise vs the PyTorch peer on the WORKLOADS (shared/bench/WORKLOADS.md), one after the other in
# one invocation, with the same arguments, then one table per key:
#   key · Denoise ms · PyTorch ms · ratio (Denoise time / PyTorch time; < 1: Denoise is faster)
#   · GFLOP/s of each where the workload has a FLOP count · Denoise as % of the measured 2-thread peak.
# Timings on a shared 2-core machine wander; a ratio from one invocation is what to quote.
# Run (from anywhere):  bench/compare.sh [--only K1,K2,M3] [--quick] [--threads 1 | --cpu-time]
# (--cpu-time: both engines on one thread, timed by that thread's CPU time: robust to machine load)
# (--threads 1: both engines on one core; on a machine loaded far beyond its cores PyTorch's OpenMP
# threads collapse, and single-core figures are the comparable ones)
# Needs the peer installed once: bench/peer/setup.sh. The raw JSON of both runs is kept in $OUT_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/denoise-compare.XXXXXX")}"
mkdir -p "$OUT_DIR"

. "$ROOT/bench/peer/env.sh"   # sets PEER_PYTHON and the peer's environment; harmless for .NET
if ! "$PEER_PYTHON" -c "import torch" 2>/dev/null; then
  echo "compare: the PyTorch peer is not installed; run bench/peer/setup.sh first." >&2; exit 1
fi

dotnet build "$ROOT/bench" -c Release -v q -nologo >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
(cd "$ROOT" && env -u LD_LIBRARY_PATH -u OMP_NUM_THREADS -u GLIBC_TUNABLES \
   dotnet run -c Release --no-build --project bench -- workloads "$@") > "$OUT_DIR/denoise.json"
(cd "$ROOT" && "$PEER_PYTHON" bench/peer/workloads.py "$@") > "$OUT_DIR/pytorch.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$PEER_PYTHON" - "$OUT_DIR/denoise.json" "$OUT_DIR/pytorch.json" <<'PY'
import json, sys
dn, pt = (json.load(open(p)) for p in sys.argv[1:3])
peak = dn.get("peak_gflops_2t")
print(f"machine: {dn['machine']} · Denoise threads {dn['threads']} · PyTorch {pt.get('torch', '?')} threads {pt['threads']}")
print(f"measured peak FP32 FMA: {dn.get('peak_gflops_1t')} GFLOP/s (1 thread), {peak} GFLOP/s (2 threads); "
      f"triad {dn.get('triad_gbps')} GB/s")
print()
print("| key | Denoise ms | PyTorch ms | ratio D/PT | Denoise GFLOP/s | PyTorch GFLOP/s | Denoise % peak |")
print("|---|---:|---:|---:|---:|---:|---:|")
keys = list(dn["results"]) + [k for k in pt["results"] if k not in dn["results"]]
fmt = lambda v: "—" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")
for k in keys:
    d, p = dn["results"].get(k, {}), pt["results"].get(k, {})
    dm, pm = d.get("ms"), p.get("ms")
    ratio = f"{dm / pm:.2f}" if dm and pm else "—"
    dg, pg = d.get("gflops"), p.get("gflops")
    pct = f"{100 * dg / peak:.0f}%" if dg and peak else ""
    print(f"| {k} | {fmt(dm)} | {fmt(pm)} | {ratio} | {dg if dg is not None else ''} | {pg if pg is not None else ''} | {pct} |")
PY
echo "raw JSON: $OUT_DIR/denoise.json, $OUT_DIR/pytorch.json" >&2
