"""Every benchmark script runs at its --quick size and ends with the benchmark JSON line (benchmarks/README.md)."""

import json
import math
import subprocess
import sys

import pytest


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def assert_comparable(line: dict):
    "Both sides measured the same figures, and every ratio of them is a finite number, not negative."
    shared = set(line["ours"]) & set(line["peer"])
    assert set(line["ratio"]) <= shared and line["ratio"], line["ratio"]
    assert all(math.isfinite(v) and v >= 0 for v in line["ratio"].values()), line["ratio"]


def test_ratios_only_of_figures_that_have_one(root):
    "A ratio for every shared figure at least zero on both sides (the peer's above zero); a negative correlation none."
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from _common import ratios
    finally:
        sys.path.remove(str(root / "benchmarks"))
    ours = {"wall_s": 2.0, "rho": 0.11, "simlex": -0.03, "flag": True, "engine": "numba"}
    peer = {"wall_s": 0.5, "rho": -0.004, "simlex": 0.05, "flag": True, "engine": "gensim"}
    assert ratios(ours, peer) == {"wall_s": 4.0}
    assert ratios({"acc": 0.0}, {"acc": 0.5}) == {"acc": 0.0} and ratios({"acc": 0.5}, {"acc": 0.0}) == {}


def run_benchmark(root, script: str, *args, timeout: int = 600, **kw):
    "Run benchmarks/<script> with `args`; assert it succeeded and return the finished process."
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_embeddings_vs_gensim_quick(root):
    out = run_benchmark(root, "embeddings_vs_gensim.py", "--quick", timeout=600)
    line = last_json(out.stdout)
    assert line["benchmark"] == "embeddings_vs_gensim"
    for side in ("ours", "peer"):
        for key in ("wall_s", "words_per_s", "wordsim353_spearman", "simlex_spearman", "analogy_acc"):
            assert key in line[side], (side, key)
    assert line["ratio"]["wall_s"] > 0 and "machine" in line
    assert_comparable(line)
    # the paired test scores the same word pairs with both sides' vectors (None: too few pairs in the quick corpus)
    paired = line["paired_wordsim353"]
    assert paired is None or paired["items"] >= 10


