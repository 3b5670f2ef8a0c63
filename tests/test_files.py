"""ppt_book.files: folders replaced whole, with one copy on disk at every moment."""

from ppt_book import files
from ppt_book.files import atomic_dir


def test_atomic_dir_without_an_atomic_exchange(tmp_path, monkeypatch):
    "Where renameat2 is missing, the old folder is renamed aside first, so one copy exists at every moment."
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    target = tmp_path / "site"
    with atomic_dir(target) as d:
        (d / "page").write_text("old")
    seen = []
    real_rename = files.os.rename

    def rename(src, dst):
        seen.append(any(p.exists() for p in [target, *tmp_path.glob(".site.old-*")]))
        real_rename(src, dst)

    monkeypatch.setattr(files.os, "rename", rename)
    with atomic_dir(target) as d:
        (d / "page").write_text("new")
    assert (
        all(seen) and (target / "page").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    )
