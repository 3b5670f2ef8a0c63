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


def _book_uses(comment):
    "The value a parameter's comment says the book uses ('the book uses 600; ...'), or None when it names none."
    import ast
    import re
    m = re.search(r"the book uses (\[[^\]]*\]|[^,;( ]+)", comment)
    if not m: return None
    try: return ast.literal_eval(m.group(1))
    except (ValueError, SyntaxError): return m.group(1)


def test_the_book_uses_comments_match_configs_book_yaml(root):
    "A parameter's comment that says what the book uses agrees with configs/book.yaml (or, where the file is silent, the default)."
    from ppt_book.runs import notebook_parameters
    params = book_params(root, root/"configs/book.yaml")
    _, chapters = book_chapters(root)
    wrong = []
    for c in chapters:
        stem = Path(c).stem
        for name, p in notebook_parameters(root/c).items():
            said = _book_uses(p["help"])
            if said is None or said == "all": continue
            actual = (params.get(stem) or {}).get(name, p["default"])
            if said != actual and not (isinstance(actual, str) and str(said) == actual):
                wrong.append(f"{stem}.{name}: the comment says {said!r}, configs/book.yaml gives {actual!r}")
    assert not wrong, "\n".join(wrong)
