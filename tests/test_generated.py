"""ppt_book.generated: the README from the index notebook, and the modules each chapter exports with their concerns."""

import re
from pathlib import Path

from ppt_book.generated import chapter_modules, modules_markdown, write_readme


def test_readme_is_generated_from_index(root):
    assert write_readme(root, check=True), "README.md is stale: run `ppt-book readme`"
    text = (root / "README.md").read_text()
    # an introduction first: for whom, the reading path, how to read; then the results and the commands
    headings = [
        "## Who it is for",
        "## Reading path",
        "## How to read it",
        "## Headline results",
        "## The two commands",
    ]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)


def test_the_readme_has_no_empty_heading(root):
    "Every heading of the README has something under it before the next heading of its level or above."
    lines = (root / "README.md").read_text().splitlines()
    headings = [(i, len(m.group(1))) for i, line in enumerate(lines) if (m := re.match(r"^(#{1,6}) ", line))]
    empty = [
        lines[i]
        for (i, level), nxt in zip(headings, headings[1:] + [(len(lines), 0)])
        if not any(line.strip() for line in lines[i + 1 : nxt[0]]) and (nxt[1] == 0 or nxt[1] <= level)
    ]
    assert empty == [], empty


def test_the_reading_path_lists_every_chapter_in_its_part(root):
    "The index's reading path links each chapter of `_quarto.yml` once, in order, under its part's name."
    from test_readme import markdown_section

    from ppt_book.book import book_chapters, book_parts

    path = markdown_section(root / "nbs" / "index.ipynb", "Reading path")
    book, _ = book_chapters(root)
    expected, found = [], []
    for part in book_parts(book):
        expected += [f"**{part['title']}**"] if part["title"] else []
        expected += [f"{Path(c).stem}.html" for c in part["chapters"] if Path(c).stem != "index"]
    for m in re.finditer(r"^\*\*[^*]+\*\*$|\]\((\w+\.html)\)", path, re.M):
        found.append(m.group(1) or m.group(0))
    assert found == expected


def test_every_module_states_its_concern_and_the_readme_lists_it(root):
    "One row per module file in ppt_book/, each with the one-line concern its import cell opens with."
    modules = chapter_modules(root / "nbs")
    files = {p.stem for p in (root / "ppt_book").glob("*.py") if not p.stem.startswith("_")}
    assert set(modules) == files
    own = {notebook: name for name, (notebook, _, is_own) in modules.items() if is_own}
    assert own["00_core.ipynb"] == "core" and modules["files"][:1] == ("00_core.ipynb",)
    table = modules_markdown(root)
    assert all(f"`ppt_book.{name}` | {concern} |" in table for name, (_, concern, _) in modules.items())
    assert "modules_markdown()" in (root / "nbs" / "92_book.ipynb").read_text()  # the book's chapter shows it
