"""ppt_book.corpora: the word benchmarks and the Shakespeare split as the chapters use them."""

from ppt_book.corpora import google_analogies, shakespeare_split, simlex999, wordsim353


def test_benchmarks_and_shakespeare():
    assert len(wordsim353()) == 353 and len(simlex999()) == 999
    assert len(google_analogies()) == 19544
    split = shakespeare_split()
    assert len(split["train_plays"]) + len(split["validation_plays"]) == 38 and len(split["validation_plays"]) == 3
    assert "**" not in split["train"] and "_Exeunt_" not in split["train"]
