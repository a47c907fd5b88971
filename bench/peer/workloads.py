#!/usr/bin/env python3
"""The PyTorch peer of the Denoise WORKLOADS runner (shared/bench/WORKLOADS.md).

Times K1-K5 and M1-M4 exactly as specified there and prints ONE JSON object whose keys match
the Denoise runner's (bench/Workloads*.cs), so the two can be compared key by key
(bench/compare.sh). Written for Debian's torch 1.13 (no F.scaled_dot_product_attention yet, so
attention is the plain softmax(QK^T/sqrt(d))V composition; Denoise's is a fused blockwise kernel).

Run it through bench/peer/env.sh, which sets up OpenBLAS, threads and malloc as
shared/docs/MACHINE.md prescribes:
    bench/peer/setup.sh                       # once: python3-torch + OpenBLAS into /opt/peer
    . bench/peer/env.sh && $PEER_PYTHON bench/peer/workloads.py [--only K2,M3] [--quick] [--threads 1]
--only takes a comma list of key prefixes; --quick does fewer repetitions and skips K1 n>=1024
and the T=1024 attention, as the Denoise runner does. --cpu-time runs on one thread and times the
thread's CPU time (time.thread_time) instead of wall time: on a machine loaded far beyond its
cores it still ranks engines, to compare with `dotnet run -c Release --project bench -- versions
--attention --cpu-time` (bench/Kernels/KernelCompare.cs).
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)   # Debian's torch starts with one thread here

# ───────────────────── timing ─────────────────────


CLOCK = time.perf_counter   # time.thread_time with --cpu-time


def time_it(body, warmup, reps):
    """Median / min / max milliseconds of `reps` timed calls after warm-up: at least `warmup` calls, and
    for fast bodies until 0.5 s have passed (at most 400 calls) -- the same rule as the Denoise runner,
    which needs it for .NET's tiered JIT; PyTorch gets the same warm-up so both are in steady state."""
    t_warm, i = time.perf_counter(), 0
    while i < warmup or (time.perf_counter() - t_warm < 0.5 and i < 400):
        body()
        i += 1
    ms = []
    for _ in range(reps):
        t0 = CLOCK()
        body()
        ms.append((CLOCK() - t0) * 1e3)
    return statistics.median(ms), min(ms), max(ms)


def result(t, flops=None, **extra):
    med, lo, hi = t
    r = {"ms": round(med, 4), "min_ms": round(lo, 4), "max_ms": round(hi, 4)}
    if flops is not None:
        r["gflops"] = round(flops / (med * 1e6), 2)
    r.update(extra)
    return r


def time_fwd_bwd(f, bwd, warmup, reps):
    """Times y = f(); with bwd also y.backward(dY) for a fixed dY (leaf grads accumulate, as in Denoise)."""
    if not bwd:
        def body():
            with torch.no_grad():
                f()
        return time_it(body, warmup, reps)
    with torch.no_grad():
        dY = torch.randn_like(f())
    return time_it(lambda: f().backward(dY), warmup, reps)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed, grad=False):
    return torch.randn(*shape, generator=gen(seed)).requires_grad_(grad)


def check_params(what, module, expected):
    n = sum(p.numel() for p in module.parameters())
    assert n == expected, f"{what}: {n:,} parameters, WORKLOADS.md specifies {expected:,}: a different network"
    return n

# ───────────────────── K: kernels ─────────────────────


def k1(n, quick):
    a, b = randn(n, n, seed=1), randn(n, n, seed=2)
    reps = 5 if quick else (10 if n >= 2048 else 20)
    with torch.no_grad():
        t = time_it(lambda: torch.mm(a, b), 2, reps)
    return result(t, 2.0 * n ** 3)


def k2(N, Cin, H, W, Cout, bwd, quick):
    x = randn(N, Cin, H, W, seed=10, grad=bwd)
    w = (randn(Cout, Cin, 3, 3, seed=11) * 0.1).requires_grad_(bwd)
    b = randn(Cout, seed=12, grad=bwd)
    t = time_fwd_bwd(lambda: F.conv2d(x, w, b, padding=1), bwd, 2, 5 if quick else 20)
    fwd_flops = 2.0 * N * Cout * H * W * Cin * 9
    return result(t, 3 * fwd_flops if bwd else fwd_flops)


