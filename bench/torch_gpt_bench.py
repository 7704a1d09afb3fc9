#!/usr/bin/python3
"""PyTorch side of `npm run bench:trainer`: the same GPT-2 as trainer/model/gpt.ts, on CPU, and the
same Llama-family decoder as trainer/model/llama.ts (preset smollm2-135m, through bench/torch_llama.py),
trained in full or with LoRA adapters (PEFT's defaults: r 8, alpha 8, q_proj and v_proj).

Learned positions, pre-LayerNorm, GELU (tanh), causal multi-head attention, tied LM head,
Hugging Face GPT-2 parameter names with Conv1D (in, out) weights, so `load_safetensors`
(a hand-written reader: Debian ships no python3-safetensors) can load files the TS trainer writes.

Usage: /usr/bin/python3 bench/torch_gpt_bench.py --preset micro --batch 8 --seq 128 [--steps 5] [--warmup 2]
       /usr/bin/python3 bench/torch_gpt_bench.py --preset smollm2-135m --batch 2 --seq 128 [--lora] [--no-generate]
Prints one JSON line: train tokens/s (forward + backward + global-norm clip + AdamW), KV-cache
generation tokens/s (8 prompts x 16 tokens + 64 new, greedy), peak RSS, torch threads and BLAS.
"""
import argparse
import json
import math
import re
import resource
import struct
import sys
import time

