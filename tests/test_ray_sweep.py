"""`ppt-book sweep --executor ray` on a local Ray instance with 2 CPUs: run folders, failures, resume, killed
workers."""

import sys

import pytest
import yaml
from conftest import make_notebook

from ppt_book.cli import main
from ppt_book.records import read_metrics
from ppt_book.runs import ExperimentError, results
from ppt_book.sweeps import run_sweep

ray = pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'ppt_book[ray]'")
# `make pytest` runs these on one worker, so one local Ray instance serves them all
pytestmark = pytest.mark.xdist_group("ray")

KILL_PARAMS = (
    "x = 0  # a value to sweep\n"
    'marker = ""  # a file; the first run to see it missing kills its worker\n'
    "kill_always = False  # kill the worker on every attempt"
)
KILL_CELLS = [
    "import os, signal, time, pathlib\n"
    "from ppt_book.records import record\n"
    "if kill_always or (marker and not pathlib.Path(marker).exists()):\n"
    "    if marker: pathlib.Path(marker).write_text('killed once')\n"
    "    os.kill(os.getppid(), signal.SIGKILL)  # the kernel's parent is the Ray worker running papermill\n"
    "    time.sleep(60)\n"
    "record('x_squared', x * x)",
]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def write_sweep(path, spec):
    path.write_text(yaml.safe_dump(spec))
    return path


def test_ray_sweep_runs_every_set_and_resumes(local_ray, tiny_project):
    runs = tiny_project / "runs"
    sweep = write_sweep(
        tiny_project / "sweep.yaml",
        {"chapter": "10_tiny", "params": {"steps": 2}, "grid": {"lr": [0.1, 0.2, 0.3], "fail": [False]}},
    )
    sweep_bad = write_sweep(
        tiny_project / "bad.yaml", {"chapter": "10_tiny", "runs": [{"lr": 0.5, "fail": True}, {"lr": 0.1, "steps": 2}]}
    )
    out = run_sweep(sweep, runs_dir=runs, nbs_dir=tiny_project / "nbs", progress=False, executor="ray")
    assert list(out["status"]) == ["ok"] * 3 and list(out["attempts"]) == [1, 1, 1]
    for row in out.itertuples():
        m = read_metrics(row.run_dir)
        assert m["status"] == "ok" and m["attempts"] == 1 and m["host"]
        assert m["metrics"]["final_loss"] == pytest.approx((1 - m["params"]["lr"]) ** 2)
        assert (runs / "10_tiny" / m["run_id"] / "output.ipynb").exists()
    table = results(runs)
    assert len(table) == 3 and set(table["status"]) == {"ok"}
    # a failing set is recorded and the rest go on; finished sets are skipped on a rerun, in either executor
    bad = run_sweep(sweep_bad, runs_dir=runs, nbs_dir=tiny_project / "nbs", progress=False, executor="ray")
    assert list(bad["status"]) == ["failed", "skipped"]
    assert "asked to fail" in read_metrics(bad["run_dir"][0])["error"]
    again = run_sweep(sweep, runs_dir=runs, nbs_dir=tiny_project / "nbs", progress=False, executor="ray")
    assert list(again["status"]) == ["skipped"] * 3
    assert (
        list(run_sweep(sweep, runs_dir=runs, nbs_dir=tiny_project / "nbs", progress=False)["status"]) == ["skipped"] * 3
    )


def test_shared_runs_dir_is_written_in_place(local_ray, tiny_project):
    runs = tiny_project / "shared"
    sweep = write_sweep(tiny_project / "s.yaml", {"chapter": "10_tiny", "grid": {"steps": [1, 2]}})
    out = run_sweep(
        sweep, runs_dir=runs, nbs_dir=tiny_project / "nbs", progress=False, executor="ray", shared_runs_dir=True
    )
    assert list(out["status"]) == ["ok", "ok"]
    assert sorted(p.parent.name for p in (runs / "10_tiny").glob("*/metrics.json")) == sorted(
        out["run_dir"].map(lambda p: p.split("/")[-1])
    )


def test_killed_worker_is_retried_once_then_recorded(local_ray, tmp_path):
    nbs = tmp_path / "nbs"
    make_notebook(nbs / "30_killer.ipynb", KILL_CELLS, KILL_PARAMS, title="Killer")
    runs = tmp_path / "runs"
    marker = tmp_path / "killed-once"
    sweep = write_sweep(
        tmp_path / "k.yaml",
        {"chapter": "30_killer", "runs": [{"x": 3, "marker": str(marker)}, {"x": 4, "kill_always": True}]},
    )
    out = run_sweep(sweep, runs_dir=runs, nbs_dir=nbs, progress=False, executor="ray")
    assert marker.exists()
    first, second = out.iloc[0], out.iloc[1]
    assert first["status"] == "ok" and first["attempts"] == 2  # killed once, retried, finished
    m = read_metrics(first["run_dir"])
    assert m["status"] == "ok" and m["attempts"] == 2 and m["metrics"]["x_squared"] == 9
    assert second["status"] == "failed" and second["attempts"] == 2  # killed twice: failed, not lost
    m = read_metrics(second["run_dir"])
    assert m["status"] == "failed" and m["attempts"] == 2 and "died" in m["error"] and m["params"]["x"] == 4
    assert set(results(runs)["status"]) == {"ok", "failed"}


def test_missing_ray_is_a_clear_error(tiny_project, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    sweep = write_sweep(tiny_project / "sweep.yaml", {"chapter": "10_tiny", "grid": {"lr": [0.1]}})
    with pytest.raises(ExperimentError, match=r"pip install 'ppt_book\[ray\]'"):
        run_sweep(sweep, runs_dir=tiny_project / "runs", nbs_dir=tiny_project / "nbs", executor="ray")


def test_cli_ray_options(tiny_project, monkeypatch, capsys):
    monkeypatch.chdir(tiny_project)
    sweep = write_sweep(tiny_project / "sweep.yaml", {"chapter": "10_tiny", "grid": {"lr": [0.1]}})
    assert main(["sweep", str(sweep), "--address", "auto"]) == 2
    assert "need --executor ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", str(sweep), "--executor", "dask"])
