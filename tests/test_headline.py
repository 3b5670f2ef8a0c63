"""ppt_book.headline: the front page's table shows the row each saved result carries."""

import json


def test_headline_table_shows_the_row_each_result_carries(tmp_path):
    """The front page's table has one row per saved result that carries one, linked to its chapter and dated, and says
    so when there are none: it knows no benchmark's layout."""
    from ppt_book.headline import headline_markdown

    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    assert "No benchmark results are committed yet" in headline_markdown(tmp_path)
    row = {"chapter": "10_embeddings", "claim": "word2vec", "ours": "10 s", "peer": "20 s", "comparison": "0.50x"}
    (results / "embeddings_vs_gensim.json").write_text(json.dumps({"headline": row, "date": "2026-11-30"}))
    (results / "levers.json").write_text(json.dumps({"ours": {}, "peer": {}}))
    table = headline_markdown(tmp_path, link_prefix="")
    (line,) = [line for line in table.splitlines() if line.startswith("| word2vec")]
    assert "| 10 s | 20 s | 0.50x | [10_embeddings](10_embeddings.html) |" in line and "2026-11-30" in line
    assert "levers" not in table
