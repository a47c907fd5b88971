#!/usr/bin/env python3
"""gpu_models.py — the PyTorch (eager) side of the GPU whole-model comparison: shared/bench/WORKLOADS.md M1–M4
on CUDA, keyed as bench/GpuBench's "models" section keys ours (bench/GpuBench/GpuBench.Models.cs):

  M1/step          UNet-S, B=64, MSE, AdamW(2e-4, 0.9/0.999, wd 0, eps 1e-8)
  M1/sample50      64 images, 50 Euler steps x <- x + (1/50)·net(x, i/50), no grad
  M2/step          MLP-2D, B=512, MSE, Adam(1e-3)
  M2/sample        10,000 points, 100 Euler steps
  M3/step          GPT-char, B=32, T=128, cross-entropy, AdamW(3e-4, wd 0.1)
  M3/generate256   256 tokens for one sequence, whole (cropped) context re-run per token, no KV cache
  M4/step          DCGAN-S, B=64: one D update (real vs fake.detach()) + one G update

The networks are bench/peer/workloads.py's (imported, so the CPU and GPU peers cannot drift apart; its only
import-time effect, torch.set_num_threads(2), is undone here) with their parameter counts asserted against
WORKLOADS.md. Seeds and data are as there: generated on the CPU with the same generators, moved to the device
once; per-step noise (M4's z, M3's sampling) is drawn on the device with a device generator.

Attention: by default F.scaled_dot_product_attention (what PyTorch code on CUDA uses; for fp32 PyTorch picks the
memory-efficient kernel), swapped into workloads.py's `attention` — the fair peer of our fused flash attention;
--attention composed keeps workloads.py's softmax(QKᵀ/√d)V composition. The JSON records which ran.
Precision: fp32 with TF32 off for matmul and cuDNN (our kernels are FP32): "results". Then, unless --no-tf32,
the compute-bound keys again with TF32 on: "results_tf32" (what default-ish PyTorch settings would give).
Timing: wall clock of each call between torch.cuda.synchronize()s (as ours: Stopwatch around call + device
synchronise), after warm-up; median / min / max of up to --reps calls within a time budget per key.

Run (GPU machine): python3 bench/peer/gpu_models.py [--out torch_models.json] [--only M1,M3] [--reps 20]
Local check (no GPU): . bench/peer/env.sh && $PEER_PYTHON bench/peer/gpu_models.py --device cpu --reps 1 --tiny
  (--tiny: the reduced sizes GpuBench uses on ILGPU's CPU accelerator; proves the script runs, counts match)
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
_threads = torch.get_num_threads()
import workloads as W  # noqa: E402  (networks: UNetS, Mlp2D, GptChar, Generator, Discriminator; check_params)
torch.set_num_threads(_threads)

DEV = torch.device("cpu")


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def time_key(body, warmup, reps, budget_s):
    """First call alone (cuDNN/cuBLAS handles, lazy init), `warmup` more, then timed calls: at least
    min(3, reps), up to `reps` while under `budget_s` seconds; each call closed by a synchronise."""
    sync()
    t0 = time.perf_counter()
    body()
    sync()
    first = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        body()
    sync()
    ms, start = [], time.perf_counter()
    while len(ms) < min(3, reps) or (len(ms) < reps and time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        body()
        sync()
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"ms": round(statistics.median(ms), 4), "min_ms": round(min(ms), 4), "max_ms": round(max(ms), 4),
            "reps": len(ms), "first_ms": round(first, 1)}


def cpu_gen(seed):
    return torch.Generator().manual_seed(seed)


def dev_gen(seed):
    return torch.Generator(device=DEV).manual_seed(seed)


def randn(*shape, seed):
    return torch.randn(*shape, generator=cpu_gen(seed)).to(DEV)


def rand(*shape, seed):
    return torch.rand(*shape, generator=cpu_gen(seed)).to(DEV)


# ───────────────────── sizes ─────────────────────

FULL = dict(m1_batch=64, m1_image=28, m1_sample_steps=50, m2_batch=512, m2_points=10_000, m2_sample_steps=100,
            m3_batch=32, m3_context=128, m3_tokens=256, m4_batch=64)
# GpuBench's reduced sizes on ILGPU's CPU accelerator (GpuBench.Models.cs ModelSizes.Tiny): plumbing only.
TINY = dict(m1_batch=1, m1_image=8, m1_sample_steps=2, m2_batch=16, m2_points=64, m2_sample_steps=2,
            m3_batch=1, m3_context=8, m3_tokens=3, m4_batch=2)


def sdpa_attention(q, k, v, causal_mask=None):
    """workloads.attention's contract (causal_mask: bool (T, T) triu(1), True = blocked) on PyTorch's fused SDPA.
    The only masks the networks pass are the full causal ones, so is_causal=True is the same computation."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal_mask is not None)