def k3(N, C, H, W, bwd, quick):
    x = randn(N, C, H, W, seed=20, grad=bwd)
    gamma = (1 + 0.1 * randn(C, seed=21)).requires_grad_(bwd)
    beta = (0.1 * randn(C, seed=22)).requires_grad_(bwd)
    t = time_fwd_bwd(lambda: F.silu(F.group_norm(x, 8, gamma, beta, eps=1e-5)), bwd, 2, 5 if quick else 20)
    return result(t)


def attention(q, k, v, causal_mask=None):
    """softmax(Q K^T / sqrt(d)) V; causal_mask: bool (T, T), True above the diagonal (blocked)."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))   # (B, H, T, T)
    if causal_mask is not None:
        scores = scores.masked_fill(causal_mask, float("-inf"))
    return scores.softmax(-1) @ v                                          # (B, H, T, d)


def k4(B, heads, T, d, causal, bwd, quick):
    q, k, v = (randn(B, heads, T, d, seed=s, grad=bwd) for s in (30, 31, 32))
    mask = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None
    reps = 5 if quick else (10 if T >= 1024 else 20)
    t = time_fwd_bwd(lambda: attention(q, k, v, mask), bwd, 1 if T >= 1024 else 2, reps)
    # FLOPs as the Denoise runner counts them: forward 4·B·h·T²·d (Q·Kᵀ and P·V), halved when
    # causal; forward+backward 3× that. Counted by the algorithm, not by what each engine computes.
    fwd = 4.0 * B * heads * T * T * d * (0.5 if causal else 1.0)
    return result(t, 3 * fwd if bwd else fwd)


def k5_silu(quick):
    x = randn(16 << 20, seed=3)
    with torch.no_grad():
        t = time_it(lambda: F.silu(x), 2, 5 if quick else 20)
    return result(t, gbps=round(2.0 * 4 * x.numel() / (t[0] * 1e6), 2))


def k5_rowsum(quick):
    x = randn(4096, 4096, seed=4)
    with torch.no_grad():
        t = time_it(lambda: x.sum(-1), 2, 5 if quick else 20)
    return result(t, gbps=round(4.0 * x.numel() / (t[0] * 1e6), 2))

# ───────────────────── M1: UNet-S ─────────────────────


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb=256):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, silu_temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(silu_temb)[:, :, None, None]         # (B, cout) broadcast over H, W
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    def __init__(self, c=128, heads=4):
        super().__init__()
        self.heads = heads
        self.norm, self.qkv, self.proj = nn.GroupNorm(8, c), nn.Linear(c, 3 * c), nn.Linear(c, c)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)                              # (B, HW, C)
        q, k, v = self.qkv(h).view(B, H * W, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # 3 × (B, h, HW, d)
        y = attention(q, k, v).transpose(1, 2).reshape(B, H * W, C)              # (B, HW, C)
        return x + self.proj(y).transpose(1, 2).reshape(B, C, H, W)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNetS(nn.Module):
    """WORKLOADS M1: 2,152,289 parameters."""

    def __init__(self):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(128, 256), nn.SiLU(), nn.Linear(256, 256))
        self.stem = nn.Conv2d(1, 32, 3, padding=1)
        self.down1, self.ds1 = ResBlock(32, 32), nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.down2, self.ds2 = ResBlock(32, 64), nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.down3 = ResBlock(64, 128)
        self.mid1, self.attn, self.mid2 = ResBlock(128, 128), SelfAttention(128, 4), ResBlock(128, 128)
        self.up3, self.us3 = ResBlock(128 + 128, 128), Upsample(128)
        self.up2, self.us2 = ResBlock(128 + 64, 64), Upsample(64)
        self.up1 = ResBlock(64 + 32, 32)
        self.head_norm, self.head = nn.GroupNorm(8, 32), nn.Conv2d(32, 1, 3, padding=1)
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(64) / 64), persistent=False)

    def forward(self, x, t):
        ang = t[:, None] * self.freqs[None, :]                                    # (B, 64)
        temb = F.silu(self.time_mlp(torch.cat([ang.sin(), ang.cos()], 1)))       # SiLU(temb), once
        h1 = self.down1(self.stem(x), temb)                                       # (B, 32, 28, 28)
        h2 = self.down2(self.ds1(h1), temb)                                       # (B, 64, 14, 14)
        h3 = self.down3(self.ds2(h2), temb)                                       # (B, 128, 7, 7)
        h = self.mid2(self.attn(self.mid1(h3, temb)), temb)
        h = self.up3(torch.cat([h, h3], 1), temb)                                 # (B, 128, 7, 7)
        h = self.up2(torch.cat([self.us3(h), h2], 1), temb)                       # (B, 64, 14, 14)
        h = self.up1(torch.cat([self.us2(h), h1], 1), temb)                       # (B, 32, 28, 28)
        return self.head(F.silu(self.head_norm(h)))                               # (B, 1, 28, 28)


def m1_step(quick):
    torch.manual_seed(70)
    net = UNetS()
    p = check_params("M1 UNet-S", net, 2_152_289)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    x, target, t = randn(64, 1, 28, 28, seed=71), randn(64, 1, 28, 28, seed=72), torch.rand(64, generator=gen(73))

    def step():
        opt.zero_grad()
        F.mse_loss(net(x, t), target).backward()
        opt.step()
    return result(time_it(step, 2, 5 if quick else 10), params=p)


def m1_sample50(quick):
    torch.manual_seed(74)
    net = UNetS()
    p = check_params("M1 UNet-S", net, 2_152_289)
    x0 = randn(64, 1, 28, 28, seed=75)

    def sample():
        with torch.no_grad():
            x = x0
            for i in range(50):
                x = x + (1 / 50) * net(x, torch.full((64,), i / 50))
    return result(time_it(sample, 1, 3 if quick else 10), params=p)

# ───────────────────── M2: MLP-2D ─────────────────────


class Mlp2D(nn.Module):
    """WORKLOADS M2: 133,122 parameters."""

    def __init__(self, hidden=256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x, t):
        return self.net(torch.cat([x, t[:, None]], 1))


def m2_step(quick):
    torch.manual_seed(40)
    net = Mlp2D()
    p = check_params("M2 Mlp2D", net, 133_122)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, t, target = randn(512, 2, seed=41), torch.rand(512, generator=gen(42)), randn(512, 2, seed=43)

    def step():
        opt.zero_grad()
        F.mse_loss(net(x, t), target).backward()
        opt.step()
    return result(time_it(step, 5, 10 if quick else 50), params=p)


def m2_sample(quick):
    torch.manual_seed(44)
    net = Mlp2D()
    p = check_params("M2 Mlp2D", net, 133_122)
    x0 = randn(10_000, 2, seed=45)

    def sample():
        with torch.no_grad():
            x = x0
            for i in range(100):
                x = x + net(x, torch.full((10_000,), i / 100)) * (1 / 100)
    return result(time_it(sample, 1, 3 if quick else 10), params=p)

# ───────────────────── M3: GPT-char ─────────────────────


class GptBlock(nn.Module):
    def __init__(self, d=128, heads=4, context=128):
        super().__init__()
        self.heads = heads
        self.ln_1, self.c_attn, self.c_proj = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln_2, self.c_fc, self.mlp_proj = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.register_buffer("mask", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # 3 × (B, h, T, d)
        y = attention(q, k, v, self.mask[:T, :T]).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))           # exact (erf) GELU


class GptChar(nn.Module):
    """WORKLOADS M3: 822,016 parameters (the head is tied to wte)."""

    def __init__(self, vocab=96, context=128, layers=4, heads=4, d=128):
        super().__init__()
        self.context = context
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.h = nn.ModuleList(GptBlock(d, heads, context) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe.weight[:T]                               # (B, T, d)
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)                        # (B, T, vocab)


def m3_step(quick):
    torch.manual_seed(50)
    net = GptChar()
    p = check_params("M3 GptChar", net, 822_016)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-4, weight_decay=0.1)
    ids = torch.randint(0, 96, (32, 128), generator=gen(51))
    targets = torch.randint(0, 96, (32 * 128,), generator=gen(52))

    def step():
        opt.zero_grad()
        F.cross_entropy(net(ids).view(-1, 96), targets).backward()
        opt.step()
    return result(time_it(step, 2, 5 if quick else 10), params=p)


def m3_generate256(quick):
    torch.manual_seed(53)
    net = GptChar().eval()
    p = check_params("M3 GptChar", net, 822_016)
    g = gen(54)

    def generate():   # no KV cache: the whole (cropped) context is re-run for every token
        with torch.no_grad():
            ids = torch.zeros(1, 1, dtype=torch.long)
            for _ in range(256):
                logits = net(ids[:, -net.context:])[:, -1]                    # (1, vocab)
                ids = torch.cat([ids, torch.multinomial(logits.softmax(-1), 1, generator=g)], 1)
    return result(time_it(generate, 1, 3 if quick else 10), params=p)

# ───────────────────── M4: DCGAN-S ─────────────────────


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(64, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU())
        self.deconv = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                                    nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, 128, 7, 7))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
                                 nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

    def forward(self, x):
        return self.net(x)


def m4_step(quick):
    torch.manual_seed(60)
    G, D = Generator(), Discriminator()
    p = check_params("M4 DCGAN-S", nn.ModuleList([G, D]), 691_330)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    B = 64
    real = torch.rand(B, 1, 28, 28, generator=gen(62)) * 2 - 1
    ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)
    zg = gen(63)
    bce = F.binary_cross_entropy_with_logits

    def step():
        fake = G(torch.randn(B, 64, generator=zg))
        opt_d.zero_grad()
        (bce(D(real), ones) + bce(D(fake.detach()), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(fake), ones).backward()
        opt_g.step()
    return result(time_it(step, 2, 5 if quick else 10), params=p)

# ───────────────────── the runner ─────────────────────


CONV = [(64, 1, 28, 28, 32), (64, 32, 28, 28, 32), (64, 64, 14, 14, 64), (64, 128, 7, 7, 128)]
NORM = [(64, 64, 14, 14), (64, 128, 7, 7)]
ATTN = [(64, 4, 49, 32, False), (32, 4, 128, 32, False), (8, 8, 1024, 64, True)]


def workloads(quick):
    """(key, thunk) in the Denoise runner's order."""
    for n in ([256, 512] if quick else [256, 512, 1024, 2048]):
        yield f"K1/n={n}", lambda n=n: k1(n, quick)
    for c in CONV:
        for bwd in (False, True):
            yield f"K2/{'x'.join(map(str, c))}/{'fwdbwd' if bwd else 'fwd'}", lambda c=c, bwd=bwd: k2(*c, bwd, quick)
    for s in NORM:
        for bwd in (False, True):
            yield f"K3/{'x'.join(map(str, s))}/{'fwdbwd' if bwd else 'fwd'}", lambda s=s, bwd=bwd: k3(*s, bwd, quick)
    for (B, h, T, d, causal) in ATTN:
        if quick and T >= 1024:
            continue
        for bwd in (False, True):
            key = f"K4/{B}x{h}x{T}x{d}{'/causal' if causal else ''}/{'fwdbwd' if bwd else 'fwd'}"
            yield key, lambda a=(B, h, T, d, causal), bwd=bwd: k4(*a, bwd, quick)
    yield "K5/silu", lambda: k5_silu(quick)
    yield "K5/rowsum", lambda: k5_rowsum(quick)
    yield "M1/step", lambda: m1_step(quick)
    yield "M1/sample50", lambda: m1_sample50(quick)
    yield "M2/step", lambda: m2_step(quick)
    yield "M2/sample", lambda: m2_sample(quick)
    yield "M3/step", lambda: m3_step(quick)
    yield "M3/generate256", lambda: m3_generate256(quick)
    yield "M4/step", lambda: m4_step(quick)


def machine_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=None, help="comma list of key prefixes, e.g. K1,M2")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions; no K1 n>=1024, no T=1024 attention")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default 2); 1 compares single-core speed")
    ap.add_argument("--cpu-time", action="store_true", help="one thread, timed by the thread's CPU time")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        global CLOCK
        CLOCK = time.thread_time
        torch.set_num_threads(1)
    only = [o for o in args.only.split(",") if o] if args.only else None
    results = {}
    for key, run in workloads(args.quick):
        if only is not None and not any(key.lower().startswith(o.lower()) for o in only):
            continue
        print(f"running {key} …", file=sys.stderr, flush=True)
        results[key] = run()
    doc = {"engine": "pytorch", "device": "cpu", "threads": torch.get_num_threads(), "machine": machine_name(),
           "clock": "thread_cpu" if args.cpu_time else "wall",
           "torch": torch.__version__, "results": results}
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
