"""The shipped parameter files fit the notebooks they drive: every value passes the runner's checks."""

from pathlib import Path

import pytest

from ppt_book.book import book_chapters, book_params
from ppt_book.runs import resolve_chapter, resolve_params
from ppt_book.sweeps import load_sweep


@pytest.mark.parametrize("config", ["configs/book.yaml", "configs/full.yaml"])
def test_book_configs_validate(root, config):
    params = book_params(root, root / config)
    _, chapters = book_chapters(root)
    stems = [Path(c).stem for c in chapters]
    assert set(params) <= set(stems), set(params) - set(stems)
    for c in chapters:
        resolve_params(root / c, params.get(Path(c).stem))


def test_sweep_files_validate(root):
    for sweep in sorted((root / "configs" / "sweeps").glob("*.yaml")):
        chapter, sets = load_sweep(sweep)
        nb = resolve_chapter(chapter, root / "nbs")
        assert sets and all(resolve_params(nb, s) for s in sets)


def test_parameter_comments_state_purpose_not_the_books_sizes(root):
    """configs/book.yaml is the one place for the book's sizes: a parameter's comment says what the default is for,
    never what the book uses."""
    from ppt_book.runs import notebook_parameters

    _, chapters = book_chapters(root)
    said = [
        f"{Path(c).stem}.{name}: {p['help']}"
        for c in chapters
        for name, p in notebook_parameters(root / c).items()
        if "the book" in p["help"] or "configs/" in p["help"] and "sweeps" not in p["help"]
    ]
    assert not said, "\n".join(said)
