#!/usr/bin/env python3
"""gpu_fused.py — the PyTorch side of the GPU fused-op comparison (bench/GpuBench's "fused" section
measures ours, keyed the same way).

  K4/<B>x<H>x<T>x<d>[/causal]/<fwd|fwdbwd>   torch.nn.functional.scaled_dot_product_attention, fp32, at the
                                             WORKLOADS K4 shapes (the last causal); fwdbwd = forward + backward
                                             of o with a fixed upstream gradient (q, k, v need grad).
  LN/4096x128/<fwd|fwdbwd>                   F.layer_norm with weight and bias (M3's rows), grads of x, γ, β.
  softmax/<R>x<L>/<fwd|fwdbwd>               torch.softmax over the last axis (score rows of K4 and M3).
  K2/<N>x<Cin>x<H>x<W>x<Cout>/fwd            F.conv2d 3×3 pad 1 without bias (cuDNN; ours: both forward versions).

fp32 with TF32 off for matmul and cuDNN (our kernels are FP32). The SDPA backend is PyTorch's choice for fp32 (flash needs
fp16/bf16, so it is the memory-efficient kernel on sm_80+); the JSON records which backends were enabled.
Median of CUDA-event-timed runs after warm-up. Prints one JSON object; --out also writes it to a file.

Run (GPU machine): python3 bench/peer/gpu_fused.py [--out torch_fused.json]
"""
import argparse, json, statistics, sys

import torch
import torch.nn.functional as F


def time_ms(fn, reps: int = 20) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def attention(results, B, H, T, d, causal):
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.rand(B, H, T, d, device="cuda", generator=g) * 2 - 1 for _ in range(3))
    for t in (q, k, v):
        t.requires_grad_(True)
    do = torch.rand(B, H, T, d, device="cuda", generator=g) * 2 - 1

    def fwd():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def fwdbwd():
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        torch.autograd.grad(o, (q, k, v), do)

    flops = 4.0 * B * H * T * T * d * (0.5 if causal else 1.0)
    key = f"K4/{B}x{H}x{T}x{d}{'/causal' if causal else ''}"
    for name, fn, f in (("fwd", fwd, flops), ("fwdbwd", fwdbwd, 3.5 * flops)):
        ms = time_ms(fn)
        results[f"{key}/{name}"] = {"ms": round(ms, 4), "gflops": round(f / (ms * 1e6), 1)}
        print(f"{key}/{name}: {ms:.3f} ms", file=sys.stderr)


def layer_norm(results, R, D):
    g = torch.Generator(device="cuda").manual_seed(1)
    x = (torch.rand(R, D, device="cuda", generator=g) * 2 - 1).requires_grad_(True)
    w = (torch.rand(D, device="cuda", generator=g) * 2 - 1).requires_grad_(True)
    b = (torch.rand(D, device="cuda", generator=g) * 2 - 1).requires_grad_(True)
    dy = torch.rand(R, D, device="cuda", generator=g) * 2 - 1

    def fwd():
        with torch.no_grad():
            F.layer_norm(x, (D,), w, b, 1e-5)

    def fwdbwd():
        y = F.layer_norm(x, (D,), w, b, 1e-5)
        torch.autograd.grad(y, (x, w, b), dy)

    for name, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        ms = time_ms(fn)
        results[f"LN/{R}x{D}/{name}"] = {"ms": round(ms, 4)}
        print(f"LN/{R}x{D}/{name}: {ms:.3f} ms", file=sys.stderr)


def softmax(results, R, L):
    g = torch.Generator(device="cuda").manual_seed(2)
    x = (torch.rand(R, L, device="cuda", generator=g) * 2 - 1).requires_grad_(True)
    dy = torch.rand(R, L, device="cuda", generator=g) * 2 - 1

    def fwd():
        with torch.no_grad():
            torch.softmax(x, -1)

    def fwdbwd():
        y = torch.softmax(x, -1)
        torch.autograd.grad(y, (x,), dy)

    for name, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
        ms = time_ms(fn)
        results[f"softmax/{R}x{L}/{name}"] = {"ms": round(ms, 4)}
        print(f"softmax/{R}x{L}/{name}: {ms:.3f} ms", file=sys.stderr)


def conv(results, N, Cin, H, Cout):
    g = torch.Generator(device="cuda").manual_seed(3)
    x = torch.rand(N, Cin, H, H, device="cuda", generator=g) * 2 - 1
    w = torch.rand(Cout, Cin, 3, 3, device="cuda", generator=g) * 2 - 1

    def fwd():
        with torch.no_grad():
            F.conv2d(x, w, None, 1, 1)

    ms = time_ms(fwd)
    flops = 2.0 * N * Cout * H * H * Cin * 9
    key = f"K2/{N}x{Cin}x{H}x{H}x{Cout}/fwd"
    results[key] = {"ms": round(ms, 4), "gflops": round(flops / (ms * 1e6), 1)}
    print(f"{key}: {ms:.3f} ms", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = {}
    out = {
        "bench": "torch_fused",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "sdpa_backends_enabled": {
            "flash": torch.backends.cuda.flash_sdp_enabled(),
            "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
            "math": torch.backends.cuda.math_sdp_enabled(),
        },
        "results": results,
    }
    for B, H, T, d, causal in ((64, 4, 49, 32, False), (32, 4, 128, 32, False), (8, 8, 1024, 64, True)):
        attention(results, B, H, T, d, causal)
    layer_norm(results, 4096, 128)
    for R, L in ((64 * 4 * 49, 49), (32 * 4 * 128, 128), (8 * 8 * 1024, 1024)):
        softmax(results, R, L)
    for N, Cin, H, Cout in ((64, 1, 28, 32), (64, 32, 28, 32), (64, 64, 14, 64), (64, 128, 7, 128)):
        conv(results, N, Cin, H, Cout)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
