"""`ppt-book run`, `results` and `sweep` on fixture notebooks, through the real command line."""

import json
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import BIN

from ppt_book.cli import main


def ppt_book(*args, cwd):
    return subprocess.run([str(BIN / "ppt-book"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def run_dirs(project, stem="10_tiny"):
    folder = project / "runs" / stem
    return sorted(p for p in folder.iterdir()) if folder.exists() else []


def test_run_writes_run_folder_and_results_reads_it(tiny_project):
    out = ppt_book("run", "tiny", "-p", "steps", "5", "-p", "name", "123", "--no-progress", cwd=tiny_project)
    assert out.returncode == 0, out.stderr
    (run_dir,) = run_dirs(tiny_project)
    assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".")) == [
        "artifacts",
        "metrics.json",
        "output.ipynb",
        "params.yaml",
    ]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["chapter"] == "10_tiny" and metrics["run_id"] == run_dir.name
    assert metrics["duration_s"] > 0 and metrics["error"] is None and metrics["version"]
    from ppt_book.core import cpu_name

    assert metrics["cpu"] == cpu_name() and metrics["cpu"]  # which processor the run's times come from
    assert abs(metrics["metrics"]["final_loss"] - 0.9**5) < 1e-12
    assert metrics["metrics"]["label"] == "123"  # a str parameter keeps the text as written
    assert yaml.safe_load((run_dir / "params.yaml").read_text()) == {
        "lr": 0.1,
        "steps": 5,
        "name": "123",
        "fail": False,
    }
    assert run_dir.name.split("-")[-1] == metrics["run_id"][-6:] and len(run_dir.name) == len("20260101-000000-abcdef")

    res = ppt_book("results", "--csv", "all.csv", cwd=tiny_project)
    assert res.returncode == 0 and "10_tiny" in res.stdout
    table = pd.read_csv(tiny_project / "all.csv")
    assert table.loc[0, "status"] == "ok" and table.loc[0, "params.steps"] == 5
    assert abs(table.loc[0, "final_loss"] - 0.9**5) < 1e-12


def test_chapter_accepts_stem_short_name_and_path(tiny_project, monkeypatch):
    monkeypatch.chdir(tiny_project)
    for steps, name in enumerate(["10_tiny", "tiny", str(tiny_project / "nbs" / "10_tiny.ipynb")]):
        assert main(["run", name, "-p", "steps", str(steps), "--no-progress"]) == 0
    assert len(run_dirs(tiny_project)) == 3
    # run from elsewhere: the path form works without a project around it
    out = ppt_book("run", str(tiny_project / "nbs" / "10_tiny.ipynb"), "--no-progress", cwd=tiny_project.parent)
    assert out.returncode == 0, out.stderr


def test_bad_input_exits_2_and_runs_nothing(tiny_project, monkeypatch, capsys):
    """Through the command's entry point in this process, as test_bad_input's argument checks are (the installed
    command's exit status 2: test_bad_input.test_bad_data_found_inside_a_chapter_exits_2)."""
    cases = [
        (
            ["run", "10_tiny", "-p", "stepz", "2"],
            "unknown parameter(s) ['stepz'] for 10_tiny (stepz: did you mean 'steps'?); valid parameters: "
            "['fail', 'lr', 'name', 'steps']",
        ),
        (["run", "10_tiny", "-p", "steps", "many"], "parameter 'steps': value 'many' is not a number"),
        (["run", "10_tiny", "-p", "fail", "3"], "parameter 'fail': value '3' is not a bool"),
        (["run", "missing"], "No chapter 'missing'"),
        (["run", "nbs/missing.ipynb"], "does not exist"),
        (["run", "noparams"], "has no cell tagged 'parameters'"),
    ]
    monkeypatch.chdir(tiny_project)
    for args, message in cases:
        code, err = main(args), capsys.readouterr().err
        assert code == 2 and message in err, (args, err)
    assert not (tiny_project / "runs").exists()


def test_failed_run_keeps_notebook_and_error(tiny_project):
    out = ppt_book("run", "tiny", "-p", "fail", "true", "--no-progress", cwd=tiny_project)
    assert out.returncode == 1 and "asked to fail" in out.stderr
    (run_dir,) = run_dirs(tiny_project)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "ValueError: asked to fail" in metrics["error"]
    assert (run_dir / "output.ipynb").exists()


def test_sweep_goes_past_failure_and_resumes(tiny_project):
    sweep = tiny_project / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump({"chapter": "tiny", "params": {"steps": 2}, "grid": {"lr": [0.1, 0.2], "fail": [False, True]}})
    )
    out = ppt_book("sweep", str(sweep), "--no-progress", cwd=tiny_project)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2 of 4 runs failed" in out.stderr
    assert len(run_dirs(tiny_project)) == 4
    statuses = sorted(json.loads((d / "metrics.json").read_text())["status"] for d in run_dirs(tiny_project))
    assert statuses == ["failed", "failed", "ok", "ok"]

    again = ppt_book("sweep", str(sweep), "--no-progress", cwd=tiny_project)
    assert again.stdout.count("already done, skipped") == 2
    ok_runs = [d for d in run_dirs(tiny_project) if json.loads((d / "metrics.json").read_text())["status"] == "ok"]
    assert len(ok_runs) == 2  # nothing that finished was run again


def test_sweep_with_a_bad_set_runs_nothing(tiny_project):
    sweep = tiny_project / "bad.yaml"
    sweep.write_text(yaml.safe_dump({"chapter": "tiny", "runs": [{"lr": 0.5}, {"lr": "fast"}]}))
    out = ppt_book("sweep", str(sweep), cwd=tiny_project)
    assert out.returncode == 2 and "parameter 'lr': value 'fast' is not a number" in out.stderr
    assert not (tiny_project / "runs").exists()


def test_help_is_clear(capsys):
    out = subprocess.run([str(BIN / "ppt-book"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ["run", "sweep", "results", "book", "readme", "Exit codes"]:
        assert word in out.stdout
    for sub in ["run", "sweep", "results", "book"]:  # each subcommand's help, through the entry point in this process
        with pytest.raises(SystemExit) as done:
            main([sub, "--help"])
        assert done.value.code == 0 and f"usage: ppt-book {sub}" in capsys.readouterr().out


def test_a_run_on_your_own_file_says_what_sizes_it(root):
    from ppt_book.runs import smoke_size_note

    note = smoke_size_note(
        "30_finetuning", {"dataset": "mine.csv", "teacher_examples": 200}, root / "configs" / "book.yaml"
    )
    assert note.startswith("**Your own file** (mine.csv)") and "`teacher_examples` 200 (book: 0)" in note
    assert "-f configs/book.yaml -p dataset FILE" in note