import os

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PRESETS = {
    "nano": dict(vocab_size=512, block_size=128, n_layer=4, n_head=4, n_embd=128),
    "micro": dict(vocab_size=2048, block_size=256, n_layer=6, n_head=6, n_embd=384),
    "gpt2": dict(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
}


def param_shapes(c):
    C = c["n_embd"]
    shapes = [("wte.weight", (c["vocab_size"], C)), ("wpe.weight", (c["block_size"], C))]
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        shapes += [
            (p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
            (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
            (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
            (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
            (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
            (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,)),
        ]
    shapes += [("ln_f.weight", (C,)), ("ln_f.bias", (C,))]
    return shapes


def init_params(c, seed=0):
    """GPT-2 init: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), zero biases, unit gains."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in param_shapes(c):
        if name.endswith(("ln_1.weight", "ln_2.weight")) or name == "ln_f.weight":
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            std = 0.02 / math.sqrt(2 * c["n_layer"]) if name.endswith("c_proj.weight") else 0.02
            t = torch.randn(shape, generator=g) * std
        params[name] = t.requires_grad_(True)
    return params


def forward(P, c, ids, past=None, eps=1e-5):
    """ids (B, T) -> logits (B, T, V), per-layer (k, v) for the cache."""
    B, T = ids.shape
    C, H = c["n_embd"], c["n_head"]
    D = C // H
    past_len = 0 if past is None else past[0][0].shape[2]
    pos = torch.arange(past_len, past_len + T, device=ids.device)
    x = P["wte.weight"][ids] + P["wpe.weight"][pos][None]
    present = []
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        h = F.layer_norm(x, (C,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], eps)
        qkv = torch.addmm(P[p + "attn.c_attn.bias"], h.reshape(B * T, C), P[p + "attn.c_attn.weight"])
        q, k, v = qkv.view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)  # each (B, H, T, D)
        if past is not None:
            k = torch.cat([past[i][0], k], 2)
            v = torch.cat([past[i][1], v], 2)
        present.append((k, v))
        Tk = k.shape[2]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        causal = torch.ones(T, Tk, dtype=torch.bool, device=ids.device).tril(past_len)
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B * T, C)
        x = x + torch.addmm(P[p + "attn.c_proj.bias"], y, P[p + "attn.c_proj.weight"]).view(B, T, C)
        h = F.layer_norm(x, (C,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], eps).reshape(B * T, C)
        u = F.gelu(torch.addmm(P[p + "mlp.c_fc.bias"], h, P[p + "mlp.c_fc.weight"]), approximate="tanh")
        x = x + torch.addmm(P[p + "mlp.c_proj.bias"], u, P[p + "mlp.c_proj.weight"]).view(B, T, C)
    x = F.layer_norm(x, (C,), P["ln_f.weight"], P["ln_f.bias"], eps)
    return x @ P["wte.weight"].t(), present


def load_safetensors(path):
    """Hand-written reader: u64 LE header length, JSON header, raw little-endian tensors (F32 only)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {e['dtype']} not supported")
        start, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(buf[base + start:base + end]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"]) if e["shape"] else t.reshape(())
    return out


def blas_info():
    cfg = torch.__config__.show()
    found = re.search(r"BLAS_INFO=[^,\s]*", cfg)
    line = found.group(0) if found else "BLAS_INFO=?"
    # Debian's torch links libblas.so.3; which library that is follows update-alternatives.
    lib = "?"
    try:
        with open("/proc/self/maps") as m:
            libs = {l.split()[-1] for l in m if "blas" in l.lower() and "/" in l}
        lib = ",".join(sorted(libs)) or "none mapped"
    except OSError:
        pass
    return f"{line}; loaded: {lib}"


def train_bench(c, B, T, steps, warmup, device="cpu"):
    P = init_params(c, 0)
    if device != "cpu":  # bench/gpu-check.ts: the same model on the GPU, in float32 without TF32 (PyTorch's default)
        P = {k: v.detach().to(device).requires_grad_(True) for k, v in P.items()}
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)
    names = list(P)
    decay = [P[n] for n in names if P[n].dim() >= 2]
    no_decay = [P[n] for n in names if P[n].dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95), eps=1e-8,
    )
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, c["vocab_size"], (B, T + 1), generator=g).to(device)
    x, y = ids[:, :-1], ids[:, 1:]
    times, cpu, losses = [], [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        logits, _ = forward(P, c, x)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab_size"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(P.values(), 1.0)
        opt.step()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)  # every thread of the process, as the TS bench's cpuUsage
        losses.append(float(loss))
    times.sort()
    cpu.sort()
    step_s = times[len(times) // 2]
    return step_s, cpu[len(cpu) // 2], B * T / step_s, losses


@torch.no_grad()
def generate_bench(c, prompts=8, prompt_len=16, new_tokens=64):
    P = {k: v.detach() for k, v in init_params(c, 0).items()}
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, c["vocab_size"], (prompts, prompt_len), generator=g)

    def run(n):
        logits, past = forward(P, c, ids)
        for _ in range(n):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            logits, past = forward(P, c, nxt, past)

    run(4)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    run(new_tokens)
    generate_bench.cpu_s = time.process_time() - c0  # CPU seconds of that run, for bench/decode-ab.ts
    return prompts * new_tokens / (time.perf_counter() - t0)


# The Llama-family presets of trainer/contract/llama-config.ts, as transformers config.json keys.
LLAMA_PRESETS = {
    "smollm2-135m": dict(model_type="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192, rms_norm_eps=1e-5,
                         rope_theta=100000.0, tie_word_embeddings=True),
}


def llama_init(cfg, seed=0):
    """transformers' _init_weights: N(0, 0.02) for linear and embedding weights, unit RMSNorm gains (HF layout)."""
    from torch_llama import config_of
    c = config_of(cfg)
    g = torch.Generator().manual_seed(seed)
    C, I, D = c["hidden"], cfg["intermediate_size"], c["head_dim"]
    shapes = [("model.embed_tokens.weight", (c["vocab_size"], C))]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        shapes += [
            (p + "input_layernorm.weight", (C,)),
            (p + "self_attn.q_proj.weight", (c["heads"] * D, C)), (p + "self_attn.k_proj.weight", (c["kv_heads"] * D, C)),
            (p + "self_attn.v_proj.weight", (c["kv_heads"] * D, C)), (p + "self_attn.o_proj.weight", (C, c["heads"] * D)),
            (p + "post_attention_layernorm.weight", (C,)),
            (p + "mlp.gate_proj.weight", (I, C)), (p + "mlp.up_proj.weight", (I, C)), (p + "mlp.down_proj.weight", (C, I)),
        ]
    shapes.append(("model.norm.weight", (C,)))
    params = {n: (torch.ones(s) if n.endswith("norm.weight") else torch.randn(s, generator=g) * 0.02) for n, s in shapes}
    return c, params


@torch.no_grad()
def llama_generate_bench(cfg, prompts=8, prompt_len=16, new_tokens=64):
    """llama_bench's generation alone (tokens/s and the CPU seconds of the timed run), for bench/decode-ab.ts."""
    from torch_llama import forward
    c, P = llama_init(cfg)
    prompt = torch.randint(0, c["vocab_size"], (prompts, prompt_len), generator=torch.Generator().manual_seed(2))

    def run(n):
        logits, _, past = forward(P, c, prompt)
        mask = torch.ones(prompts, prompt_len, dtype=torch.long)
        for _ in range(n):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones(prompts, 1, dtype=torch.long)], 1)
            logits, _, past = forward(P, c, nxt, mask, past=past)

    run(4)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    run(new_tokens)
    return prompts * new_tokens / (time.perf_counter() - t0), time.process_time() - c0


def llama_bench(a):
    """Train tokens/s (full or LoRA), KV-cache generation tokens/s; the same shapes as the TS bench."""
    from torch_llama import forward
    cfg = LLAMA_PRESETS[a.preset]
    c, P = llama_init(cfg)
    lora = None
    if a.lora:
        # PEFT's LoraLayer: A kaiming-uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B zero, scale alpha / r
        g = torch.Generator().manual_seed(3)
        r, alpha = 8, 8
        pairs = {}
        for i in range(c["layers"]):
            for proj in ("q_proj", "v_proj"):
                name = f"model.layers.{i}.self_attn.{proj}"
                out_f, in_f = P[name + ".weight"].shape
                A = ((torch.rand((r, in_f), generator=g) * 2 - 1) / math.sqrt(in_f)).requires_grad_(True)
                B = torch.zeros((out_f, r)).requires_grad_(True)
                pairs[name] = (A, B)
        lora = (alpha / r, pairs)
        trainable = [t for ab in pairs.values() for t in ab]
    else:
        for t in P.values():
            t.requires_grad_(True)
        trainable = list(P.values())
    decay = [t for t in trainable if t.dim() >= 2]
    no_decay = [t for t in trainable if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, c["vocab_size"], (a.batch, a.seq + 1), generator=g)
    x, y = ids[:, :-1], ids[:, 1:]
    times, cpu, losses = [], [], []
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        logits, _, _ = forward(P, c, x, lora=lora)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab_size"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        losses.append(float(loss))
    times.sort()
    cpu.sort()
    step_s = times[len(times) // 2]
    gen = None
    if not a.no_generate:
        with torch.no_grad():
            Pd = {k: v.detach() for k, v in P.items()}
            prompt = torch.randint(0, c["vocab_size"], (8, 16), generator=torch.Generator().manual_seed(2))

            def run(n):
                logits, _, past = forward(Pd, c, prompt)
                mask = torch.ones(8, 16, dtype=torch.long)
                for _ in range(n):
                    nxt = logits[:, -1].argmax(-1, keepdim=True)
                    mask = torch.cat([mask, torch.ones(8, 1, dtype=torch.long)], 1)
                    logits, _, past = forward(Pd, c, nxt, mask, past=past)

            run(2)
            t0 = time.perf_counter()
            run(64)
            gen = 8 * 64 / (time.perf_counter() - t0)
    return {
        "preset": a.preset, "mode": "lora" if a.lora else "full", "batch": a.batch, "seq": a.seq,
        "params": sum(t.numel() for t in P.values()), "trainable": sum(t.numel() for t in trainable),
        "step_s": step_s, "cpu_s": cpu[len(cpu) // 2], "train_tokens_per_s": a.batch * a.seq / step_s, "gen_tokens_per_s": gen, "losses": losses,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="nano", choices=list(PRESETS) + list(LLAMA_PRESETS))
    ap.add_argument("--lora", action="store_true", help="Llama presets: train LoRA adapters on q_proj/v_proj only")
    ap.add_argument("--no-generate", action="store_true", help="skip the generation measurement")
    ap.add_argument("--generate-only", action="store_true", help="only KV-cache generation, --steps runs (bench/decode-ab.ts)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps torch's default")
    ap.add_argument("--device", default="cpu", help="GPT presets' training only, e.g. cuda (bench/gpu-check.ts); implies --no-generate")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.preset in LLAMA_PRESETS and a.generate_only:
        gen, per_cpu = [], []
        for _ in range(a.steps):
            tps, cpu_s = llama_generate_bench(LLAMA_PRESETS[a.preset])
            gen.append(tps)
            per_cpu.append(8 * 64 / cpu_s)
        print(json.dumps({"preset": a.preset, "gen_tokens_per_s": gen, "gen_tokens_per_cpu_s": per_cpu,
                          "torch": torch.__version__, "threads": torch.get_num_threads()}))
        return 0
    if a.preset in LLAMA_PRESETS:
        out = llama_bench(a)
        out.update({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_info(),
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        print(json.dumps(out))
        return 0
    c = PRESETS[a.preset]
    if a.generate_only:
        gen, per_cpu = [], []
        for _ in range(a.steps):
            gen.append(generate_bench(c))
            per_cpu.append(8 * 64 / generate_bench.cpu_s)
        print(json.dumps({"preset": a.preset, "gen_tokens_per_s": gen, "gen_tokens_per_cpu_s": per_cpu,
                          "torch": torch.__version__, "threads": torch.get_num_threads()}))
        return 0
    step_s, cpu_s, train_tps, losses = train_bench(c, a.batch, a.seq, a.steps, a.warmup, a.device)
    gen_tps = None if a.no_generate or a.device != "cpu" else generate_bench(c)
    print(json.dumps({
        "preset": a.preset, "batch": a.batch, "seq": a.seq,
        "params": sum(math.prod(s) for _, s in param_shapes(c)),
        "device": a.device if a.device == "cpu" else torch.cuda.get_device_name(torch.device(a.device)), "step_s": step_s, "cpu_s": cpu_s, "train_tokens_per_s": train_tps, "gen_tokens_per_s": gen_tps,
        "losses": losses, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "blas": blas_info(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    sys.exit(main())
