"""The book build: chapters run into runs/book/, staged into _proc/, rendered by the fallback into _book/."""

import re

import pytest
import yaml
from conftest import CHROMIUM, make_notebook, open_in_chromium

from ppt_book.book import book_dependencies, build_book, markdown_math_to_mathml, page_problems
from ppt_book.cli import main

PLOT = (
    "import matplotlib.pyplot as plt\nfrom ppt_book.figures import describe_figures\ndescribe_figures()\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\n"
    "ax.plot([0, 1, 2], [steps, 1, 0]); ax.set(title='a figure', xlabel='step', ylabel='loss'); plt.show()"
)


EXPORTED = """#| export
def double(x:int, # the number to double
          ) -> int:
    "Twice `x`."
    return 2 * x  # folded source
"""


@pytest.fixture
def book_project(tmp_path):
    nbs = tmp_path / "nbs"
    make_notebook(
        nbs / "index.ipynb",
        [("md", "Read the chapters."), "#| echo: false\nprint('index ran')"],
        'runs_dir = "../runs"',
        title="Fixture Book",
    )
    make_notebook(
        nbs / "10_alpha.ipynb",
        [
            ("md", "The loss is $L = -\\log p(y \\mid x)$ and\n\n$$\\sum_i a_i v_{w_i}$$"),
            ("md", "## A section\n\nIts words, and $\\arg\\max_c p_c$.\n\n### A section\n\nThe same words twice."),
            "from ppt_book.records import record\nrecord('alpha_value', steps * 2)\n"
            "record('alpha_interval', [steps, 0, 1])\nprint('alpha printed', steps)",
            "#| hide\nprint('hidden cell output')",
            PLOT,
            "#| export\nimport json  # the module's own imports",
            EXPORTED,
            "import sys\nprint('a warning', 'on stderr', file=sys.stderr)",
            "for i in range(30):\n    print(f'step {i}: loss 0.{i}')\n"
            "print(chr(13).join(f'bar {p}%' for p in (10, 50, 100)))",
            "import pandas as pd\npd.DataFrame({'row': range(40)})",
        ],
        "steps = 1  # a knob",
        title="Alpha chapter",
    )
    make_notebook(nbs / "20_beta.ipynb", ["print('beta printed', word)"], 'word = "x"', title="Beta chapter")
    (tmp_path / "_quarto.yml").write_text(
        yaml.safe_dump(
            {
                "project": {"type": "book", "output-dir": "_book"},
                "book": {
                    "title": "Fixture Book",
                    "chapters": [
                        "nbs/index.ipynb",
                        {"part": "First part", "chapters": ["nbs/10_alpha.ipynb"]},
                        "nbs/20_beta.ipynb",
                    ],
                },
            }
        )
    )
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "book.yaml").write_text("10_alpha: {steps: 7}\n20_beta: {word: hello}\n")
    return tmp_path