# ───────────────────── workloads ─────────────────────


def m1_step(s):
    torch.manual_seed(70)
    net = W.UNetS()
    p = W.check_params("M1 UNet-S", net, 2_152_289)
    net.to(DEV)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    B, S = s["m1_batch"], s["m1_image"]
    x, target, t = randn(B, 1, S, S, seed=71), randn(B, 1, S, S, seed=72), rand(B, seed=73)

    def step():
        opt.zero_grad()
        F.mse_loss(net(x, t), target).backward()
        opt.step()
    return step, p


def m1_sample50(s):
    torch.manual_seed(74)
    net = W.UNetS()
    p = W.check_params("M1 UNet-S", net, 2_152_289)
    net.to(DEV)
    B, S, steps = s["m1_batch"], s["m1_image"], s["m1_sample_steps"]
    x0 = randn(B, 1, S, S, seed=75)

    def sample():
        with torch.no_grad():
            x = x0
            for i in range(steps):
                x = x + (1 / 50) * net(x, torch.full((B,), i / 50, device=DEV))
    return sample, p


def m2_step(s):
    torch.manual_seed(40)
    net = W.Mlp2D()
    p = W.check_params("M2 Mlp2D", net, 133_122)
    net.to(DEV)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    B = s["m2_batch"]
    x, t, target = randn(B, 2, seed=41), rand(B, seed=42), randn(B, 2, seed=43)

    def step():
        opt.zero_grad()
        F.mse_loss(net(x, t), target).backward()
        opt.step()
    return step, p


def m2_sample(s):
    torch.manual_seed(44)
    net = W.Mlp2D()
    p = W.check_params("M2 Mlp2D", net, 133_122)
    net.to(DEV)
    n, steps = s["m2_points"], s["m2_sample_steps"]
    x0 = randn(n, 2, seed=45)

    def sample():
        with torch.no_grad():
            x = x0
            for i in range(steps):
                x = x + net(x, torch.full((n,), i / 100, device=DEV)) * (1 / 100)
    return sample, p


def m3_step(s):
    torch.manual_seed(50)
    net = W.GptChar()
    p = W.check_params("M3 GptChar", net, 822_016)
    net.to(DEV)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4, weight_decay=0.1)
    B, T = s["m3_batch"], s["m3_context"]
    ids = torch.randint(0, 96, (B, T), generator=cpu_gen(51)).to(DEV)
    targets = torch.randint(0, 96, (B * T,), generator=cpu_gen(52)).to(DEV)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(ids).view(-1, 96), targets).backward()
        opt.step()
    return step, p


def m3_generate256(s):
    torch.manual_seed(53)
    net = W.GptChar().eval()
    p = W.check_params("M3 GptChar", net, 822_016)
    net.to(DEV)
    g = dev_gen(54)
    n = s["m3_tokens"]

    def generate():   # no KV cache; the tokens stay on the device (no host round trip per token, unlike ours)
        with torch.no_grad():
            ids = torch.zeros(1, 1, dtype=torch.long, device=DEV)
            for _ in range(n):
                logits = net(ids[:, -net.context:])[:, -1]                    # (1, vocab)
                ids = torch.cat([ids, torch.multinomial(logits.softmax(-1), 1, generator=g)], 1)
    return generate, p


