"""The same sweep run sequentially and on a local Ray instance, in one process.

    python benchmarks/sweep_parallel.py            # 8 runs of 02_checkpoints (seeds 0..7), Ray with 2 workers
    python benchmarks/sweep_parallel.py --quick    # CI smoke size: 2 runs

Each run executes the core chapter through papermill with small parameters (a fresh kernel, imports, a short training
demo). The sequential executor runs them one after another here; the Ray executor runs one task per set with 1 CPU each
on a local Ray instance, so two at a time on this 2-core machine. The instance is started before the clock (a cluster is
already running when a sweep is sent to it); its start-up time is reported as ray_start_s. Both write into fresh
temporary runs folders and must finish every run. The last line is the benchmark JSON line (benchmarks/README.md) with
wall_s and runs_per_min for each side.
"""

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import yaml
from _common import emit, parser

from ppt_book.sweeps import run_sweep


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=None, help="parameter sets in the sweep (default 8; --quick 2)")
    p.add_argument("--workers", type=int, default=2, help="CPUs given to the local Ray instance")
    args = p.parse_args(argv)
    n = args.runs or (2 if args.quick else 8)
    with tempfile.TemporaryDirectory() as d:
        sweep = Path(d) / "sweep.yaml"
        sweep.write_text(
            yaml.safe_dump({"chapter": "02_checkpoints", "params": {"demo_steps": 2}, "grid": {"seed": list(range(n))}})
        )
        out = {}
        for name, kw in (("sequential", {}), ("ray", {"executor": "ray", "cpus_per_run": 1})):
            if name == "ray":
                import ray

                t0 = time.perf_counter()
                ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
                ray_start = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary = run_sweep(sweep, runs_dir=Path(d) / name, progress=False, **kw)
            wall = time.perf_counter() - t0
            if name == "ray":
                ray.shutdown()
            ok = int((summary["status"] == "ok").sum())
            if ok != n:
                raise SystemExit(f"{name}: only {ok} of {n} runs finished:\n{summary}")
            out[name] = {"wall_s": wall, "runs_per_min": 60 * n / wall, "runs": n}
            print(f"{name}: {n} runs in {wall:.1f} s", flush=True)
    emit(
        "sweep_parallel",
        out["ray"],
        out["sequential"],
        workers=args.workers,
        quick=args.quick,
        ray_start_s=ray_start,
        note="ours = Ray executor (local instance started before the clock), "
        "peer = sequential executor; ratio wall_s < 1 and runs_per_min > 1 mean Ray is faster",
        save=args.save,
    )


if __name__ == "__main__":
    main()
