"""Fits its ecosystem: `ppt-book results` that works and reads well, saved models that load like any transformers model
after `import ppt_book`, chapter sections of configs/book.yaml, quiet runs, files others can read."""

import json
import os
import stat
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
from conftest import BIN, make_notebook


def ppt_book(*args, cwd, env=None):
    return subprocess.run(
        [str(BIN / "ppt-book"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def headlined_project(tiny_project):
    "tiny_project with a headline metric in the chapter's metadata and two successful runs."
    path = tiny_project / "nbs" / "10_tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["ppt_book"] = {"headline": ["final_loss"]}
    nbformat.write(nb, path)
    for steps in (2, 4):
        out = ppt_book("run", "tiny", "-p", "steps", str(steps), "--no-progress", cwd=tiny_project)
        assert out.returncode == 0, out.stderr
    return tiny_project


def test_results_of_only_successful_runs_compact_wide_and_csv(headlined_project):
    out = ppt_book("results", "tiny", cwd=headlined_project)
    assert out.returncode == 0, out.stderr  # once: KeyError "['error'] not found in axis"
    header = out.stdout.splitlines()[0].split()
    assert header == ["chapter", "run_id", "status", "duration_s", "final_loss"]
    wide = ppt_book("results", "--wide", cwd=headlined_project)
    assert (
        wide.returncode == 0
        and "params.steps" in wide.stdout.splitlines()[0]
        and "label" in wide.stdout.splitlines()[0]
    )
    steps_col = wide.stdout.splitlines()[0].split().index("params.steps")
    assert sorted(line.split()[steps_col] for line in wide.stdout.splitlines()[1:]) == ["2", "4"]  # integers, not 2.0
    csv = ppt_book("results", "--csv", "all.csv", cwd=headlined_project)
    assert csv.returncode == 0
    table = pd.read_csv(headlined_project / "all.csv")
    assert {"params.lr", "params.steps", "final_loss", "label", "error", "path"} <= set(table.columns) and len(
        table
    ) == 2


def test_run_takes_its_section_of_a_file_keyed_by_chapter(tiny_project):
    (tiny_project / "book.yaml").write_text("10_tiny:\n  steps: 7\n  name: from-book\n20_noparams: {}\n")
    out = ppt_book("run", "tiny", "-f", "book.yaml", "--no-progress", cwd=tiny_project)
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tiny_project / "runs" / "10_tiny").iterdir()
    assert json.loads((run_dir / "metrics.json").read_text())["params"]["steps"] == 7
    (tiny_project / "other.yaml").write_text("30_other:\n  steps: 1\n")
    bad = ppt_book("run", "tiny", "-f", "other.yaml", cwd=tiny_project)
    assert bad.returncode == 2 and "no section for 10_tiny" in bad.stderr


def test_runs_are_quiet_and_their_files_readable_by_others(tiny_project):
    make_notebook(
        tiny_project / "nbs" / "30_bars.ipynb",
        ["from tqdm.auto import tqdm\nfor _ in tqdm(range(steps)): pass\nprint('done')"],
        "steps: int = 3  # iterations",
    )
    out = ppt_book("run", "bars", "--no-progress", "--log-output", cwd=tiny_project, env={"PYTHONWARNINGS": ""})
    assert out.returncode == 0, out.stderr
    for noise in ("without encryption", "IProgress"):
        assert noise not in out.stderr
    (run_dir,) = (tiny_project / "runs" / "30_bars").iterdir()
    assert (
        "IProgress" not in (run_dir / "output.ipynb").read_text() and "done" in (run_dir / "output.ipynb").read_text()
    )
    old = os.umask(0o022)
    try:
        assert ppt_book("run", "tiny", "-p", "steps", "9", "--no-progress", cwd=tiny_project).returncode == 0
    finally:
        os.umask(old)
    for run_dir in (tiny_project / "runs" / "10_tiny").iterdir():
        for f in ("metrics.json", "params.yaml", "output.ipynb"):
            mode = stat.S_IMODE((run_dir / f).stat().st_mode)
            assert mode & 0o044 == 0o044, f"{f} is {oct(mode)}: group and others cannot read it"


SAVE_ALL = """
import sys, torch
from transformers import BertConfig, BertForSequenceClassification
from ppt_book.students import StudentConfig, StudentForSequenceClassification, transformer_student, word_tokenizer
from ppt_book.model_io import save_classifier
from ppt_book.pretrained import load_minilm_tokenizer
out = sys.argv[1]
words = word_tokenizer(["a fine film", "a dull film", "fine", "dull"])
torch.manual_seed(0)
for arch in ("bilstm", "gru", "cnn"):
    config = StudentConfig(arch, vocab_size=len(words), embed_dim=8, hidden_size=8, num_filters=4, num_labels=2)
    m = StudentForSequenceClassification(config)
    save_classifier(m, words, f"{out}/{arch}", ["rotten", "fresh"])
wp = load_minilm_tokenizer()
config = BertConfig(
    vocab_size=len(wp), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2
)
teacher = BertForSequenceClassification(config)
save_classifier(teacher, wp, f"{out}/teacher", ["rotten", "fresh"])
save_classifier(transformer_student(teacher, layers=(1,)), wp, f"{out}/transformer", ["rotten", "fresh"])
"""
LOAD_ONE = """
import sys
import ppt_book.students  # registers the student classes with transformers' Auto classes: all a user needs
from transformers import AutoModelForSequenceClassification, pipeline
from ppt_book.inference import predict
folder = sys.argv[1]
out = pipeline("text-classification", model=folder, device=-1)(["a fine film", "a dull film"])
model = AutoModelForSequenceClassification.from_pretrained(folder)
table = predict(["a fine film"], folder)
assert {o["label"] for o in out} <= {"rotten", "fresh"} and list(table["label"])[0] in ("rotten", "fresh")
print(type(model).__name__)
"""


def test_every_kind_of_saved_model_loads_after_import_ppt_book_students(tmp_path):
    made = subprocess.run([sys.executable, "-c", SAVE_ALL, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    for kind in ("bilstm", "gru", "cnn", "teacher", "transformer"):
        out = subprocess.run(
            [sys.executable, "-c", LOAD_ONE, str(tmp_path / kind)], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, f"{kind}: {out.stderr[-2000:]}"
        assert out.stdout.strip() in ("StudentForSequenceClassification", "BertForSequenceClassification")


# each prints whether the students' model type is registered with transformers
REGISTERS = {
    "ppt_book.students, then transformers": "import ppt_book.students\nfrom transformers import CONFIG_MAPPING",
    "transformers, then ppt_book.students": "from transformers import CONFIG_MAPPING\nimport ppt_book.students",
    "a loader of saved models": "import ppt_book.model_io\nfrom transformers import CONFIG_MAPPING",
    "twice": "import importlib, ppt_book.students\nimportlib.reload(ppt_book.students)\n"
    "from transformers import CONFIG_MAPPING",
}


@pytest.mark.parametrize("case", REGISTERS)
def test_students_register_when_their_module_is_imported(case):
    code = REGISTERS[case] + "\nprint('ppt_student' in CONFIG_MAPPING)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True"]


def test_importing_ppt_book_registers_nothing_and_imports_no_transformers():
    "`import ppt_book` does nothing clever; the command line and a notebook that only records metrics start fast."
    code = (
        "import sys, ppt_book, ppt_book.core, ppt_book.records, ppt_book.cli\n"
        "print(sorted(m for m in ('transformers', 'ppt_book.students') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]