def m4_step(s):
    torch.manual_seed(60)
    G, D = W.Generator(), W.Discriminator()
    p = W.check_params("M4 DCGAN-S", torch.nn.ModuleList([G, D]), 691_330)
    G.to(DEV)
    D.to(DEV)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    B = s["m4_batch"]
    real = (torch.rand(B, 1, 28, 28, generator=cpu_gen(62)) * 2 - 1).to(DEV)
    ones, zeros = torch.ones(B, 1, device=DEV), torch.zeros(B, 1, device=DEV)
    zg = dev_gen(63)
    bce = F.binary_cross_entropy_with_logits

    def step():
        fake = G(torch.randn(B, 64, device=DEV, generator=zg))
        opt_d.zero_grad()
        (bce(D(real), ones) + bce(D(fake.detach()), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(fake), ones).backward()
        opt_g.step()
    return step, p


# (key, builder, warm-up calls, share of --reps, compute-bound: re-run with TF32 on; the launch-bound keys are not).
WORKLOADS = [
    ("M1/step", m1_step, 3, 1, True),
    ("M1/sample50", m1_sample50, 1, 0.5, True),
    ("M2/step", m2_step, 5, 2.5, False),
    ("M2/sample", m2_sample, 2, 0.5, False),
    ("M3/step", m3_step, 3, 1, True),
    ("M3/generate256", m3_generate256, 1, 0.5, False),
    ("M4/step", m4_step, 3, 1, True),
]


def run_all(sizes, only, reps, budget_s, tf32_pass):
    results = {}
    for key, build, warmup, rep_factor, compute_bound in WORKLOADS:
        if only and not any(key.lower().startswith(o.lower()) for o in only):
            continue
        if tf32_pass and not compute_bound:
            continue
        print(f"running {key}{' (tf32)' if tf32_pass else ''} …", file=sys.stderr, flush=True)
        try:
            body, params = build(sizes)
            r = time_key(body, warmup, max(1, int(reps * rep_factor)), budget_s)
            r["params"] = params
            results[key] = r
            print(f"  {key}: {r['ms']:.3f} ms (min {r['min_ms']:.3f}, {r['reps']} reps; first {r['first_ms']:.0f} ms)", file=sys.stderr)
        except Exception as e:   # record and go on: one failure must not cost the other figures
            results[key] = {"error": repr(e)}
            print(f"  {key} failed: {e!r}", file=sys.stderr)
        finally:
            if DEV.type == "cuda":
                torch.cuda.empty_cache()
    return results


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def main() -> int:
    global DEV
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (a local check)")
    ap.add_argument("--only", default=None, help="comma list of key prefixes, e.g. M1,M3/step")
    ap.add_argument("--reps", type=int, default=20, help="timed calls per step key (samplers get half)")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of timed calls per key at most (after 3)")
    ap.add_argument("--tiny", action="store_true", help="GpuBench's reduced ILGPU-CPU sizes (plumbing check)")
    ap.add_argument("--attention", choices=("sdpa", "composed"), default="sdpa")
    ap.add_argument("--no-tf32", action="store_true", help="skip the second, TF32-on pass")
    args = ap.parse_args()
    DEV = torch.device(args.device)
    if DEV.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": "torch.cuda.is_available() is False"}))
        return 1
    attention = args.attention
    if attention == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
        attention = "composed (no F.scaled_dot_product_attention in torch " + torch.__version__ + ")"
    if attention == "sdpa":
        W.attention = sdpa_attention   # the networks look `attention` up in workloads' globals at call time
    only = [o for o in args.only.split(",") if o] if args.only else None
    sizes = TINY if args.tiny else FULL
    set_tf32(False)
    doc = {
        "bench": "torch_models", "engine": "pytorch-eager",
        "device": torch.cuda.get_device_name(DEV) if DEV.type == "cuda" else "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "sizes": "REDUCED (GpuBench ILGPU-CPU sizes)" if args.tiny else "WORKLOADS",
        "attention": attention, "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "precision": "fp32, TF32 off (matmul and cuDNN)",
        "results": run_all(sizes, only, args.reps, args.budget, tf32_pass=False),
    }
    if DEV.type == "cuda" and not args.no_tf32:
        set_tf32(True)
        doc["results_tf32"] = run_all(sizes, only, args.reps, args.budget, tf32_pass=True)
        set_tf32(False)
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0 if all("error" not in r for r in doc["results"].values()) else 2


if __name__ == "__main__":
    sys.exit(main())
