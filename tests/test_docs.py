"""The published book in docs/: every chapter's page from a successful run, every link and figure on disk, small, and
clean in a browser."""

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import CHROMIUM, open_in_chromium

from ppt_book.book import DOCS_LIMIT_MB, book_chapters, page_problems


class _Refs(HTMLParser):
    "The src and href attributes of a page's real tags (code that shows a template's attributes is text, not tags)."

    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def local_refs(text: str) -> list[str]:
    parser = _Refs()
    parser.feed(text)
    return [
        r.split("#")[0].split("?")[0]
        for r in parser.refs
        if not re.match(r"^[a-z]+:", r) and not r.startswith(("//", "#"))
    ]


def page_of(stem: str) -> str:
    return "index.html" if stem == "index" else f"{stem}.html"


@pytest.fixture
def docs(root):
    docs = root / "docs"
    assert (docs / "index.html").exists(), (
        "docs/ holds no published book: run `make book` then `make publish` and commit docs/"
    )
    return docs


def unpublished(root, docs) -> list[str]:
    "Chapters of _quarto.yml that the publication in docs/ does not hold: added since it was made."
    _, order = book_chapters(root)
    results = json.loads((docs / "results.json").read_text(encoding="utf-8"))
    return [Path(c).stem for c in order if Path(c).stem not in results]


def test_published_book_has_every_chapter_from_an_ok_run(root, docs):
    """Every chapter the publication holds ran ok, its page names its run's commit, its figures are files; a chapter
    added to _quarto.yml since the publication has no page until the book is republished, and the test says so."""
    results = json.loads((docs / "results.json").read_text(encoding="utf-8"))
    for stem in results:
        assert results[stem]["status"] == "ok", (stem, results[stem]["status"])
        text = (docs / page_of(stem)).read_text(encoding="utf-8")
        commit = (results[stem]["commit"] or "none")[:10]
        assert f"commit {commit}" in html.unescape(text), (
            f"{page_of(stem)}: the footer does not name the commit {commit} of its run"
        )
        assert not re.search(r"<img[^>]+src=\"data:", text), (
            f"{page_of(stem)}: a figure is embedded; the fallback writes them beside the page"
        )
    size = sum(f.stat().st_size for f in docs.rglob("*") if f.is_file()) / 1e6
    assert size <= DOCS_LIMIT_MB, f"docs/ holds {size:.1f} MB"
    missing = unpublished(root, docs)
    if missing:
        pytest.skip(f"chapter(s) {missing} added since docs/ was published: republish the whole book to show them")


def one_publication(docs):
    "Skip a check that only a publication of one commit can pass (docs/ published before publish_book refused others)."
    results = json.loads((docs / "results.json").read_text(encoding="utf-8"))
    commits = {r["commit"] for r in results.values()}
    if len(commits) > 1:
        pytest.skip(
            f"docs/ holds runs of {len(commits)} commits, published before publish_book refused that: "
            "republish the whole book (`make book`, then `make publish`)"
        )


def test_every_published_page_passes_the_page_checks(docs):
    """What `publish_book` checks before it copies a build (one commit; `page_problems`: maths, heading ids, empty
    headings, figure descriptions, machine paths), checked on what docs/ holds."""
    one_publication(docs)
    problems = [f"{p.name}: {x}" for p in sorted(docs.glob("*.html")) for x in page_problems(p.read_text("utf-8"))]
    assert problems == [], problems[:20]


def test_every_headline_figure_is_on_the_page_its_row_links_to(root, docs):
    """The front page's row and the chapter's page read the same result, a saved benchmark or the book's own run: the
    row's figures are on that page."""
    from ppt_book.headline import headline_rows

    one_publication(docs)
    missing = []
    for row in headline_rows(root, docs / "results.json"):
        page = html.unescape(re.sub(r"<[^>]+>", "", (docs / page_of(row["chapter"])).read_text(encoding="utf-8")))
        missing += [f"{row['chapter']}: {row[k]}" for k in ("ours", "peer", "comparison") if row[k] not in page]
    assert missing == [], missing


def test_every_local_link_and_figure_resolves(root, docs):
    missing = []
    for page in docs.glob("*.html"):
        for ref in local_refs(page.read_text(encoding="utf-8")):  # http(s), mailto and data: are the outside world
            if not (page.parent / ref).exists():
                missing.append(f"{page.name} -> {ref}")
    readme = (root / "README.md").read_text(encoding="utf-8")
    new = {f"docs/{page_of(stem)}" for stem in unpublished(root, docs)}  # not published yet: the test above says so
    missing += [
        f"README.md -> {ref}"
        for ref in re.findall(r"\]\((docs/[^)#]+)", readme)
        if not (root / ref).exists() and ref not in new
    ]
    assert missing == [], missing[:20]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)")
def test_every_published_page_in_headless_chromium(root, docs, tmp_path):
    for stem in json.loads((docs / "results.json").read_text(encoding="utf-8")):
        page = docs / page_of(stem)
        out, console = open_in_chromium(page, tmp_path / "profile")
        assert out.returncode == 0, (page.name, out.stderr[-2000:])
        assert re.search(r"<h1[^>]*>", out.stdout) and "Traceback (most recent call last)" not in out.stdout, page.name
        assert console == [], (page.name, console)
