"""The README says what the code does: every command of its "Rerun any chapter" section runs as written."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ppt_book.book import book_params


def markdown_section(path: Path, heading: str) -> str:
    "The text under `## heading` (to the next `## `) in a Markdown file or in a notebook's Markdown cells."
    if path.suffix == ".ipynb":
        import nbformat

        text = "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def readme_commands(root: Path, heading: str, page: str = "README.md") -> list[str]:
    "The lines of the first bash block under `## heading` in README.md (or `page`, a path from the project root)."
    block = markdown_section(root / page, heading).split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.slowest
def test_rerun_section_runs_as_written(root, tmp_path):
    """In a copy of the project whose configs/book.yaml asks for smoke sizes (the book's sizes take an hour), each
    command of the section exits 0, in order, from the project root."""
    project = tmp_path / "project"
    for name in ("nbs", "configs"):
        shutil.copytree(root / name, project / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(root / "_quarto.yml", project / "_quarto.yml")
    smoke = {stem: {} for stem in book_params(root)}
    (project / "configs" / "book.yaml").write_text(yaml.safe_dump(smoke))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
    }
    commands = readme_commands(root, "Rerun any chapter as an experiment")
    assert any(c.startswith("ppt-book run") for c in commands) and any("predict" in c for c in commands)
    for command in commands:
        out = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    labelled = (project / "labelled.csv").read_text().splitlines()
    assert labelled[0].startswith("text,predicted_label,score") and len(labelled) == 3
