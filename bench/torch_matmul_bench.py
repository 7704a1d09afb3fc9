#!/usr/bin/python3
"""PyTorch side of bench/matmul-bench.ts: GFLOP/s of torch.matmul per shape the models use, per
CPU-second and per wall-second, on CPU in float32. The shapes come as JSON on stdin (the TS bench
sends its list, so both measure the same products); transposes are views (.t() / .transpose),
as in PyTorch's own backward pass.

Usage: echo '[{"name": ..., "a": [...], "b": [...], "ta": false, "tb": true}]' | /usr/bin/python3 bench/torch_matmul_bench.py --threads 1 [--min-cpu-s 0.3]
Prints one JSON line per shape: {"shape", "gflopsCpu", "gflopsWall", "threads", "torch"}.
"""
import argparse
import json
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-cpu-s", type=float, default=0.3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shapes = json.load(sys.stdin)
    for s in shapes:
        a = torch.randn(*s["a"])
        b = torch.randn(*s["b"])
        op_a = a.transpose(-1, -2) if s["ta"] else a
        op_b = b.transpose(-1, -2) if s["tb"] else b
        batch = s["a"][0] if len(s["a"]) == 3 else 1
        M, K = op_a.shape[-2], op_a.shape[-1]
        N = op_b.shape[-1]
        flops = 2 * batch * M * N * K
        with torch.no_grad():
            torch.matmul(op_a, op_b)  # warm-up
            n = 0
            c0 = time.process_time()
            t0 = time.perf_counter()
            while True:
                torch.matmul(op_a, op_b)
                n += 1
                cpu = time.process_time() - c0
                if cpu >= args.min_cpu_s and n >= 3:
                    break
            wall = time.perf_counter() - t0
        print(json.dumps({"shape": s["name"], "gflopsCpu": flops * n / cpu / 1e9, "gflopsWall": flops * n / wall / 1e9,
                          "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
