"""The library's shape: modules import only what they use, only downwards (core at the bottom, the training layer above
it, chapters above that, the runner and the command line on top), and never another module's private names."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

# The staircase, bottom to top: plumbing, then the data and training layers, then the chapters' modules in book order,
# then the runner and the command line. A module imports only modules below it.
ORDER = [
    "core",
    "files",
    "records",
    "stats",
    "figures",
    "pretrained",
    "data",
    "corpora",
    "genres",
    "subwords",
    "checkpoint",
    "train",
    "students",
    "model_io",
    "embeddings",
    "lm",
    "finetune",
    "decoders",
    "augment",
    "distill",
    "inference",
    "serve",
    "scaling",
    "interpret",
    "runs",
    "sweeps",
    "headline",
    "generated",
    "book",
    "cli",
]
RUNNER = {"runs", "sweeps", "generated", "headline", "book", "cli"}


def imported_modules(path):
    "Every ppt_book module a file imports, at the top or inside functions."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 0 and node.module and node.module.startswith("ppt_book."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("ppt_book.")}
    return found


def test_every_module_is_in_the_staircase(root):
    modules = {p.stem for p in (root / "ppt_book").glob("*.py") if not p.stem.startswith("_")}
    assert modules == set(ORDER), f"a module was added or removed: update ORDER in this test ({modules ^ set(ORDER)})"


@pytest.mark.parametrize("module", ORDER)
def test_imports_go_down_the_staircase(root, module):
    below = set(ORDER[: ORDER.index(module)])
    imported = imported_modules(root / "ppt_book" / f"{module}.py")
    assert imported <= below, f"ppt_book.{module} imports {sorted(imported - below)}, which are not below it"
    if module not in RUNNER:
        assert not imported & RUNNER, f"chapter module {module} imports the runner"


def test_no_module_imports_another_modules_private_name(root):
    """A helper two modules use is public; `_name` stays inside the module that defines it (a dunder such as __version__
    is public)."""
    found = []
    for path in sorted((root / "ppt_book").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("ppt_book")):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_") and a.name[:2] != "__"]
    assert found == []


def test_no_import_hook(root):
    "Importing ppt_book changes nothing in the import system; the students register when ppt_book.students is imported."
    assert (root / "ppt_book" / "__init__.py").read_text().strip().splitlines() == ['__version__ = "0.1.0"']


def test_no_unused_imports_or_undefined_names(root):
    "pyflakes' checks (ruff's F rules) over the generated modules, which the notebook-wide lint cannot see one by one."
    ruff = Path(sys.executable).parent / "ruff"
    cmd = [str(ruff), "check", "--isolated", "--select", "F", "--exclude", "_modidx.py", str(root / "ppt_book")]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_late_chapter_functions_work_from_a_fresh_interpreter():
    "interpret.proba_fn once called a name it never imported: call it in a process that imports only that module."
    code = (
        "import torch\nfrom transformers import BertConfig, BertForSequenceClassification\n"
        "from ppt_book.students import word_tokenizer\nfrom ppt_book.interpret import proba_fn\n"
        "tok = word_tokenizer(['a fine film', 'a dull film'])\ntorch.manual_seed(0)\n"
        "m = BertForSequenceClassification(BertConfig(vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, "
        "num_attention_heads=2, intermediate_size=16, num_labels=2))\nprint(*proba_fn(m, tok)(['a fine film', 'a dull "
        "film']).sum(1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [round(float(x), 5) for x in out.stdout.split()] == [1.0, 1.0]
