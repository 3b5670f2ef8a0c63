"""The book's prose: numbers come from runs, never typed into Markdown; every chapter closes with a Summary and
exercises."""

import re
from pathlib import Path

import nbformat

from ppt_book.book import book_chapters
from ppt_book.runs import notebook_parameters

_FENCE = re.compile(r"```.*?```", re.S)
_SPAN = re.compile(r"`[^`\n]*`")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
_LINK = re.compile(r"\]\([^)]*\)|https?://\S+|<[^>]+>")
_CITATION = re.compile(r"[A-Z][\w'-]+(?: et al\.?| (?:and|&) [A-Z][\w'-]+)?,? \(?(?:19|20)\d\d[a-z]?\)?")
_CHAPTER = re.compile(r"\b[Cc]hapters? \d+(?:(?:, | and | or |-|–)\d+)*")
_LIST_MARK = re.compile(r"^(\s*)\d+\.\s", re.M)
# a digit run that is not part of a name: not after a letter, digit, '_', '.', '/' or a letter and hyphen (GPT-2, L6-v2,
# fp32, word2vec),
# not before '_' (30_finetuning); a unit after it does not make it a name (22.7M, 12.8k, 3x are typed results)
_NUMBER = re.compile(r"(?<![\w./-])(?<![A-Za-z]-)\d+(?:[.,]\d+)*(?![\d_]|[.,]\d)")
ALLOWED = {  # names that contain a standalone digit run
    "*": ["GloVe 6B 50d", "3CosAdd"],
    "index": ["Python 3.11"],
    "92_book": ["nbdev 3", "nbdev 2"],
}


def prose_numbers(markdown: str, allow=()) -> list[str]:
    """Standalone numbers in Markdown outside headings, code, maths, links, citations, chapter references and list
    markers."""
    text = "\n".join(line for line in _FENCE.sub(" ", markdown).splitlines() if not line.lstrip().startswith("#"))
    for rx in (_SPAN, _MATH, _LINK, _CITATION, _CHAPTER):
        text = rx.sub(" ", text)
    text = _LIST_MARK.sub(r"\1", text)
    for a in allow:
        text = text.replace(a, " ")
    return [(m.group(0) + text[m.end() : m.end() + 15]).split("\n")[0] for m in _NUMBER.finditer(text)]


def test_the_scanner_finds_typed_numbers_and_spares_names():
    typed = "The teacher reaches 81.6% after 2 epochs, 22.7M parameters, 12.8k reviews and a 3x speed-up."
    assert [n.split()[0] for n in prose_numbers(typed)] == ["81.6%", "2", "22.7M", "12.8k", "3x"]
    names = (
        "word2vec, SmolLM2-135M, GPT-2, all-MiniLM-L6-v2, fp32 and int8 as in chapter 30 and chapters 40 and 45; "
        "`lr 1e-3` in code, $p = 0.15$ in maths, (Mikolov et al., 2013), Kaplan et al. (2020), "
        "[a link](https://example.com/2013), 30_finetuning.\n\n# A heading with 3 numbers\n\n1. a numbered item"
    )
    assert prose_numbers(names) == []


