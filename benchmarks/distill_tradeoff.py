"""The distillation trade-off: each student against the teacher on accuracy, size and CPU latency.

    python benchmarks/distill_tradeoff.py            # the book's settings (configs/book.yaml's 40_distillation)
    python benchmarks/distill_tradeoff.py --quick    # CI smoke size: a quick teacher and one CNN student
    python benchmarks/distill_tradeoff.py --from-run runs/book/40_distillation   # the figures of a finished run

Runs the 40_distillation chapter through the experiment runner (teacher and students measured in one kernel, one
after the other), then prints one JSON line per model and, last, the benchmark line with the best student as `ours`
and the teacher as `peer` (test_acc, params, latency_ms_b1, latency_ms_b64; ours also hard_label_test_acc).
--from-run reads those figures from a run of the chapter that has already finished (the book's run measures exactly
this), instead of spending another quarter of an hour to measure them again. The line carries no row of the front
page's table: that row (`ppt_book.headline.book_rows`) is read from the book's own run of chapter 40, which shows it.
"""

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import yaml
from _common import emit, parser, read_run

from ppt_book.records import read_metrics
from ppt_book.runs import run_chapter

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("test_acc", "macro_f1", "params", "disk_mb", "latency_ms_b1", "latency_ms_b64")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--runs-dir", default=None, help="where the run folder goes (default: a temporary folder)")
    p.add_argument(
        "--from-run", default=None, help="a finished 40_distillation run folder to report instead of running"
    )
    args = p.parse_args(argv)
    if args.from_run:
        meta = read_run(args.from_run, "40_distillation")
        report(meta["metrics"], meta["params"], args.from_run, quick=False, save=args.save)
        return
    if args.quick:
        params = {
            "students": ["cnn"],
            "teacher_examples": 200,
            "train_examples": 200,
            "augment_per_example": 1,
            "num_epochs": 1,
            "eval_examples": 100,
            "latency_repeats": 5,
            # the benchmark reads neither the T x alpha grid nor the second task: the smallest of each
            "sweep_temperatures": [],
            "genre_examples": 60,
        }
    else:
        params = (yaml.safe_load((ROOT / "configs" / "book.yaml").read_text()) or {}).get("40_distillation", {})
    runs_dir = args.runs_dir or tempfile.mkdtemp()
    run_dir = run_chapter(ROOT / "nbs" / "40_distillation.ipynb", params, runs_dir=runs_dir, progress=False)
    report(read_metrics(run_dir)["metrics"], params, run_dir, args.quick, args.save)


def report(m, params, run_dir, quick, save=False):
    models = sorted(
        {k.rsplit("_test_acc", 1)[0] for k in m if k.endswith("_test_acc") and not k.startswith(("best", "sweep"))}
    )
    for name in models:
        print(json.dumps({"model": name, **{f: m.get(f"{name}_{f}") for f in FIGURES}}))
    best = m["best_student"]
    arch = best.rsplit("_", 1)[0]
    ours = {f: m[f"{best}_{f}"] for f in FIGURES}
    ours["hard_label_test_acc"] = m.get(f"{arch}_hard_test_acc")
    peer = {f: m[f"teacher_{f}"] for f in FIGURES}
    emit(
        "distill_tradeoff",
        ours,
        peer,
        best_student=best,
        paired=m.get("best_student_vs_teacher"),
        run_dir=str(run_dir),
        params=params,
        quick=quick,
        save=save,
    )


if __name__ == "__main__":
    main()
