"""The library installs on its own (a wheel into a fresh venv, the runtime requirements only), and the README's route
for running chapters installs what they import."""

import shlex
import shutil
import subprocess
import sys

import pytest
from test_layers import ORDER
from test_readme import readme_commands


def run(*args, **kw):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kw)
    assert out.returncode == 0, f"{args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


# every module of the package, in the order of the import staircase
MODULES = ORDER
PROBA_CHECK = """
import torch
from transformers import BertConfig, BertForSequenceClassification
from ppt_book.students import word_tokenizer
from ppt_book.interpret import proba_fn
tok = word_tokenizer(["a fine film", "a dull film"])
torch.manual_seed(0)
config = BertConfig(
    vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, num_labels=2
)
model = BertForSequenceClassification(config)
print(*proba_fn(model, tok)(["a fine film"])[0])
"""


@pytest.mark.slowest
def test_wheel_installs_into_fresh_venv(tmp_path, root):
    dist, env = tmp_path / "dist", tmp_path / "env"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, root)
    (wheel,) = dist.glob("ppt_book-*.whl")
    run(sys.executable, "-m", "venv", env)
    # torch named on the same line so pip takes the local CPU wheel; constraints pin the rest as tested.
    # --no-compile: Python compiles what the checks below import on first use; byte-compiling every file of torch and
    # the rest up front made this test 75 s instead of 55 s on a 2-core Xeon
    run(
        env / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-compile",
        "--disable-pip-version-check",
        "-c",
        root / "constraints.txt",
        "torch==2.13.0",
        wheel,
    )
    modules = ", ".join(f"ppt_book.{m}" for m in MODULES)
    out = run(
        env / "bin" / "python",
        "-c",
        f"import importlib.resources as r, importlib.util as u, ppt_book, {modules};"
        "print(ppt_book.__version__, (r.files('ppt_book') / 'templates' / 'book.html.j2').is_file(), "
        "[m for m in ['nbdev', 'jupyterlab', 'pytest'] if u.find_spec(m)])",
        cwd=tmp_path,
    )
    version, template, missing_dev = out.stdout.strip().split(" ", 2)
    # the book's page template ships as package data; no dev tools came with the runtime requirements
    assert version and template == "True" and missing_dev == "[]"
    help_text = run(env / "bin" / "ppt-book", "--help", cwd=tmp_path).stdout
    assert "run" in help_text and "book" in help_text
    # a function of a late chapter that stands on the training layer works from the installed package alone
    probs = run(env / "bin" / "python", "-c", PROBA_CHECK, cwd=tmp_path).stdout.split()
    assert len(probs) == 2 and abs(sum(map(float, probs)) - 1) < 1e-5
    # outside a checkout there are no chapters, and the error says where they live
    lost = subprocess.run([env / "bin" / "ppt-book", "run", "finetuning"], cwd=tmp_path, capture_output=True, text=True)
    assert lost.returncode == 2 and "notebooks in nbs/ of a checkout of the project" in lost.stderr
    # the command-line chapter's route for running chapters, line by line, into the same environment; then one runs
    for line in readme_commands(root, "Use the library", "nbs/93_cli.ipynb"):
        words = shlex.split(line.replace("constraints.txt", str(root / "constraints.txt")))
        words = [f"{wheel}[chapters]" if w == ".[chapters]" else w for w in words]
        if words[0] == "pip":
            words = [env / "bin" / "python", "-m", "pip", words[1], "-q", "--no-compile", *words[2:]]
        else:
            words = [env / "bin" / words[0], *words[1:]]
        run(*words, cwd=tmp_path)
    project = tmp_path / "checkout"
    shutil.copytree(root / "nbs", project / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(root / "_quarto.yml", project / "_quarto.yml")
    ran = run(env / "bin" / "ppt-book", "run", "checkpoints", "--no-progress", cwd=project)
    assert ran.stdout.startswith("ok: ")
