"""Helpers shared by the benchmark scripts: their common arguments, reading a chapter's run, a quick teacher, the
machine description and the final JSON line.

Each script runs as `python benchmarks/<name>.py`, so Python puts this folder on the import path and `import _common`
works with no path manipulation.
"""

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import torch

from ppt_book.core import cpu_name
from ppt_book.files import write_text_atomic
from ppt_book.records import git_commit, read_metrics

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]


def parser(doc: str) -> argparse.ArgumentParser:
    "The arguments every benchmark takes: `--quick` (the CI smoke size) and `--save`; the script adds its own."
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small size for the CI smoke test")
    p.add_argument(
        "--save",
        action="store_true",
        help="write the JSON line to benchmarks/results/<name>.json (committed; never with --quick)",
    )
    return p


def read_run(run_dir: str | Path, chapter: str, needs: str | None = None) -> dict:
    "metrics.json of a finished run of `chapter` that recorded `needs`; exits naming what is wrong otherwise."
    meta = read_metrics(run_dir)
    finished = meta.get("status") == "ok" and meta.get("chapter") == chapter
    if not finished or (needs and needs not in meta.get("metrics", {})):
        what = f" with {needs}" if needs else ""
        sys.exit(
            f"{run_dir} is not a finished {chapter} run{what} (chapter {meta.get('chapter')}, status "
            f"{meta.get('status')}): give the folder of an ok run, e.g. runs/book/{chapter}"
        )
    return meta


def quick_teacher(train, val, out_dir: str | Path, epochs: int = 1, seed: int = 0) -> Path:
    "A MiniLM teacher fine-tuned for a smoke run on `train` (a labelled `datasets` split), saved in `out_dir`/teacher."
    from ppt_book.finetune import train_classifier
    from ppt_book.model_io import save_classifier
    from ppt_book.pretrained import load_minilm, load_minilm_tokenizer
    from ppt_book.train import TrainConfig

    names = train.features["label"].names
    tok = load_minilm_tokenizer()
    config = TrainConfig(num_epochs=epochs, lr=1e-4, max_length=64, seed=seed)
    model = train_classifier(load_minilm(num_labels=len(names)), tok, train, val, config, log=lambda *a: None)
    return save_classifier(model["model"], tok, Path(out_dir) / "teacher", names)


def machine() -> dict:
    "What the numbers were measured on."
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def ratios(ours: dict, peer: dict) -> dict:
    """ours/peer for every numeric figure both sides have, where both are at least zero and the peer's is not: a signed
    figure below zero (a correlation) has no meaningful ratio, and its paired difference says more."""
    out = {}
    for k, v in ours.items():
        p = peer.get(k)
        if isinstance(v, (int, float)) and isinstance(p, (int, float)) and not isinstance(v, bool) and v >= 0 and p > 0:
            out[k] = v / p
    return out


def emit(name: str, ours: dict, peer: dict, save: bool = False, quick: bool = False, headline=None, **extra) -> dict:
    """Print the benchmark line (benchmarks/README.md) as the last line of output and return it; with `save`, also keep
    it in results/. `headline(line)` makes the line's row of the front page's table (claim, ours, peer, comparison,
    chapter), kept in the line so that the table needs to know no benchmark's layout."""
    line = {
        "benchmark": name,
        "ours": ours,
        "peer": peer,
        "ratio": ratios(ours, peer),
        "machine": machine(),
        "quick": quick,
        **extra,
    }
    if headline is not None:
        line["headline"] = headline(line)
    if save and quick:
        print("--save ignored: a --quick run never writes to benchmarks/results/", file=sys.stderr)
    elif save:
        line |= {"date": datetime.date.today().isoformat(), "commit": git_commit(ROOT)}
        # written whole or not at all: the front page reads these files
        write_text_atomic(RESULTS / f"{name}.json", json.dumps(line, indent=1) + "\n")
    print(json.dumps(line))
    return line
