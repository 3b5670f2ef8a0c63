"""The shipped parameter files fit the notebooks they drive: every value passes the runner's checks."""
from pathlib import Path

import pytest

from ppt_book.book import book_chapters, book_params
from ppt_book.runs import resolve_chapter, resolve_params
from ppt_book.sweeps import load_sweep


@pytest.mark.parametrize("config", ["configs/book.yaml", "configs/full.yaml"])
def test_book_configs_validate(root, config):
    params = book_params(root, root/config)
    _, chapters = book_chapters(root)
    stems = [Path(c).stem for c in chapters]
    assert set(params) <= set(stems), set(params) - set(stems)
    for c in chapters:
        resolve_params(root/c, params.get(Path(c).stem))


def test_sweep_files_validate(root):
    for sweep in sorted((root/"configs"/"sweeps").glob("*.yaml")):
        chapter, sets = load_sweep(sweep)
        nb = resolve_chapter(chapter, root/"nbs")
        assert sets and all(resolve_params(nb, s) for s in sets)
