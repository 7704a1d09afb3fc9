#!/usr/bin/python3
"""Cross-framework parity for Llama-family folders (model_type llama / qwen2).

Usage: /usr/bin/python3 bench/llama_parity.py <hf dir> <expected.json> [<hf dir> <expected.json> …] [--tol 1e-4] [--adapter <peft dir>]
expected.json: {"input_ids": [[...]], "attention_mask": [[...]] (optional, left padding),
                "logits": [flat B*T*V floats from the TS model], "scores": [flat B*T] (optional)}.
Runs bench/torch_llama.py's forward (a transcription of transformers' modeling_llama.py /
modeling_qwen2.py) on the folder, with a PEFT adapter folder (adapter_config.json +
adapter_model.safetensors) applied when given, and prints one JSON line with the max abs
difference over real (unmasked) positions per folder (several folders share one torch start-up).
Exit 0 when every difference is below the tolerance, 1 otherwise.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama import config_of, forward, load_hf_folder, load_safetensors  # noqa: E402

PEFT_PREFIX = "base_model.model."


def load_adapter(path):
    """PEFT LoRA folder -> (scale, {projection: (A (r, in), B (out, r))}, extra tensors such as score.weight)."""
    with open(os.path.join(path, "adapter_config.json")) as f:
        cfg = json.load(f)
    assert cfg["peft_type"] == "LORA", cfg["peft_type"]
    scale = cfg["lora_alpha"] / cfg["r"]
    tensors = load_safetensors(os.path.join(path, "adapter_model.safetensors"))
    pairs, extra = {}, {}
    for name, t in tensors.items():
        assert name.startswith(PEFT_PREFIX), name
        inner = name[len(PEFT_PREFIX):]
        if inner.endswith(".lora_A.weight"):
            proj = inner[: -len(".lora_A.weight")]
            pairs[proj] = (t, tensors[PEFT_PREFIX + proj + ".lora_B.weight"])
        elif not inner.endswith(".lora_B.weight"):
            extra[inner] = t
    for proj in pairs:
        assert proj.rsplit(".", 1)[-1] in cfg["target_modules"], (proj, cfg["target_modules"])
    return scale, pairs, extra


def check(hf_dir, expected_path, tol, adapter):
    cfg, P = load_hf_folder(hf_dir)
    c = config_of(cfg)
    lora = None
    if adapter:
        scale, pairs, extra = load_adapter(adapter)
        lora = (scale, pairs)
        P.update(extra)
    with open(expected_path) as f:
        expected = json.load(f)
    ids = torch.tensor(expected["input_ids"], dtype=torch.long)
    mask = torch.tensor(expected["attention_mask"], dtype=torch.long) if "attention_mask" in expected else torch.ones_like(ids)
    with torch.no_grad():
        logits, hidden, _ = forward(P, c, ids, mask, lora=lora)
    real = mask.bool()
    want = torch.tensor(expected["logits"], dtype=torch.float32).reshape(logits.shape)
    diff = float((logits - want).abs()[real].max())
    out = {"dir": hf_dir, "max_abs_diff": diff, "tol": tol, "shape": list(logits.shape), "model_type": c["model_type"], "tied": c["tied"],
           "heads": c["heads"], "kv_heads": c["kv_heads"], "torch": torch.__version__}
    if "scores" in expected:
        scores = (hidden @ P["score.weight"].t()).squeeze(-1)  # LlamaForSequenceClassification's score, every position
        want_scores = torch.tensor(expected["scores"], dtype=torch.float32).reshape(scores.shape)
        out["scores_max_abs_diff"] = float((scores - want_scores).abs()[real].max())
        diff = max(diff, out["scores_max_abs_diff"])
    print(json.dumps(out), flush=True)
    return diff < tol


def main():
    argv = sys.argv[1:]
    tol = float(argv[argv.index("--tol") + 1]) if "--tol" in argv else 1e-4
    adapter = argv[argv.index("--adapter") + 1] if "--adapter" in argv else None
    flags = {i for i, a in enumerate(argv) if a.startswith("--")}
    args = [a for i, a in enumerate(argv) if i not in flags and i - 1 not in flags]
    ok = [check(args[i], args[i + 1], tol, adapter) for i in range(0, len(args), 2)]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