def test_fallback_book_renders_every_chapter_linked(book_project):
    statuses = build_book(book_project, renderer="fallback", progress=False)
    assert statuses == {"10_alpha": "ok", "20_beta": "ok", "index": "ok"}
    book = book_project / "_book"
    pages = {p: (book / p).read_text() for p in ["index.html", "10_alpha.html", "20_beta.html"]}
    for name, page in pages.items():
        for other in pages:
            assert f'href="{other}"' in page, (name, other)  # table of contents
        assert "<title>" in page and "Fixture Book" in page
    alpha = pages["10_alpha.html"]
    assert "alpha printed 7" in alpha  # the executed output with the book's parameters
    assert "hidden cell output" not in alpha and "#| hide" not in alpha
    figure = re.search(r'<img[^>]+src="(10_alpha_files/[^"]+\.png)"', alpha)  # figures as PNG files beside the page
    assert figure and (book / figure.group(1)).stat().st_size > 1000 and not re.search(r"<img[^>]+src=\"data:", alpha)
    assert """alt='Line plot "a figure", x axis: step, y axis: loss'""" in alpha  # described from the figure
    # the parts in the contents; every heading has an id, and the page lists its sections
    assert re.search(r'<p class="book-part">First part</p><ol><li><a [^>]*href="10_alpha.html"', alpha)
    assert '<h2 id="a-section">' in alpha and '<h3 id="a-section-1">' in alpha
    assert re.search(r'<aside class="page-toc"[^>]*>.*<a href="#a-section">A section</a>', alpha, re.S)
    assert "argmax" in alpha and "\\arg" not in alpha  # maths the fallback's converter does not know, rewritten
    # the parameters as one table with this run's value; papermill's injected cell not shown
    assert re.search(
        r"<td><code>steps</code></td>\s*<td><code>7</code> \(default <code>1</code>\)</td>\s*<td>a knob</td>", alpha
    )
    assert "Parameters" not in alpha.split("Parameters of this run", 1)[1]
    # after the opening paragraph, open because it is short
    params_table = re.search(r"<details [^>]*\bid=\"parameters\"[^>]*>", alpha)
    assert params_table and " open" in params_table.group(0) and alpha.index("The loss is") < params_table.start()
    # an exported function: signature, docstring and parameter table, its source folded
    doc = alpha.split('<div class="api-doc">', 1)[1].split("<details", 1)[0]
    assert (
        '<span class="n">double</span>' in doc and "Twice <code>x</code>" in doc and "the number to double</td>" in doc
    )
    assert re.search(
        r'<details class="book-source"><summary>source</summary>.*?folded source.*?</details>', alpha, re.S
    )
    assert "the module&#39;s own imports" not in alpha and "the module's own imports" not in alpha  # plumbing
    assert "a warning on stderr" not in alpha and "#| code-fold" not in alpha  # no stderr blocks, no directives
    assert "<math" in alpha and "$L" not in alpha  # maths as MathML
    assert re.search(r'<a (?=[^>]*rel="prev")(?=[^>]*href="index.html")', alpha)
    assert re.search(r'<a (?=[^>]*rel="next")(?=[^>]*href="20_beta.html")', alpha)
    assert "beta printed hello" in pages["20_beta.html"]
    assert "index ran" in pages["index.html"] and "print(&#39;index ran&#39;)" not in pages["index.html"]
    # the foot in words: commit, date, time taken, processor, and a link to the parameters
    assert re.search(r"This page shows the run of commit \w+ started on \d{4}-\d\d-\d\d at \d\d:\d\d UTC", alpha)
    assert '<a href="#parameters">' in alpha
    assert page_problems(alpha) == []
    # a long log folds under one line; a progress bar shows its last drawing only
    assert re.search(
        r'<details class="book-log"><summary>the run\'s log, 31 lines</summary>.*step 29: loss', alpha, re.S
    )
    assert "bar 100%" in alpha and "bar 50%" not in alpha
    assert '<details class="book-log"><summary>the full table, 40 rows</summary>' in alpha
    for page in pages.values():  # nothing from a CDN: the book reads offline
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page)
    # staged and executed copies
    assert (book_project / "_proc" / "nbs" / "10_alpha.ipynb").exists() and (
        book_project / "_proc" / "_quarto.yml"
    ).exists()
    metrics = (book_project / "runs" / "book" / "10_alpha" / "metrics.json").read_text()
    assert '"run_id": "book"' in metrics and '"alpha_value": 14' in metrics


def test_book_rejects_unknown_chapter_in_config(book_project):
    (book_project / "configs" / "book.yaml").write_text("99_nope: {x: 1}\n")
    with pytest.raises(Exception, match=r"names chapter\(s\) \['99_nope'\]"):
        build_book(book_project, renderer="fallback")


def test_page_problems_names_what_a_reader_would_trip_on():
    good = (
        '<main><h1 id="t">Title</h1><p>Words.</p><h2 id="s">Section</h2><p>More.</p>'
        '<img src="a.png" alt="Line plot"></main>'
    )
    assert page_problems(good) == []
    bad = (
        "<main><h1>Title</h1><p>Written to /home/me/ppt/runs/x, a path of one machine.</p>"
        '<h2 id="e">Empty</h2><h2 id="f">Full</h2><p>$$x$$ and <math><mi>\\arg</mi></math></p>'
        '<img src="a.png" alt="No description has been provided for this image"><img src="b.png"></main>'
    )
    problems = page_problems(bad)
    assert "heading without an id: Title" in problems and "heading with nothing under it: Empty" in problems
    assert "maths shows the LaTeX command \\arg as text" in problems and "LaTeX left as text: $$" in problems
    assert "a path of the machine that built it: /home/me/ppt/runs/x" in problems
    assert "figure without a description: a.png" in problems and "figure without a description: b.png" in problems
    assert len(problems) == 7, problems


