"""ppt_book.headline: the front page's table shows the row each saved result carries."""

import json

import pytest


def test_headline_table_shows_the_row_each_result_carries(tmp_path):
    """The front page's table has one row per saved result that carries one, linked to its chapter and dated, and says
    so when there are none: it knows no benchmark's layout."""
    from ppt_book.headline import headline_markdown

    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    assert "No benchmark results are committed yet" in headline_markdown(tmp_path)
    row = {"chapter": "10_embeddings", "claim": "word2vec", "ours": "10 s", "peer": "20 s", "comparison": "0.50x"}
    (results / "embeddings_vs_gensim.json").write_text(json.dumps({"headline": row, "date": "2026-11-30"}))
    (results / "levers.json").write_text(json.dumps({"ours": {}, "peer": {}}))
    table = headline_markdown(tmp_path, link_prefix="")
    (line,) = [line for line in table.splitlines() if line.startswith("| word2vec")]
    assert "| 10 s | 20 s | 0.50x | [10_embeddings](10_embeddings.html) |" in line and "2026-11-30" in line
    assert "levers" not in table


def test_headline_table_has_the_second_task_row_from_the_published_run(tmp_path):
    "The multi-class task's row: the genre teacher's macro-F1 and the TF-IDF floor's, each with its interval."
    from ppt_book.headline import headline_markdown

    (tmp_path / "docs").mkdir()
    metrics = {
        "genre_teacher_test_macro_f1": [0.61, 0.59, 0.63],
        "genre_tfidf_test_macro_f1": [0.5, 0.48, 0.52],
        "genre_teacher_vs_tfidf": {"diff": 0.1, "significant": True, "mcnemar_p": 1e-9},
    }
    (tmp_path / "docs" / "results.json").write_text(json.dumps({"30_finetuning": {"metrics": metrics}}))
    (line,) = [line for line in headline_markdown(tmp_path).splitlines() if "Folio genres: MiniLM" in line]
    assert "| 0.610 [0.590, 0.630] | 0.500 [0.480, 0.520] | +0.110 macro-F1; accuracy +10.0 points, real" in line


def test_best_student_row_is_read_from_the_books_run_of_40(tmp_path, monkeypatch):
    """The best student against its teacher, from chapter 40's metrics (accuracy, size, latency, the paired interval),
    and the same row as the chapter shows it from its own run."""
    from ppt_book.headline import book_rows, headline_markdown, run_rows_markdown

    paired = {"diff": -0.016, "diff_low": -0.034, "diff_high": 0.001, "significant": False}
    metrics = {
        "best_student": "transformer_distilled",
        "best_student_vs_teacher": paired,
        "transformer_distilled_test_acc": 0.8165,
        "transformer_distilled_params": 7.43e6,
        "transformer_distilled_latency_ms_b1": 5.0,
        "teacher_test_acc": 0.8327,
        "teacher_params": 22.7e6,
        "teacher_latency_ms_b1": 12.5,
    }
    (row,) = book_rows({"40_distillation": metrics})
    assert row == {
        "chapter": "40_distillation",
        "claim": "best student (transformer_distilled) vs its teacher",
        "ours": "81.7%, 7.43M parameters, 5.00 ms",
        "peer": "83.3%, 22.7M, 12.5 ms",
        "comparison": "-1.6 points [-3.4, +0.1], within noise at 32.7% of the parameters, 2.5x faster at batch 1",
    }
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.json").write_text(json.dumps({"40_distillation": {"metrics": metrics}}))
    assert f"| {row['ours']} | {row['peer']} | {row['comparison']} |" in headline_markdown(tmp_path)
    assert book_rows({"40_distillation": {"teacher_test_acc": 0.83}}) == []  # a run that has not chosen one yet

    run = tmp_path / "runs" / "40_distillation" / "r1"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"chapter": "40_distillation", "metrics": metrics}))
    monkeypatch.setenv("PPT_RUN_DIR", str(run))
    shown = run_rows_markdown("40_distillation")
    assert shown.startswith("**best student (transformer_distilled) vs its teacher** (this run")
    assert all(row[k] in shown for k in ("ours", "peer", "comparison"))


def test_every_saved_benchmark_is_shown_by_the_chapter_its_row_links_to(root):
    """A headline row names its chapter; that chapter's notebook shows the same saved file through `benchmark_markdown`,
    so the front page and the chapter's page are one reading of one result."""
    import nbformat

    results = root / "benchmarks" / "results"
    missing = []
    for f in sorted(results.glob("*.json")):
        row = json.loads(f.read_text()).get("headline")
        if not row:
            continue
        name = "gpu" if f.name.startswith("gpu-") else f.stem
        cells = nbformat.read(root / "nbs" / f"{row['chapter']}.ipynb", as_version=4).cells
        if not any(
            "benchmark_markdown(" in c.source and f'"{name}"' in c.source for c in cells if c.cell_type == "code"
        ):
            missing.append(f"{f.name} -> {row['chapter']}")
    assert missing == [], missing


def test_benchmark_markdown_names_the_file_date_and_machine(tmp_path):
    from ppt_book.headline import benchmark_markdown

    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    row = {"chapter": "10_x", "claim": "ours vs theirs", "ours": "1.0 s", "peer": "2.0 s", "comparison": "0.50x"}
    machine = {"cpu": "Some CPU", "cores": 2, "cuda": None}
    (results / "x.json").write_text(json.dumps({"headline": row, "date": "2026-12-01", "machine": machine}))
    text = benchmark_markdown("x", tmp_path)
    assert text == (
        "**ours vs theirs** (`benchmarks/results/x.json`, measured 2026-12-01 on Some CPU, 2 cores, no GPU): "
        "ours 1.0 s; the peer 2.0 s; 0.50x."
    )
    assert "No saved result of `benchmarks/y.py --save`" in benchmark_markdown("y", tmp_path)


def test_the_table_reads_the_books_runs_from_a_results_file_or_a_runs_folder(tmp_path):
    "While the book is built the index reads runs/book/; the README reads the publication: the same row from either."
    from ppt_book.headline import book_results, headline_markdown

    metrics = {"teacher_test_acc": 0.833, "tfidf_test_acc": 0.775}
    (tmp_path / "runs" / "book" / "30_finetuning").mkdir(parents=True)
    (tmp_path / "runs" / "book" / "30_finetuning" / "metrics.json").write_text(json.dumps({"metrics": metrics}))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.json").write_text(json.dumps({"30_finetuning": {"metrics": metrics}}))
    assert book_results(tmp_path / "runs" / "book") == book_results(tmp_path / "docs" / "results.json")
    from_runs = headline_markdown(tmp_path, results_from=tmp_path / "runs" / "book")
    assert "| 83.3% | 77.5% | +5.8 points |" in from_runs and from_runs == headline_markdown(tmp_path)
    with pytest.raises(FileNotFoundError, match="neither a results.json nor a folder of runs"):
        book_results(tmp_path / "nowhere")
