#!/usr/bin/env bash
# run-on-device.sh — the GPU run, on a machine with the NVIDIA driver, CUDA and PyTorch but no .NET SDK.
# Needs publish/gpubench/GpuBench from bench/gpu/publish.sh (carried over, git-ignored).
# Writes into $OUT (default out/gpu): nvidia-smi.txt, gpubench.json (+ .log), ptx/*.ptx,
# ptxas.txt (registers/spills of every kernel at sm_90, when ptxas exists), torch_gemm.json (+ .log),
# torch_fused.json (SDPA, layer_norm, softmax at the K4/M3 shapes), summary.txt (our GFLOP/s next to
# cuBLAS FP32 and TF32; our fused attention / LayerNorm / softmax next to PyTorch's), gpubench_models.json
# (+ .log) and torch_models.json (+ .log): the WORKLOADS M1–M4 steps/samplers, ours vs PyTorch eager, printed in
# summary.txt with the ratio next to issue 4's targets (M1 step ≤ 2×, M2 and M3 ≤ 1× PyTorch eager's time).
# Each step runs even if an earlier one fails (ILGPU issue #1540 reports crashes on H100: this run is the first
# check of 1.5.3 there).
#
# Run (repo root on the device): bash bench/gpu/run-on-device.sh        (DEVICE=cuda:1 picks another GPU;
#                                  the default is the first CUDA device, as Device.Best would pick)
#   PARTS=kernels | PARTS=models | PARTS="kernels models" (default): the kernel figures (GEMM, Map, fused ops;
#   up to ~12 min with every timeout hit) and the model figures (up to ~9 min) can be run as two commands
#   when one command may last only 10 minutes; the summary reads whatever JSON files exist in $OUT.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1

PARTS=${PARTS:-kernels models}
has() { case " $PARTS " in *" $1 "*) return 0;; *) return 1;; esac; }

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
head -15 "$OUT/nvidia-smi.txt"
BIN=publish/gpubench/GpuBench
[ -x "$BIN" ] || chmod +x "$BIN" 2>/dev/null

if has kernels; then

# 1. our kernels: parity on CUDA, GEMM and Map timings, PTX of every loaded kernel
if [ -x "$BIN" ]; then
  timeout 420 "$BIN" ${DEVICE:+--device "$DEVICE"} --skip models --out "$OUT/gpubench.json" --ptx-dir "$OUT/ptx" > /dev/null 2> "$OUT/gpubench.log"
  echo "GpuBench exit code: $?" | tee -a "$OUT/gpubench.log"
  tail -30 "$OUT/gpubench.log"
else
  echo "missing $BIN: run bench/gpu/publish.sh and carry publish/gpubench" | tee "$OUT/gpubench.log"
fi

