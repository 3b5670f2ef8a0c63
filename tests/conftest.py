"""Shared fixtures: offline environment, the project root, and tiny fixture notebooks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}.items():
    os.environ[key] = value

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def root():
    return ROOT


def pytest_configure(config):
    config.addinivalue_line("markers", "slowest: one of the longest tests (minutes); run first")


def pytest_collection_modifyitems(items):
    """The tests marked `slowest` first, the rest in their order: CI's two workers take tests in collection order, and
    a long test started last kept one worker busy for minutes after the other had finished."""
    items.sort(key=lambda item: item.get_closest_marker("slowest") is None)


def make_notebook(path: Path, cells: list, parameters: str | None = None, title: str = "Fixture") -> Path:
    """Write a notebook: a title cell, an optional `parameters` cell, then `cells` (code strings or ('md', text))."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "python3", "language": "python", "name": "python3"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\n> a fixture notebook"))
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    for c in cells:
        if isinstance(c, tuple):
            nb.cells.append(nbformat.v4.new_markdown_cell(c[1]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(c))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


TINY_PARAMS = (
    'lr = 0.1  # learning rate\nsteps = 3  # how many steps\nname = "tiny"  # a label\nfail = False  # raise on purpose'
)
TINY_CELLS = [
    "from ppt_book.records import record\nif fail: raise ValueError('asked to fail')",
    "loss = 1.0\nfor _ in range(steps): loss *= (1 - lr)\nrecord('final_loss', loss)\nrecord('label', "
    "name)\nprint('loss', loss)",
]


@pytest.fixture
def tiny_project(tmp_path):
    """A project folder with nbs/10_tiny.ipynb (parameters lr, steps, name, fail) and nbs/20_noparams.ipynb."""
    nbs = tmp_path / "nbs"
    make_notebook(nbs / "10_tiny.ipynb", TINY_CELLS, TINY_PARAMS, title="Tiny")
    make_notebook(nbs / "20_noparams.ipynb", ["x = 1"], None, title="No parameters")
    (tmp_path / "_quarto.yml").write_text(
        "project: {type: book}\nbook:\n  title: Tiny\n  chapters: [nbs/10_tiny.ipynb]\n"
    )
    return tmp_path


# a tiny labelled set the training tests of several modules share (test_train, test_distill)
TEXTS = [
    "a fine warm film",
    "a dull cold film",
    "fine and warm",
    "dull and cold",
    "warm fine story",
    "cold dull story",
] * 8
LABELS = [1, 0] * 24


def quiet(*args):
    "A `log` that prints nothing."
    return None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def open_in_chromium(page: Path, profile: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Load `page` in headless Chromium, offline and with its logging on stderr: (the finished process, whose stdout is
    the DOM, and the console errors and failed loads it logged)."""
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = ("CONSOLE", "Uncaught", "Failed to load resource")
    return out, [line for line in out.stderr.splitlines() if any(p in line for p in problems)]


def tiny_bert(vocab_size: int, layers: int):
    "A small random BERT classifier (width 32, 2 heads, 2 labels) on a real tokenizer's vocabulary, in eval mode."
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        max_position_embeddings=128,
    )
    return BertForSequenceClassification(config).eval()
