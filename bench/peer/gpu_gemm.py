#!/usr/bin/env python3
"""gpu_gemm.py — the PyTorch side of the GPU GEMM comparison (bench/GpuBench measures ours).

Times torch.matmul on square fp32 matrices on CUDA, n = 1024, 2048, 4096, twice: with TF32 disabled
(true FP32 SGEMM, the figure our FP32 kernels are compared against) and with TF32 enabled (tensor
cores, the target of a future mma.sync path). Median of CUDA-event-timed runs after warm-up.
Prints one JSON object; --out also writes it to a file.

Run (GPU machine): python3 bench/peer/gpu_gemm.py [--sizes 1024,2048,4096] [--out torch_gemm.json]
"""
import argparse, json, statistics, sys

import torch


def time_matmul(n: int, tf32: bool, reps: int = 20) -> float:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.rand(n, n, device="cuda", generator=g) * 2 - 1
    b = torch.rand(n, n, device="cuda", generator=g) * 2 - 1
    c = torch.empty(n, n, device="cuda")
    for _ in range(3):
        torch.matmul(a, b, out=c)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.matmul(a, b, out=c)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1024,2048,4096")
    p.add_argument("--out")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return 1
    result = {
        "bench": "torch_gemm",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gemm": [],
    }
    for n in [int(s) for s in args.sizes.split(",")]:
        for tf32 in (False, True):
            ms = time_matmul(n, tf32)
            gflops = 2.0 * n ** 3 / (ms * 1e6)
            print(f"torch.matmul n={n} tf32={tf32}: {ms:.3f} ms, {gflops:.0f} GFLOP/s", file=sys.stderr)
            result["gemm"].append({"n": n, "tf32": tf32, "ms": round(ms, 4), "gflops": round(gflops, 1)})
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