# 2. ptxas check of the PTX ILGPU produced (registers, spills, shared memory per kernel)
PTXAS=$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null || true)
if [ -n "$PTXAS" ] && [ -d "$OUT/ptx" ]; then
  for f in "$OUT"/ptx/*.ptx; do
    [ -f "$f" ] || continue
    echo "== $(basename "$f")"; "$PTXAS" -arch=sm_90 -v -o /dev/null "$f" 2>&1 | grep -E "registers|spill|error" | head -4
  done > "$OUT/ptxas.txt" 2>&1
  grep -A2 "V3Register8_NoTrans_NoTrans" "$OUT/ptxas.txt" | head -4
fi

# 3. the peer: torch.matmul fp32 with TF32 off and on
timeout 150 python3 bench/peer/gpu_gemm.py --out "$OUT/torch_gemm.json" > /dev/null 2> "$OUT/torch_gemm.log"
echo "torch exit code: $?"; cat "$OUT/torch_gemm.log"

# 3b. the peer for the fused ops: SDPA at the K4 shapes, layer_norm, softmax (fp32)
timeout 150 python3 bench/peer/gpu_fused.py --out "$OUT/torch_fused.json" > /dev/null 2> "$OUT/torch_fused.log"
echo "torch fused exit code: $?"; cat "$OUT/torch_fused.log"
fi   # kernels

if has models; then
# 3c. the WORKLOADS models (M1–M4) on the device: ours (the engine through Device.Parse), then PyTorch eager
if [ -x "$BIN" ]; then
  timeout 300 "$BIN" ${DEVICE:+--device "$DEVICE"} --only models --out "$OUT/gpubench_models.json" > /dev/null 2> "$OUT/gpubench_models.log"
  echo "GpuBench models exit code: $?" | tee -a "$OUT/gpubench_models.log"
  grep -E "^models: .*(: \{|failed)" "$OUT/gpubench_models.log" | cut -c1-300
else
  echo "missing $BIN: run bench/gpu/publish.sh and carry publish/gpubench" | tee "$OUT/gpubench_models.log"
fi
TORCH_DEV=cuda; case "${DEVICE:-}" in cuda:*) TORCH_DEV=$DEVICE;; esac
timeout 240 python3 bench/peer/gpu_models.py --device "$TORCH_DEV" --budget 10 --out "$OUT/torch_models.json" > /dev/null 2> "$OUT/torch_models.log"
echo "torch models exit code: $?"; cat "$OUT/torch_models.log"
fi   # models

# 4. side by side
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f: return json.load(f)
    except Exception as e: return {"error": repr(e)}
ours, torch = load("gpubench.json"), load("torch_gemm.json")
print("device:", ours.get("device"), "| torch:", torch.get("device"), torch.get("torch"))
ref = {(g["n"], g["tf32"]): g["gflops"] for g in torch.get("gemm", [])}
print(f'{"version":<12}{"op":<4}{"n":>6}{"GFLOP/s":>10}{"% cuBLAS fp32":>15}{"% cuBLAS tf32":>15}')
for g in ours.get("gemm", []):
    f32, t32 = ref.get((g["n"], False)), ref.get((g["n"], True))
    pct = lambda r: f'{100 * g["gflops"] / r:.1f}' if r else "-"
    print(f'{g["version"]:<12}{g["op"]:<4}{g["n"]:>6}{g["gflops"]:>10.0f}{pct(f32):>15}{pct(t32):>15}')
for (n, tf32), gf in sorted(ref.items()):
    print(f'torch.matmul n={n} tf32={tf32}: {gf:.0f} GFLOP/s')
print("map:", json.dumps(ours.get("map")))
fused, tf = (ours.get("fused") or {}).get("results", {}), load("torch_fused.json")
print("fused ops (ours vs torch, fp32; ratio = our ms / torch ms, < 1 is faster); torch SDPA backends:", tf.get("sdpa_backends_enabled"))
for key, r in fused.items():
    t = tf.get("results", {}).get(key) or tf.get("results", {}).get(key.rsplit("/", 1)[0])   # K4|K2/…/<pass>/<version> vs torch's …/<pass>
    ratio = f'{r["ms"] / t["ms"]:.2f}x' if t and t.get("ms") else "-"
    extra = f'{r["gflops"]:.0f} GFLOP/s' if "gflops" in r else f'{r.get("gbps", 0):.0f} GB/s'
    tms = f'{t["ms"]:.3f}' if t and t.get("ms") else "-"
    print(f'  {key:<46}{r["ms"]:>10.3f} ms  {extra:>14}   torch {tms:>9} ms   {ratio}')
print("engine, fused vs the compositions they replaced (fwd+bwd through autograd):", json.dumps(ours.get("engine_fused"), indent=1))
print("fused parity:", json.dumps({k: v for k, v in (ours.get("fused") or {}).items() if k != "results"}, indent=1))
ourm, tm = load("gpubench_models.json"), load("torch_models.json")
models = (ourm.get("models") or {})
print(f'models (WORKLOADS M1–M4), ours on {models.get("device")} [{models.get("sizes")}] vs PyTorch eager on {tm.get("device")} '
      f'[{tm.get("sizes")}; {tm.get("precision")}; attention: {tm.get("attention")}]; ratio = our ms / torch ms')
TARGET = {"M1/step": 2.0, "M1/sample50": 2.0, "M2/step": 1.0, "M2/sample": 1.0, "M3/step": 1.0, "M3/generate256": 1.0}
print(f'  {"key":<16}{"ours ms":>12}{"torch ms":>12}{"ratio":>10}{"target":>9}{"":>6}{"torch tf32":>12}{"fallbacks":>11}{"allocs":>8}{"compile ms":>12}')
tr, t32 = tm.get("results", {}), tm.get("results_tf32", {})
for key in ["M1/step", "M1/sample50", "M2/step", "M2/sample", "M3/step", "M3/generate256", "M4/step"]:
    o, t, t2 = (models.get("results") or {}).get(key, {}), tr.get(key, {}), t32.get(key, {})
    oms, tms = o.get("ms"), t.get("ms")
    comparable = "REDUCED" not in str(models.get("sizes")) + str(tm.get("sizes"))   # toy sizes are never compared
    ratio = oms / tms if oms and tms and comparable else None
    tgt = TARGET.get(key)
    verdict = "-" if ratio is None or tgt is None else ("PASS" if ratio <= tgt else "MISS")
    f = lambda v, w, p=3: f'{v:>{w}.{p}f}' if isinstance(v, (int, float)) else f'{"-":>{w}}'
    print(f'  {key:<16}{f(oms, 12)}{f(tms, 12)}{(f"{ratio:.2f}x" if ratio else "-"):>10}{("≤%gx" % tgt) if tgt else "(none)":>9}{verdict:>6}'
          f'{f(t2.get("ms"), 12)}{o.get("host_fallbacks", "-"):>11}{o.get("driver_allocations", "-"):>8}{f(o.get("compile_ms"), 12, 0)}')
    for name, r in (("ours", o), ("torch", t)):
        if "error" in r: print(f'    {name} error: {r["error"][:600]}')
    if o.get("host_fallbacks"): print(f'    our host fallbacks by op: {json.dumps(o.get("host_fallbacks_by_op"))}')
print("  (issue 4 targets: M1 training step ≤ 2× PyTorch eager, M2 and M3 ≤ 1×; M1/sample50 shown against the M1 figure, M4 has none)")
for k in [k for k in ourm if k.endswith("error")]: print("models", k, ourm[k][:2000])
m2 = ours.get("engine_m2") or {}
print(f'engine M2 step on {m2.get("device")}: median {m2.get("step_ms_median")} ms, host fallbacks {m2.get("host_fallbacks")}, '
      f'driver allocations after warm-up {m2.get("driver_allocations_after_warmup")}, peak {m2.get("peak_mib")} MiB')
print("parity:", json.dumps(ours.get("parity"), indent=1))
for k in [k for k in ours if k.endswith("error")]: print(k, ours[k][:2000])
PY
exit 0
