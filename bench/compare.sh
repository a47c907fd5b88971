#!/usr/bin/env bash
# Denoise vs the PyTorch peer on the WORKLOADS (shared/bench/WORKLOADS.md), one after the other in
# one invocation, with the same arguments, then one table per key:
#   key · Denoise ms · PyTorch ms · ratio (Denoise time / PyTorch time; < 1: Denoise is faster)
#   · GFLOP/s of each where the workload has a FLOP count · Denoise as % of the measured 2-thread peak.
# Timings on a shared 2-core machine wander; a ratio from one invocation is what to quote.
# K2's GFLOP/s count the direct convolution's FLOPs (2·N·Cout·P·Cin·9 per map) for both engines: Denoise's Winograd
# maps (conv V8) do 2.25× fewer multiply-adds, so their effective rate can read above the FMA peak.
# Run (from anywhere):  bench/compare.sh [--rounds N] [--only K1,K2,M3] [--quick] [--threads 1 | --cpu-time]
# (--rounds N: the two engines take turns N times (D, P, D, P, …); each key's time is the best of its N
# medians, and the table adds the spread of the N per-round ratios: drift in the machine's load then
# hits both engines, where one long run of each can catch a quiet and a busy window)
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

ROUNDS=1
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="${2:?--rounds needs a number}"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
case "$ROUNDS" in ''|*[!0-9]*|0) echo "compare: --rounds must be a positive integer, got '$ROUNDS'." >&2; exit 2 ;; esac

dotnet build "$ROOT/bench" -c Release -v q -nologo >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
  (cd "$ROOT" && env -u LD_LIBRARY_PATH -u OMP_NUM_THREADS -u GLIBC_TUNABLES \
     dotnet run -c Release --no-build --project bench -- workloads "${ARGS[@]}") > "$OUT_DIR/denoise.$r.json"
  (cd "$ROOT" && "$PEER_PYTHON" bench/peer/workloads.py "${ARGS[@]}") > "$OUT_DIR/pytorch.$r.json"
  [ "$ROUNDS" -gt 1 ] && echo "round $r of $ROUNDS done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$PEER_PYTHON" - "$OUT_DIR" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = [(json.load(open(f"{out}/denoise.{r}.json")), json.load(open(f"{out}/pytorch.{r}.json"))) for r in range(1, rounds + 1)]

def best(engine):
    """The first round's header with each key's result taken from the round with the smallest median."""
    merged = dict(runs[0][engine]); merged["results"] = {}
    for run in runs:
        for k, v in run[engine]["results"].items():
            if k not in merged["results"] or v.get("ms", float("inf")) < merged["results"][k].get("ms", float("inf")):
                merged["results"][k] = v
    return merged

dn, pt = best(0), best(1)
def spread(k):
    rs = [d["results"][k]["ms"] / p["results"][k]["ms"] for d, p in runs
          if d["results"].get(k, {}).get("ms") and p["results"].get(k, {}).get("ms")]
    return f"{min(rs):.2f}–{max(rs):.2f}" if rs else "—"
peak = dn.get("peak_gflops_2t")
print(f"machine: {dn['machine']} · Denoise threads {dn['threads']} · PyTorch {pt.get('torch', '?')} threads {pt['threads']}")
print(f"measured peak FP32 FMA: {dn.get('peak_gflops_1t')} GFLOP/s (1 thread), {peak} GFLOP/s (2 threads); "
      f"triad {dn.get('triad_gbps')} GB/s")
print()
if rounds > 1:
    print(f"best of {rounds} alternating rounds per engine and key; 'per round' is the range of the {rounds} rounds' ratios")
    print()
print("| key | Denoise ms | PyTorch ms | ratio D/PT | Denoise GFLOP/s | PyTorch GFLOP/s | Denoise % peak |" + (" per round |" if rounds > 1 else ""))
print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if rounds > 1 else ""))
keys = list(dn["results"]) + [k for k in pt["results"] if k not in dn["results"]]
fmt = lambda v: "—" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")
for k in keys:
    d, p = dn["results"].get(k, {}), pt["results"].get(k, {})
    dm, pm = d.get("ms"), p.get("ms")
    ratio = f"{dm / pm:.2f}" if dm and pm else "—"
    dg, pg = d.get("gflops"), p.get("gflops")
    pct = f"{100 * dg / peak:.0f}%" if dg and peak else ""
    print(f"| {k} | {fmt(dm)} | {fmt(pm)} | {ratio} | {dg if dg is not None else ''} | {pg if pg is not None else ''} | {pct} |"
          + (f" {spread(k)} |" if rounds > 1 else ""))
PY
echo "raw JSON: $OUT_DIR/denoise.N.json, $OUT_DIR/pytorch.N.json (N = 1…$ROUNDS)" >&2
