"""Helpers shared by the benchmark scripts: machine description and the final JSON line."""

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch


def machine() -> dict:
    "What the numbers were measured on."
    from ppt_book.core import cpu_name

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def ratios(ours: dict, peer: dict) -> dict:
    "ours/peer for every numeric figure both sides have."
    out = {}
    for k, v in ours.items():
        p = peer.get(k)
        if isinstance(v, (int, float)) and isinstance(p, (int, float)) and not isinstance(v, bool) and p:
            out[k] = v / p
    return out


RESULTS = Path(__file__).resolve().parent / "results"


def add_save_flag(parser) -> None:
    "`--save`: keep this run's line as benchmarks/results/<name>.json, what the README's headline table reads."
    parser.add_argument(
        "--save",
        action="store_true",
        help="write the JSON line to benchmarks/results/<name>.json (committed; never with --quick)",
    )


def _commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=RESULTS.parent, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def emit(name: str, ours: dict, peer: dict, save: bool = False, quick: bool = False, **extra) -> dict:
    """Print the benchmark line (benchmarks/README.md) as the last line of output and return it; with `save`, also keep
    it in results/."""
    line = {
        "benchmark": name,
        "ours": ours,
        "peer": peer,
        "ratio": ratios(ours, peer),
        "machine": machine(),
        "quick": quick,
        **extra,
    }
    if save and quick:
        print("--save ignored: a --quick run never writes to benchmarks/results/", file=sys.stderr)
    elif save:
        line |= {"date": datetime.date.today().isoformat(), "commit": _commit()}
        RESULTS.mkdir(exist_ok=True)
        tmp = RESULTS / f".{name}.json.tmp"
        tmp.write_text(json.dumps(line, indent=1) + "\n")
        os.replace(tmp, RESULTS / f"{name}.json")  # a crash never leaves half a file where the README reads
    print(json.dumps(line))
    return line
