"""ppt_book.data: own files, bad input, the Rotten Tomatoes split."""

import pandas as pd
import pytest

from ppt_book.data import load_rotten_tomatoes, load_text_classification


@pytest.fixture
def latin1_csv(tmp_path):
    rows = [
        (f"Crítica {i}: {word} à la française", label)
        for i, (word, label) in enumerate([("magnifique", "good"), ("nul", "bad"), ("moyen", "meh")] * 30)
    ]
    path = tmp_path / "critiques.csv"
    pd.DataFrame(rows, columns=["avis", "note"]).to_csv(path, index=False, encoding="latin-1")
    return path


def test_latin1_three_class_csv_loads_and_splits(latin1_csv):
    dsd, report = load_text_classification(latin1_csv, "avis", "note", encoding="latin-1", return_report=True)
    assert dsd["train"].features["label"].names == ["bad", "good", "meh"]
    assert {s: len(dsd[s]) for s in dsd} == {"train": 72, "validation": 9, "test": 9}
    for split in dsd.values():  # stratified: each class a third of every split
        counts = pd.Series(split["label"]).value_counts()
        assert counts.nunique() == 1 and len(counts) == 3
    assert "à la française" in dsd["test"]["text"][0]
    assert report.attrs == {"rows_in": 90, "rows_out": 90}
    all_texts = [t for s in dsd.values() for t in s["text"]]
    assert len(all_texts) == len(set(all_texts))


def test_integer_labels_and_split_column(tmp_path):
    df = pd.DataFrame(
        {
            "text": [f"text number {i}" for i in range(12)],
            "label": [0, 1, 2] * 4,
            "split": ["train"] * 6 + ["dev"] * 3 + ["test"] * 3,
        }
    )
    df.to_json(tmp_path / "d.json", orient="records")
    dsd = load_text_classification(tmp_path / "d.json")
    assert [len(dsd[s]) for s in ("train", "validation", "test")] == [6, 3, 3]
    assert dsd["train"].features["label"].names == ["0", "1", "2"]


def test_grouped_split_keeps_groups_together(tmp_path):
    df = pd.DataFrame(
        {
            "t": [f"review {i} of film {i % 20}" for i in range(200)],
            "y": ["a", "b"] * 100,
            "film": [f"f{i % 20}" for i in range(200)],
        }
    )
    df.to_parquet(tmp_path / "g.parquet")
    dsd = load_text_classification(tmp_path / "g.parquet", "t", "y", group_column="film")
    films = [set(dsd[s]["film"]) for s in ("train", "validation", "test")]
    assert not (films[0] & films[1]) and not (films[0] & films[2]) and not (films[1] & films[2])


@pytest.mark.parametrize(
    "make, kwargs, message",
    [
        (lambda p: p / "missing.csv", {}, "missing.csv does not exist"),
        (lambda p: (p / "x.xlsx").write_text("x") and p / "x.xlsx", {}, "unknown format '.xlsx'"),
        (
            lambda p: pd.DataFrame({"a": ["x"], "label": [1]}).to_csv(p / "c.csv", index=False) or p / "c.csv",
            {},
            r"c.csv has no column 'text' \(text_column\); its columns are \['a', 'label'\]",
        ),
        (
            lambda p: (
                pd.DataFrame({"text": ["x", "y"], "label": [1, 1]}).to_csv(p / "o.csv", index=False) or p / "o.csv"
            ),
            {},
            "one class only",
        ),
        (
            lambda p: (
                pd.DataFrame({"text": ["", None], "label": [0, 1]}).to_csv(p / "e.csv", index=False) or p / "e.csv"
            ),
            {},
            "Nothing is left of .*e.csv after cleaning",
        ),
        (
            lambda p: (
                pd.DataFrame({"text": ["x", "y", "z"], "label": [0, None, 1]}).to_csv(
                    p / "m.tsv", sep="\t", index=False
                )
                or p / "m.tsv"
            ),
            {},
            r"m.tsv: label column 'label' has 1 missing value\(s\), first at row 1: fill them or drop those rows",
        ),
        (
            lambda p: (p / "b.csv").write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1")) and p / "b.csv",
            {},
            r"b.csv is not valid utf-8: byte 0xe9 .* encoding='latin-1'",
        ),
    ],
)
def test_bad_input_names_file_column_and_fix(tmp_path, make, kwargs, message):
    path = make(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_text_classification(path, **kwargs)


def test_rotten_tomatoes_split_by_movie():
    dsd = load_rotten_tomatoes(seed=0)
    movies = [set(dsd[s]["movie"]) for s in ("train", "validation", "test")]
    assert not (movies[0] & movies[2]) and not (movies[1] & movies[2]) and not (movies[0] & movies[1])
    n = sum(len(m) for m in movies)
    assert abs(len(movies[0]) / n - 0.8) < 0.01 and abs(len(movies[2]) / n - 0.1) < 0.01
    assert sum(len(dsd[s]) for s in dsd) > 12000


def test_a_training_file_with_two_label_columns_names_the_column(tmp_path):
    (tmp_path / "two.csv").write_text("text,label,label\na fine film,fresh,rotten\n")
    with pytest.raises(ValueError, match=r"column name\(s\) \['label'\] appear more than once"):
        load_text_classification(tmp_path / "two.csv")


def test_a_thousand_labels_give_a_short_error(tmp_path):
    "Too few rows per class to split: the message names a few classes and counts the rest, in one line."
    pd.DataFrame({"text": [f"review {i}" for i in range(1000)], "label": [f"c{i}" for i in range(1000)]}).to_csv(
        tmp_path / "many.csv", index=False
    )
    with pytest.raises(ValueError) as err:
        load_text_classification(tmp_path / "many.csv")
    assert "have too few rows to split" in str(err.value) and "995 more" in str(err.value)
    assert len(str(err.value)) < 600