def _markdown_cells(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def test_no_typed_numbers_in_the_notebooks(root):
    """A number a reader sees in prose is printed by a code cell from the run, or is maths, code or a name: never typed
    into Markdown."""
    found = []
    for path in sorted((root / "nbs").glob("*.ipynb")):
        allow = ALLOWED["*"] + ALLOWED.get(path.stem, [])
        for i, source in enumerate(_markdown_cells(path)):
            found += [f"{path.stem}, Markdown cell {i}: {n!r}" for n in prose_numbers(source, allow)]
    assert not found, "typed numbers (print them from the run, or write them as maths, code or words):\n" + "\n".join(
        found
    )


def test_the_book_stands_alone(root):
    """The book grew from an overview article its readers do not have: no page refers to it as "the seed" (a word the
    parameter tables use for the random seed); a formulation a chapter corrects is quoted as a common description."""
    pattern = re.compile(r"\b(?:the seed(?:'s)?(?! (?:of|for) (?:the )?random)|seed of this book)\b", re.I)
    found = []
    for path in [*sorted((root / "nbs").glob("*.ipynb")), root / "README.md"]:
        cells = (
            nbformat.read(path, as_version=4).cells
            if path.suffix == ".ipynb"
            else [nbformat.v4.new_markdown_cell(path.read_text())]
        )
        for i, cell in enumerate(cells):
            found += [
                f"{path.name}, cell {i}: ...{m.string[max(0, m.start() - 40) : m.end() + 30]}..."
                for m in pattern.finditer(cell.source)
            ]
    assert not found, "\n".join(found)


_RUN = re.compile(r"ppt-book run (\S+)((?: -[pf] (?:'[^']*'|\S+)(?: (?:'[^']*'|[^\s`-][^\s`]*))?)*)")
_P = re.compile(r"(?:^|\s)-p (\w+)")


def test_every_chapter_closes_with_a_summary_and_exercises(root):
    """A Summary section, then 3-5 numbered exercises; every `-p NAME` in them is a parameter of the chapter it runs,
    and no exercise's run repeats the book's own."""
    from ppt_book.book import book_params
    from ppt_book.runs import resolve_chapter

    _, chapters = book_chapters(root)
    book = book_params(root)
    problems = []
    for c in chapters:
        stem = Path(c).stem
        if stem == "index":
            continue
        cells = _markdown_cells(root / c)
        summary = [i for i, s in enumerate(cells) if re.search(r"^## Summary\s*$", s, re.M)]
        exercises = [i for i, s in enumerate(cells) if re.search(r"^## Exercises\s*$", s, re.M)]
        if not summary or not exercises or exercises[-1] < summary[-1]:
            problems.append(f"{stem}: needs '## Summary' then '## Exercises' in Markdown")
            continue
        text = cells[exercises[-1]].split("## Exercises", 1)[1]
        items = re.findall(r"^\d+\. ", text, re.M)
        if not 3 <= len(items) <= 5:
            problems.append(f"{stem}: {len(items)} exercises, want 3 to 5")
        own = set(notebook_parameters(root / c))
        for item in re.split(r"^\d+\. ", text, flags=re.M)[1:]:
            repeats = []  # for each run the exercise asks for: how it repeats the book's own run, if it does
            for span in re.findall(r"`([^`]+)`", item):
                m = _RUN.search(span)
                names = set(_P.findall(span))
                if m:
                    target = set(notebook_parameters(resolve_chapter(m.group(1), root / "nbs")))
                    repeats.append(_repeats_the_book_run(root, m.group(1), span, book))
                elif span.startswith("-p "):
                    target = own
                    repeats.append(_repeats_the_book_run(root, stem, span, book))
                else:
                    continue
                problems += [f"{stem}: `{span}` names `{n}`, not a parameter of that chapter" for n in names - target]
            if repeats and all(repeats):  # an exercise that only reruns what the page already shows
                problems += [r for found in repeats for r in found]
    assert not problems, "\n".join(problems)


_PV = re.compile(r"-p (\w+) ('[^']*'|\S+)")


def _repeats_the_book_run(root, chapter, span, book) -> list[str]:
    """An exercise's run that the book's own run already is: every `-p` value equal to the one the book ran with (its
    configs/book.yaml value, else the default), or the book's sizes with no `-p` at all."""
    import yaml

    from ppt_book.runs import resolve_chapter

    path = resolve_chapter(chapter, root / "nbs")
    ran = {k: v["default"] for k, v in notebook_parameters(path).items()} | (book.get(Path(path).stem) or {})
    given = {name: yaml.safe_load(value.strip("'")) for name, value in _PV.findall(span)}
    if given and all(ran.get(name) == value for name, value in given.items()):
        return [f"{chapter}: `{span}` repeats the book's run ({given}): change something it did not do"]
    if not given and "configs/book.yaml" in span:
        return [f"{chapter}: `{span}` is the book's own run: change something it did not do"]
    return []
