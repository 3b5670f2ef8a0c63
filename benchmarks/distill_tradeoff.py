"""The distillation trade-off: each student against the teacher on accuracy, size and CPU latency.

    python benchmarks/distill_tradeoff.py            # the book's settings (configs/book.yaml's 40_distillation)
    python benchmarks/distill_tradeoff.py --quick    # CI smoke size: a quick teacher and one CNN student

Runs the 40_distillation chapter through the experiment runner (teacher and students measured in one kernel, one
after the other), then prints one JSON line per model and, last, DESIGN.md's line with the best student as `ours`
and the teacher as `peer` (test_acc, params, latency_ms_b1, latency_ms_b64; ours also hard_label_test_acc).
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import yaml

from _common import emit
from ppt_book.core import read_metrics
from ppt_book.experiments import run_chapter

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("test_acc", "macro_f1", "params", "disk_mb", "latency_ms_b1", "latency_ms_b64")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs-dir", default=None, help="where the run folder goes (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.quick:
        params = {"students": ["cnn"], "teacher_examples": 200, "train_examples": 200, "augment_per_example": 1,
                  "num_epochs": 1, "eval_examples": 100, "latency_repeats": 5}
    else:
        params = (yaml.safe_load((ROOT/"configs"/"book.yaml").read_text()) or {}).get("40_distillation", {})
    runs_dir = args.runs_dir or tempfile.mkdtemp()
    run_dir = run_chapter(ROOT/"nbs"/"40_distillation.ipynb", params, runs_dir=runs_dir, progress=False)
    m = read_metrics(run_dir)["metrics"]
    models = sorted({k.rsplit("_test_acc", 1)[0] for k in m if k.endswith("_test_acc") and not k.startswith("best")})
    for name in models:
        print(json.dumps({"model": name, **{f: m.get(f"{name}_{f}") for f in FIGURES}}))
    best = m["best_student"]
    arch = best.rsplit("_", 1)[0]
    ours = {f: m[f"{best}_{f}"] for f in FIGURES}
    ours["hard_label_test_acc"] = m[f"{arch}_hard_test_acc"]
    peer = {f: m[f"teacher_{f}"] for f in FIGURES}
    emit("distill_tradeoff", ours, peer, best_student=best, run_dir=str(run_dir), params=params, quick=args.quick)


if __name__ == "__main__":
    main()
