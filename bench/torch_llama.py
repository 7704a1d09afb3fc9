#!/usr/bin/python3
"""A Llama-family decoder (model_type llama / qwen2) in plain PyTorch, transcribed from transformers'
modeling_llama.py and modeling_qwen2.py (LlamaRMSNorm, LlamaRotaryEmbedding + rotate_half,
repeat_kv, eager attention, LlamaMLP), because Debian ships no python3-transformers.

Parameters are a dict under Hugging Face's names in HF's layout (nn.Linear weights (out, in)), so a
folder written by `trainer export-hf` (or downloaded from the Hub) loads as is. Used by
bench/llama_parity.py (logits against the TS model) and bench/torch_gpt_bench.py (speed).
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def load_safetensors(path):
    """Hand-written reader (no `safetensors` package in Debian): u64 LE header length, JSON header,
    raw little-endian tensors; F16 and BF16 are widened to F32."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] not in DTYPES:
            raise ValueError(f"{path}: {name}: dtype {e['dtype']} not supported")
        dtype, _ = DTYPES[e["dtype"]]
        start, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(buf[base + start:base + end]), dtype=dtype).float()
        out[name] = t.reshape(e["shape"]) if e["shape"] else t.reshape(())
    return out


def load_hf_folder(path):
    """config.json and every tensor (model.safetensors, or the shards of model.safetensors.index.json)."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    single = os.path.join(path, "model.safetensors")
    if os.path.exists(single):
        params = load_safetensors(single)
    else:
        with open(os.path.join(path, "model.safetensors.index.json")) as f:
            weight_map = json.load(f)["weight_map"]
        params = {}
        for shard in sorted(set(weight_map.values())):
            params.update(load_safetensors(os.path.join(path, shard)))
    return cfg, params


def config_of(cfg):
    """The fields of a transformers LlamaConfig / Qwen2Config that change the computation."""
    assert cfg["model_type"] in ("llama", "qwen2"), cfg["model_type"]
    assert cfg.get("hidden_act", "silu") == "silu" and cfg.get("rope_scaling") is None
    heads = cfg["num_attention_heads"]
    llama_bias = cfg["model_type"] == "llama" and cfg.get("attention_bias", False)
    return dict(
        model_type=cfg["model_type"], vocab_size=cfg["vocab_size"], hidden=cfg["hidden_size"],
        layers=cfg["num_hidden_layers"], heads=heads, kv_heads=cfg.get("num_key_value_heads", heads),
        head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads, eps=cfg.get("rms_norm_eps", 1e-6),
        theta=cfg.get("rope_theta", 10000.0), tied=cfg.get("tie_word_embeddings", False),
        qkv_bias=cfg["model_type"] == "qwen2" or llama_bias, o_bias=llama_bias,
        mlp_bias=cfg["model_type"] == "llama" and cfg.get("mlp_bias", False),
    )


def rms_norm(x, weight, eps):
    """LlamaRMSNorm: in float32, x * rsqrt(mean(x^2) + eps), then the gain."""
    variance = x.float().pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotary(position_ids, head_dim, theta):
    """LlamaRotaryEmbedding.forward: cos/sin (B, T, D) of position * inv_freq, frequencies doubled."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = (inv_freq[None, :, None] @ position_ids[:, None, :].float()).transpose(1, 2)  # (B, T, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, h, t, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, h, n_rep, t, d).reshape(b, h * n_rep, t, d)


def linear(P, name, x, bias):
    return F.linear(x, P[name + ".weight"], P[name + ".bias"] if bias else None)


def forward(P, c, ids, attention_mask=None, past=None, lora=None):
    """ids (B, T) -> logits (B, T, V), final hidden (B, T, C), per-layer (k, v) for the cache.

    attention_mask (B, T_past + T): 1 real, 0 pad (left padding); position ids as transformers'
    generate() derives them (cumsum(mask) - 1). `lora` = (scale, {proj name: (A (r, in), B (out, r))})
    adds PEFT's update scale * B(A x) to those projections.
    """
    B, T = ids.shape
    past_len = 0 if past is None else past[0][0].shape[2]
    if attention_mask is None:
        attention_mask = torch.ones(B, past_len + T, dtype=torch.long)
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past_len:]
    cos, sin = rotary(position_ids, c["head_dim"], c["theta"])
    cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, D)
    # 4-D additive mask: causal over the cache, and pad keys hidden (finite, as the TS model)
    Tk = past_len + T
    causal = torch.ones(T, Tk, dtype=torch.bool).tril(past_len)
    allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
    bias = torch.zeros(B, 1, T, Tk).masked_fill(~allowed, torch.finfo(torch.float32).min)

    def proj(name, x, has_bias):
        y = linear(P, name, x, has_bias)
        if lora is not None and name in lora[1]:
            a, b = lora[1][name]
            y = y + lora[0] * F.linear(F.linear(x, a), b)
        return y

    H, Hkv, D = c["heads"], c["kv_heads"], c["head_dim"]
    x = P["model.embed_tokens.weight"][ids]
    present = []
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, P[p + "input_layernorm.weight"], c["eps"])
        q = proj(p + "self_attn.q_proj", h, c["qkv_bias"]).view(B, T, H, D).transpose(1, 2)
        k = proj(p + "self_attn.k_proj", h, c["qkv_bias"]).view(B, T, Hkv, D).transpose(1, 2)
        v = proj(p + "self_attn.v_proj", h, c["qkv_bias"]).view(B, T, Hkv, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[i][0], k], 2)
            v = torch.cat([past[i][1], v], 2)
        present.append((k, v))
        kr, vr = repeat_kv(k, H // Hkv), repeat_kv(v, H // Hkv)
        att = (q @ kr.transpose(2, 3)) / math.sqrt(D) + bias
        y = (att.softmax(-1, dtype=torch.float32) @ vr).transpose(1, 2).reshape(B, T, H * D)
        x = x + proj(p + "self_attn.o_proj", y, c["o_bias"])
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], c["eps"])
        gate = proj(p + "mlp.gate_proj", h, c["mlp_bias"])
        up = proj(p + "mlp.up_proj", h, c["mlp_bias"])
        x = x + proj(p + "mlp.down_proj", F.silu(gate) * up, c["mlp_bias"])
    hidden = rms_norm(x, P["model.norm.weight"], c["eps"])
    head = P["model.embed_tokens.weight"] if c["tied"] else P["lm_head.weight"]
    return hidden @ head.t(), hidden, present
