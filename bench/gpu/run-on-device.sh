#!/usr/bin/env bash
# run-on-device.sh — the GPU run, on a machine with the NVIDIA driver, CUDA and PyTorch but no .NET SDK.
# Needs publish/gpubench/GpuBench from bench/gpu/publish.sh (carried over, git-ignored).
# Writes into $OUT (default out/gpu): nvidia-smi.txt, gpubench.json (+ .log), ptx/*.ptx,
# ptxas.txt (registers/spills of every kernel at sm_90, when ptxas exists), torch_gemm.json (+ .log),
# torch_fused.json (SDPA, layer_norm, softmax at the K4/M3 shapes), summary.txt (our GFLOP/s next to
# cuBLAS FP32 and TF32; our fused attention / LayerNorm / softmax next to PyTorch's). Each step runs even if an earlier one fails
# (ILGPU issue #1540 reports crashes on H100: this run is the first check of 1.5.3 there).
#
# Run (repo root on the device): bash bench/gpu/run-on-device.sh        (DEVICE=cuda:1 picks another GPU;
#                                  the default is the first CUDA device, as Device.Best would pick)
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
head -15 "$OUT/nvidia-smi.txt"

# 1. our kernels: parity on CUDA, GEMM and Map timings, PTX of every loaded kernel
BIN=publish/gpubench/GpuBench
if [ -x "$BIN" ] || chmod +x "$BIN" 2>/dev/null; then
  timeout 420 "$BIN" ${DEVICE:+--device "$DEVICE"} --out "$OUT/gpubench.json" --ptx-dir "$OUT/ptx" > /dev/null 2> "$OUT/gpubench.log"
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
m2 = ours.get("engine_m2") or {}
print(f'engine M2 step on {m2.get("device")}: median {m2.get("step_ms_median")} ms, host fallbacks {m2.get("host_fallbacks")}, '
      f'driver allocations after warm-up {m2.get("driver_allocations_after_warmup")}, peak {m2.get("peak_mib")} MiB')
print("parity:", json.dumps(ours.get("parity"), indent=1))
for k in [k for k in ours if k.endswith("error")]: print(k, ours[k][:2000])
PY
exit 0