def test_maths_conversion_leaves_code_alone():
    out = markdown_math_to_mathml("cost $x^2$, code `$PATH` and ```\n$$not maths$$\n```")
    assert "<math" in out and "`$PATH`" in out and "$$not maths$$" in out


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)")
def test_page_in_headless_chromium(book_project, tmp_path):
    build_book(book_project, renderer="fallback", progress=False)
    page = book_project / "_book" / "10_alpha.html"
    out, console = open_in_chromium(page, tmp_path / "profile")
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert "<title>Alpha chapter | Fixture Book</title>" in dom and "Alpha chapter</h1>" in dom
    assert re.search(r'<img[^>]+src="10_alpha_files/[^"]+\.png"', dom) and "<math" in dom
    assert console == [], console


def test_publish_copies_a_complete_build_and_refuses_a_partial_one(book_project):
    import json

    from ppt_book.book import publish_book
    from ppt_book.runs import ExperimentError

    with pytest.raises(ExperimentError, match="10_alpha: no book run"):
        publish_book(book_project)  # nothing built yet
    build_book(book_project, renderer="fallback", progress=False)
    results = publish_book(book_project)
    docs = book_project / "docs"
    assert {p.name for p in docs.glob("*.html")} == {"index.html", "10_alpha.html", "20_beta.html"}
    assert any(docs.glob("10_alpha_files/*.png")) and (docs / ".nojekyll").exists()
    saved = json.loads((docs / "results.json").read_text())
    assert saved == json.loads(json.dumps(results, default=str)) and saved["10_alpha"]["metrics"]["alpha_value"] == 14
    assert saved["10_alpha"]["params"] == {"steps": 7}
    assert saved["10_alpha"]["metrics"]["alpha_interval"] == [7, 0, 1]  # an interval is kept with its ends
    (book_project / "_book" / "20_beta.html").unlink()
    with pytest.raises(ExperimentError, match="20_beta: .*20_beta.html is missing"):
        publish_book(book_project)
    assert (docs / "20_beta.html").exists()  # the last publication is kept whole


@pytest.fixture
def chained_project(book_project):
    "The fixture book plus a chapter whose book parameters read 10_alpha's book run, as 40 reads 30's teacher."
    make_notebook(
        book_project / "nbs" / "30_gamma.ipynb",
        ["from pathlib import Path\nassert (Path(alpha_dir) / 'metrics.json').exists(), alpha_dir\nprint('gamma ran')"],
        'alpha_dir = ""  # a book run to read',
        title="Gamma chapter",
    )
    spec = yaml.safe_load((book_project / "_quarto.yml").read_text())
    spec["book"]["chapters"].append("nbs/30_gamma.ipynb")
    (book_project / "_quarto.yml").write_text(yaml.safe_dump(spec))
    with open(book_project / "configs" / "book.yaml", "a") as f:
        f.write("30_gamma: {alpha_dir: ../runs/book/10_alpha}\n")
    return book_project


def test_one_chapter_stops_before_running_when_a_book_run_it_reads_is_missing(chained_project):
    with pytest.raises(Exception, match=r"read the book runs of 10_alpha, .*`ppt-book book --chapter 10_alpha`"):
        build_book(chained_project, chapters=["30_gamma"], renderer="fallback", progress=False)
    assert not (chained_project / "runs" / "book").exists()


def test_one_chapter_runs_what_it_reads_first_and_renders_what_has_runs(chained_project, capsys, monkeypatch):
    statuses = build_book(
        chained_project, chapters=["gamma"], renderer="fallback", progress=False, with_dependencies=True
    )
    assert statuses == {"10_alpha": "ok", "30_gamma": "ok"}
    out = capsys.readouterr().out
    assert "running first the book runs these read: 10_alpha" in out
    assert "not rendered, no book run yet: index, 20_beta" in out
    pages = sorted(p.name for p in (chained_project / "_book").glob("*.html"))
    assert pages == ["10_alpha.html", "30_gamma.html"]
    # the command exits 0: the chapter asked for ran ok, though the book is incomplete (and cannot be published)
    monkeypatch.chdir(chained_project)
    assert main(["book", "--chapter", "30_gamma", "--renderer", "fallback"]) == 0
    assert main(["book", "--no-execute", "--publish", "--renderer", "fallback"]) == 2


def test_book_dependencies_are_the_runs_a_chapters_paths_read():
    params = {
        "teacher_dir": "../runs/book/30_finetuning/artifacts/teacher",
        "lm_metrics": "runs/book/20_lm/metrics.json",
    }
    assert book_dependencies(params | {"dirs": ["../runs/book/30_finetuning", "x"], "n": 3}) == [
        "30_finetuning",
        "20_lm",
    ]
