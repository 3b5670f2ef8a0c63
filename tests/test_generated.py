"""ppt_book.generated: the README from the index notebook, and the modules each chapter exports with their concerns."""

from ppt_book.generated import chapter_modules, modules_markdown, write_readme


def test_readme_is_generated_from_index(root):
    assert write_readme(root, check=True), "README.md is stale: run `ppt-book readme`"
    text = (root / "README.md").read_text()
    assert text.index("make book") < text.index("## What this is")


def test_every_module_states_its_concern_and_the_readme_lists_it(root):
    "One row per module file in ppt_book/, each with the one-line concern its import cell opens with."
    modules = chapter_modules(root / "nbs")
    files = {p.stem for p in (root / "ppt_book").glob("*.py") if not p.stem.startswith("_")}
    assert set(modules) == files
    own = {notebook: name for name, (notebook, _, is_own) in modules.items() if is_own}
    assert own["00_core.ipynb"] == "core" and modules["files"][:1] == ("00_core.ipynb",)
    table = modules_markdown(root)
    assert all(f"`ppt_book.{name}` | {concern} |" in table for name, (_, concern, _) in modules.items())
    assert modules_markdown(root) in (root / "README.md").read_text()