def test_gpu_check_dry_run(root, tmp_path):
    out = subprocess.run(
        ["bash", str(root / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = last_json(out.stdout)
    for key in ("gpu", "gpt125m_bf16_tokens_per_s", "gpt125m_bf16_mfu", "gpt125m_compiled_mfu"):
        assert key in line
    assert line["dry_run"] is True and line["gpt125m_bf16_tokens_per_s"] > 0
    (written,) = tmp_path.glob("gpu-*.json")
    saved = json.loads(written.read_text())
    assert saved["gpt125m_bf16_tokens_per_s"] == line["gpt125m_bf16_tokens_per_s"] and saved["torch"]


def test_committed_gpu_results_have_provenance(root):
    files = sorted((root / "benchmarks" / "results").glob("gpu-*.json"))
    if not files:
        pytest.skip("no GPU results committed yet")
    data = json.loads(files[-1].read_text())
    for key in (
        "gpu",
        "driver",
        "torch",
        "date",
        "gpt125m_bf16_tokens_per_s",
        "gpt125m_bf16_mfu",
        "gpt125m_compiled_mfu",
    ):
        assert data.get(key) is not None, key
    assert data["dry_run"] is False


def test_finetune_vs_trainer_quick(root):
    out = run_benchmark(root, "finetune_vs_trainer.py", "--quick", timeout=900)
    line = last_json(out.stdout)
    for side in ("ours", "peer"):
        for key in ("samples_per_s", "wall_s", "test_acc"):
            assert key in line[side], (side, key)
    assert line["benchmark"] == "finetune_vs_trainer" and line["ratio"]["samples_per_s"] > 0
    t = line["paired"]  # the two models on the same test reviews
    assert (
        line["same_process"] and t["diff_low"] <= t["diff"] <= t["diff_high"] and t["acc_a"] == line["ours"]["test_acc"]
    )
    assert t["acc_b"] == line["peer"]["test_acc"]
    assert_comparable(line)
    bad = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "finetune_vs_trainer.py"), "--from-run", str(root / "nbs")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "metrics.json does not exist" in bad.stderr


@pytest.mark.slowest
def test_distill_tradeoff_quick(root, tmp_path):
    out = run_benchmark(root, "distill_tradeoff.py", "--quick", "--runs-dir", str(tmp_path), timeout=900)
    lines = [json.loads(line) for line in out.stdout.strip().splitlines() if line.startswith("{")]
    assert {line.get("model") for line in lines[:-1]} >= {"teacher", "cnn_hard", "cnn_distilled"}
    last = lines[-1]
    for key in ("test_acc", "params", "latency_ms_b1", "latency_ms_b64"):
        assert key in last["ours"] and key in last["peer"]
    assert "hard_label_test_acc" in last["ours"] and last["ours"]["params"] < last["peer"]["params"]
    (run_dir,) = [p for p in tmp_path.glob("*/*") if (p / "metrics.json").exists()]
    again = last_json(run_benchmark(root, "distill_tradeoff.py", "--from-run", run_dir, timeout=300).stdout)
    assert (again["ours"], again["peer"], again["best_student"]) == (last["ours"], last["peer"], last["best_student"])
    bad = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "distill_tradeoff.py"), "--from-run", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "metrics.json does not exist" in bad.stderr


def test_distill_levers_quick(root):
    out = run_benchmark(root, "distill_levers.py", "--quick", timeout=600)
    line = last_json(out.stdout)
    assert line["benchmark"] == "distill_levers" and line["quick"] and line["ours"]["params"] < line["peer"]["params"]
    rows = line["rows"]
    assert [r["lever"] for r in rows] == [
        "hard labels",
        "distilled, 1 copies",
        "2 copies",
        "+ plot summaries",
        "+ 2 epochs",
    ]
    n, plots = line["transfer_pool"]["reviews"], line["transfer_pool"]["plot_sentences"]
    # reviews, + copies, + plots
    assert [r["transfer_examples"] for r in rows] == [
        n,
        2 * n,
        3 * n,
        3 * n + plots,
        3 * n + plots,
    ]
    assert rows[0]["vs_previous"] is None and all(
        r["vs_previous"]["diff_low"] <= r["vs_previous"]["diff"] <= r["vs_previous"]["diff_high"] for r in rows[1:]
    )
    assert rows[1]["vs_chapter_set"] is None and rows[-1]["vs_chapter_set"]["acc_a"] == rows[-1]["test_acc"]
    bad = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "distill_levers.py"),
            "--quick",
            "--vectors",
            str(root / "no-such.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "no-such.txt: no such file" in bad.stderr


@pytest.mark.slowest
def test_layer_student_quick(root):
    out = run_benchmark(root, "layer_student.py", "--quick", "--fresh", timeout=900)
    line = last_json(out.stdout)
    assert line["benchmark"] == "layer_student" and line["quick"]
    rows = line["rows"]
    assert [r["stage"] for r in rows] == ["learning rate"] * 2 + ["warm-up"] + ["layers"] * 2 + ["levers"] * 6
    # each choice keeps the value validation prefers, and the next stage starts from it
    for stage, field in (("learning rate", "lr"), ("layers", "layers")):
        tried = [r for r in rows if r["stage"] == stage]
        best = max(tried, key=lambda r: r["val_acc"])
        assert all(r["spec"][field] == best["spec"][field] for r in rows if r["stage"] == "levers")
    levers = {r["lever"].split(" (")[0]: r for r in rows if r["stage"] == "levers"}
    pruned = levers["+ vocabulary pruned to the in-domain text"]
    assert pruned["vocab"] == line["in_domain_vocab"] < 30522 and pruned["params"] < levers["+ transfer set"]["params"]
    assert all(
        r["vs_previous"]["diff_low"] <= r["vs_previous"]["diff"] <= r["vs_previous"]["diff_high"]
        for r in levers.values()
    )
    assert line["ours"]["params"] <= line["peer"]["params"] / 3
    assert line["headline"]["chapter"] == "40_distillation"


def test_lm_vs_transformers_quick(root):
    out = run_benchmark(root, "lm_vs_transformers.py", "--quick", timeout=600)
    line = last_json(out.stdout)
    assert line["benchmark"] == "lm_vs_transformers"
    for side in ("ours", "peer"):
        assert line[side]["tokens_per_s"] > 0
    # the same weights, batches and optimizer: the two models must have trained to the same loss
    assert abs(line["ours"]["final_train_loss"] - line["peer"]["final_train_loss"]) < 1e-3
    assert line["ratio"]["tokens_per_s"] > 0
    assert_comparable(line)


def test_sweep_parallel_quick(root):
    pytest.importorskip("ray")
    out = run_benchmark(root, "sweep_parallel.py", "--quick", timeout=600, cwd=root)
    line = last_json(out.stdout)
    assert line["benchmark"] == "sweep_parallel" and line["ours"]["runs"] == line["peer"]["runs"] == 2
    assert line["ratio"]["wall_s"] > 0 and line["ray_start_s"] > 0
    assert_comparable(line)


def test_inference_vs_optimum_quick(root):
    """Ours in every runtime; the Optimum peer too where its environment (.venv-optimum/, made by the script on first
    use) exists."""
    peer = (root / ".venv-optimum" / "bin" / "python").exists()
    out = run_benchmark(root, "inference_vs_optimum.py", "--quick", *([] if peer else ["--no-peer"]), timeout=900)
    line = last_json(out.stdout)
    assert line["benchmark"] == "inference_vs_optimum" and line["ours"]["runtime"] in (
        "torch",
        "torch-int8",
        "onnx",
        "onnx-int8",
    )
    for key in ("latency_ms_b1", "latency_ms_b64", "test_acc"):
        assert line["ours"][key] > 0, key
    if peer:
        assert line["peer"]["latency_ms_b1"] > 0 and 0 < line["ratio"]["latency_ms_b1"]
        assert_comparable(line)
        # both sides scored the same test reviews
        assert line["accuracy_paired_test"]["acc_a"] == line["ours"]["test_acc"]
    else:
        assert line["peer"] == {} and line["peer_skipped"] is True


def test_few_shot_vs_setfit_quick(root):
    out = run_benchmark(root, "few_shot_vs_setfit.py", "--quick", timeout=900)
    # SetFit's Trainer logs Python dicts ({'loss': ...})
    lines = [json.loads(line) for line in out.stdout.strip().splitlines() if line.startswith('{"')]
    assert {line["method"] for line in lines[:-1]} == {"setfit", "minilm_finetune", "minilm_probe"}
    line = lines[-1]
    assert line["benchmark"] == "few_shot_vs_setfit" and line["label_counts"] == [16]
    for side in ("ours", "peer"):
        assert 0 < line[side]["test_acc_16"] <= 1 and line[side]["wall_s_16"] > 0, side
    assert line["ours"]["method_16"] in ("minilm_finetune", "minilm_probe")
    assert_comparable(line)


def test_save_keeps_the_line_and_quick_never_writes(root, tmp_path, monkeypatch):
    """`--save` writes the printed line (with date and commit) to results/<name>.json atomically; a --quick run never
    writes."""
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    _common.emit("demo_bench", {"wall_s": 2.0}, {"wall_s": 4.0}, save=True, quick=True)
    assert not list(tmp_path.iterdir())

    def headline(line):
        return {"chapter": "00_core", "claim": "demo", "ours": "2 s", "peer": "4 s", "comparison": "0.5x"}

    line = _common.emit("demo_bench", {"wall_s": 2.0}, {"wall_s": 4.0}, save=True, rounds=3, headline=headline)
    saved = json.loads((tmp_path / "demo_bench.json").read_text())
    assert saved == line and saved["ratio"]["wall_s"] == 0.5 and saved["date"] and saved["quick"] is False
    assert saved["headline"]["comparison"] == "0.5x"
    # no temporary file left
    assert [p.name for p in tmp_path.iterdir()] == ["demo_bench.json"]


def test_each_benchmark_writes_its_headline_row(root, monkeypatch):
    "The rows as the benchmarks format them: points with their paired interval, 'within noise' when the test says so."
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    import embeddings_vs_gensim
    import finetune_vs_trainer

    paired = {"diff": 0.012, "diff_low": -0.004, "diff_high": 0.028, "significant": False}
    line = {"ours": {"test_acc": 0.829}, "peer": {"test_acc": 0.817}, "ratio": {}, "paired": paired, "ours_from": "x"}
    row = finetune_vs_trainer.headline(line)
    assert (
        row["claim"].startswith("the book's MiniLM teacher")
        and row["comparison"] == "+1.2 points [-0.4, +2.8], within noise"
    )
    rho = {"diff": -0.015, "diff_low": -0.041, "diff_high": 0.012, "significant": False}
    line = {
        "ours": {"wall_s": 10.0, "wordsim353_spearman": 0.19},
        "peer": {"wall_s": 20.0, "wordsim353_spearman": 0.2},
        "ratio": {"wall_s": 0.5},
        "paired_wordsim353": rho,
    }
    row = embeddings_vs_gensim.headline(line)
    assert row["comparison"] == "0.50x gensim's wall time; WordSim353 -0.015 [-0.041, +0.012], within noise"


def test_committed_headline_rows_are_what_the_scripts_write(root, monkeypatch):
    "Each saved result's row is what its script's `headline` makes of the saved figures: no row goes stale by hand."
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    import importlib

    for path in sorted((root / "benchmarks" / "results").glob("*.json")):
        line = json.loads(path.read_text())
        if "headline" not in line:
            continue
        script = importlib.import_module("gpu_check" if path.name.startswith("gpu-") else path.stem)
        assert script.headline(line) == line["headline"], path.name


def test_lm_vs_nanogpt_recipe_quick(root, tmp_path):
    out = run_benchmark(root, "lm_vs_nanogpt_recipe.py", "--quick", timeout=600)
    line = last_json(out.stdout)
    assert line["benchmark"] == "lm_vs_nanogpt_recipe" and line["recipe"]["betas"] == [0.9, 0.99]
    for side in ("ours", "peer"):
        assert line[side]["val_loss"] > 0 and line[side]["steps"] >= 1
    assert line["peer"]["steps"] == line["recipe_iters"]  # the recipe runs its iterations, ours stops at its clock
    saved = tmp_path / "recipe.json"
    saved.write_text(json.dumps(line | {"date": "2026-01-01", "commit": "abc1234"}))
    again = last_json(
        run_benchmark(root, "lm_vs_nanogpt_recipe.py", "--quick", "--peer-from", saved, timeout=600).stdout
    )
    # reused, not retrained
    assert again["peer"] == line["peer"] and "measured 2026-01-01 at commit abc1234" in again["peer_from"]
    assert again["same_machine"] is True
    saved.write_text(json.dumps(line | {"machine": line["machine"] | {"cpu": "another processor"}}))
    out = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "lm_vs_nanogpt_recipe.py"),
            "--quick",
            "--peer-from",
            str(saved),
            "--save",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # a cross-machine line is never saved
    assert out.returncode != 0 and "was measured on 'another processor'" in out.stderr
    saved.write_text(json.dumps(line | {"recipe_iters": line["recipe_iters"] + 1}))
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "lm_vs_nanogpt_recipe.py"), "--quick", "--peer-from", str(saved)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode != 0 and "differs in ['recipe_iters']" in out.stderr


@pytest.mark.slowest
def test_serve_load_quick(root):
    "Ours and the pipeline-per-request peer, each server in its own process, at the headline's concurrency."
    out = run_benchmark(root, "serve_load.py", "--quick", "--no-ray", timeout=900)
    line = last_json(out.stdout)
    assert line["benchmark"] == "serve_load" and line["runtime"] == "onnx-int8"
    for side in ("ours", "peer"):
        for key in ("requests_per_s_c32", "p95_ms_c32", "teacher_requests_per_s_c1"):
            assert line[side][key] > 0, (side, key)
    for rows in line["curves"].values():
        assert all(r["wrong"] == r["lost"] == r["server_error"] == 0 for r in rows), rows
    assert_comparable(line)
    assert "requests/s" in line["headline"]["ours"]
