"""Helpers shared by the benchmark scripts: machine description and the final JSON line."""
import json
import os
import platform

import torch


def machine() -> dict:
    "What the numbers were measured on."
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def ratios(ours: dict, peer: dict) -> dict:
    "ours/peer for every numeric figure both sides have."
    out = {}
    for k, v in ours.items():
        p = peer.get(k)
        if isinstance(v, (int, float)) and isinstance(p, (int, float)) and not isinstance(v, bool) and p:
            out[k] = v / p
    return out


def emit(name: str, ours: dict, peer: dict, **extra) -> dict:
    "Print the benchmark line (benchmarks/README.md) as the last line of output and return it."
    line = {"benchmark": name, "ours": ours, "peer": peer, "ratio": ratios(ours, peer), "machine": machine(), **extra}
    print(json.dumps(line))
    return line
