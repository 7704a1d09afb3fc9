#!/usr/bin/python3
"""Cross-framework parity: a Hugging Face GPT-2 folder written by `trainer export-hf`, run in PyTorch.

Usage: /usr/bin/python3 bench/hf_parity.py <hf dir> <expected.json> [--tol 1e-3]
expected.json: {"input_ids": [[...], ...], "logits": [flat B*T*V floats from the TS model]}.
Loads model.safetensors with a hand-written reader (no `safetensors` package: Debian ships none),
checks config.json, runs the GPT-2 forward of torch_gpt_bench.py and prints one JSON line with the
max abs difference. Exit 0 when it is below the tolerance, 1 otherwise.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt_bench import forward, load_safetensors  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-3
    hf_dir, expected_path = args[0], args[1]
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["model_type"] == "gpt2" and cfg["activation_function"] == "gelu_new", cfg
    c = dict(vocab_size=cfg["vocab_size"], block_size=cfg["n_positions"], n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"])
    raw = load_safetensors(os.path.join(hf_dir, "model.safetensors"))
    P = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in raw.items()}
    with open(expected_path) as f:
        expected = json.load(f)
    ids = torch.tensor(expected["input_ids"], dtype=torch.long)
    with torch.no_grad():
        logits, _ = forward(P, c, ids, eps=cfg["layer_norm_epsilon"])
    want = torch.tensor(expected["logits"], dtype=torch.float32).reshape(logits.shape)
    diff = float((logits - want).abs().max())
    print(json.dumps({"max_abs_diff": diff, "tol": tol, "shape": list(logits.shape), "torch": torch.__version__}))
    return 0 if diff < tol else 1


if __name__ == "__main__":
    sys.exit(main())
