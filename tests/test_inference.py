"""ppt_book.inference and `ppt-book predict`: every runtime on every kind of saved model, files in and out, bad
input."""

import io
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import BIN, tiny_bert

from ppt_book.cli import main
from ppt_book.core import BadInput
from ppt_book.inference import (
    RUNTIMES,
    OrtClassifier,
    _ExportRNN,
    export_onnx,
    latency_stats,
    latency_times,
    predict,
    quantize_int8,
)
from ppt_book.model_io import save_classifier
from ppt_book.students import StudentConfig, StudentForSequenceClassification, word_tokenizer
from ppt_book.train import logits_of

TEXTS = ["a fine film", "a dull film", "fine acting and a dull plot", "dull"]


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    "A saved tiny student of each kind (BiLSTM, GRU, CNN)."
    tok = word_tokenizer(TEXTS)
    root = tmp_path_factory.mktemp("students")
    folders = {}
    for arch in ("bilstm", "gru", "cnn"):
        torch.manual_seed(0)
        model = StudentForSequenceClassification(
            StudentConfig(
                arch,
                vocab_size=len(tok),
                embed_dim=8,
                hidden_size=6,
                num_filters=4,
                num_labels=2,
                pad_token_id=tok.pad_token_id,
            )
        )
        folders[arch] = save_classifier(model, tok, root / arch, ["rotten", "fresh"])
    return folders


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PPT_BOOK_CACHE", str(tmp_path / "cache"))


def test_latency_times_the_calls_after_warm_up_on_the_texts_in_turn():
    tok = word_tokenizer(TEXTS)
    seen = []

    def model(input_ids, attention_mask):
        assert not torch.is_grad_enabled()
        seen.append(tok.batch_decode(input_ids, skip_special_tokens=True))
        return torch.zeros(len(input_ids), 2)

    times = latency_times(model, tok, TEXTS, 2, repeats=3, warmup=2)
    assert len(times) == 3 and all(t > 0 for t in times)
    # five calls of two texts: the list in turn, from the first, wrapping round
    assert [len(batch) for batch in seen] == [2] * 5
    assert seen[2] == seen[0] and seen[1] != seen[0]
    stats = latency_stats(model, tok, TEXTS, 1, repeats=4, warmup=0)
    assert 0 < stats["median_ms"] <= stats["p95_ms"]


@pytest.mark.parametrize("arch", ["bilstm", "gru", "cnn"])
def test_every_runtime_answers_like_pytorch(students, arch):
    ref = predict(TEXTS, students[arch])
    for runtime in RUNTIMES[1:]:
        out = predict(TEXTS, students[arch], runtime=runtime)
        assert list(out.columns) == ["text", "label", "score", "p_rotten", "p_fresh"]
        assert np.allclose(out[["p_rotten", "p_fresh"]].sum(axis=1), 1)
        tol = 1e-5 if runtime == "onnx" else 0.05  # int8: close, not equal
        assert np.abs(out["p_fresh"] - ref["p_fresh"]).max() < tol, runtime
    # exports go to the cache, never the model's folder
    assert not any(p.suffix == ".onnx" for p in students[arch].iterdir())


def test_export_rnn_equals_the_packed_student():
    torch.manual_seed(1)
    for arch in ("bilstm", "gru"):
        model = StudentForSequenceClassification(
            StudentConfig(arch, vocab_size=30, embed_dim=5, hidden_size=4, num_labels=3)
        ).eval()
        ids = torch.randint(1, 30, (4, 7))
        mask = torch.ones_like(ids)
        mask[1, 2:], mask[3, 1:] = 0, 0
        ids[mask == 0] = 0
        with torch.no_grad():
            assert torch.allclose(_ExportRNN(model)(ids, mask), logits_of(model, ids, mask), atol=1e-6)


@pytest.mark.parametrize("arch", ["bilstm", "gru"])
def test_second_rnn_export_in_a_process_keeps_any_length(arch, tmp_path):
    """torch's exporter restores the unrolled RNN after each export; a stale dispatch cache once made every later export
    fix the length."""
    torch.manual_seed(2)
    model = StudentForSequenceClassification(
        StudentConfig(arch, vocab_size=30, embed_dim=5, hidden_size=4, num_labels=2)
    ).eval()
    ids = torch.randint(1, 30, (3, 29))
    mask = torch.ones_like(ids)
    mask[1, 11:] = 0
    ids[mask == 0] = 0
    with torch.no_grad():
        ref = logits_of(model, ids, mask)
    for i in range(2):  # the trace uses 16 tokens; both files must take 29
        ort = OrtClassifier(export_onnx(model, tmp_path / f"{i}.onnx"))
        assert torch.allclose(ort(ids, mask), ref, atol=1e-5), i


def test_onnx_file_in_the_folder_is_used(students, tmp_path):
    folder = tmp_path / "with_onnx"
    import shutil

    shutil.copytree(students["cnn"], folder)
    from ppt_book.model_io import load_classifier

    export_onnx(load_classifier(folder)[0], folder / "model.onnx")
    from ppt_book.inference import load_runtime

    loaded = load_runtime(folder, "onnx")
    assert isinstance(loaded.model, OrtClassifier) and loaded.model.path == folder / "model.onnx"
    assert not (tmp_path / "cache").exists()  # nothing exported


def test_quantize_int8_keeps_the_original(students):
    from ppt_book.model_io import load_classifier

    model = load_classifier(students["bilstm"])[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_int8(model)
    assert type(q.rnn).__module__.startswith("torch.ao.nn.quantized") and all(
        torch.equal(before[k], v) for k, v in model.state_dict().items()
    )


def ppt_book(*args, stdin=None, cwd=None):
    return subprocess.run(
        [str(BIN / "ppt-book"), "predict", *args], input=stdin, capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_predict_command_keeps_rows_as_written(students, tmp_path):
    """The installed command writes CSV; the other formats through its entry point in this process (a `ppt-book`
    process each cost 7 s of the test run, importing the same libraries)."""
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": ["001", "002", "003"], "review": ["NA", "a fine film", ""]}).to_csv(src, index=False)
    args = [str(students["cnn"]), str(src), "--text-column", "review", "--runtime", "onnx"]
    out = ppt_book(*args, "-o", str(tmp_path / "out.csv"))
    assert out.returncode == 0, out.stderr
    for suffix in (".jsonl", ".parquet", ".tsv"):
        assert main(["predict", *args, "-o", str(tmp_path / f"out{suffix}")]) == 0
    got = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(got.columns) == ["id", "review", "predicted_label", "score", "p_rotten", "p_fresh"]
    assert list(got["id"]) == ["001", "002", "003"] and list(got["review"]) == ["NA", "a fine film", ""]
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == len(pd.read_json(tmp_path / "out.jsonl", lines=True)) == 3
    assert not list(tmp_path.glob(".out*"))  # no temporary file left


def test_predict_command_reads_stdin_and_writes_stdout(students):
    out = ppt_book(str(students["bilstm"]), "-", stdin="a fine film\na dull film\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "text,predicted_label,score,p_rotten,p_fresh" and len(lines) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["{model}", "{tmp}/missing.csv"], "missing.csv does not exist"),
        (
            ["{model}", "{tmp}/in.csv"],
            "in.csv has no column 'text'; its columns are ['review']: pass the text column's name",
        ),
        (["{tmp}", "{tmp}/in.csv", "--text-column", "review"], "holds no config.json: it is not a saved model folder"),
        (["{model}", "{tmp}/in.xlsx"], "in.xlsx: unknown format '.xlsx'"),
        (
            ["{model}", "{tmp}/in.csv", "--text-column", "review", "-o", "{tmp}/out.xlsx"],
            "--output {tmp}/out.xlsx: unknown suffix '.xlsx'",
        ),
        (
            ["{model}", "{tmp}/in.csv", "--text-column", "review", "--batch-size", "0"],
            "--batch-size must be at least 1, got 0",
        ),
        # found before a single text is classified, and nothing is written
        (
            ["{model}", "{tmp}/in.csv", "--text-column", "review", "-o", "{tmp}/nowhere/out.csv"],
            "the folder {tmp}/nowhere does not exist",
        ),
        (["{model}", "{tmp}/in.csv", "--text-column", "review", "-o", "{tmp}"], "is a folder: name a file in it"),
        (["{model}", "{tmp}/header_only.csv"], "header_only.csv holds no texts to classify"),
        (["{model}", "{tmp}/semicolons.csv"], "looks semicolon-separated, not comma-separated"),
        (
            ["{model}", "{tmp}/tabs.csv"],
            "looks tab-separated, not comma-separated: save it with commas, or name it .tsv",
        ),
        (["{model}", "{tmp}/twice.csv"], "column name(s) ['text'] appear more than once"),
        (["{model}", "{tmp}/ids.csv", "--text-column", "id"], "column 'id' holds numbers only"),
        (["{model}", "{tmp}/lists.jsonl"], "column 'text' holds list values, not texts (first at row 1"),
        (["{model}", "{tmp}/broken.jsonl"], "broken.jsonl, line 2: not valid JSON"),
        (["{model}/config.json", "{tmp}/ids.csv"], "config.json is a file: give the folder a model was saved in"),
        (["{model}", "{tmp}/earlier.csv"], "already has column(s) ['predicted_label', 'score', 'p_rotten', 'p_fresh']"),
    ],
)
def test_predict_command_bad_input_exits_2(students, tmp_path, capsys, args, message):
    """Each bad input found before anything is written, with exit status 2 and a message that names the fix. The cases
    call the command's entry point in this process (the installed command's own exit status is checked below): a
    separate `ppt-book` process each took 6.6 s of the test run's CPU, 17 times, to import the same libraries."""
    pd.DataFrame({"review": ["a fine film"]}).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.xlsx").write_text("x")
    (tmp_path / "header_only.csv").write_text("text\n")
    (tmp_path / "semicolons.csv").write_text("text;label\na fine film;fresh\n")
    (tmp_path / "tabs.csv").write_text("text\tlabel\na fine film\tfresh\n")
    (tmp_path / "twice.csv").write_text("text,text\na fine film,a dull film\n")
    (tmp_path / "ids.csv").write_text("id,text\n1,a fine film\n2,a dull film\n")
    (tmp_path / "lists.jsonl").write_text('{"text": "a fine film"}\n{"text": ["a", "list"]}\n')
    (tmp_path / "broken.jsonl").write_text('{"text": "a fine film"}\n{"text": oops}\n')
    (tmp_path / "earlier.csv").write_text("text,predicted_label,score,p_rotten,p_fresh\nfine,fresh,0.6,0.4,0.6\n")

    def fill(s):
        return s.format(model=students["cnn"], tmp=tmp_path)

    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["predict", *map(fill, args)])
    err = capsys.readouterr().err
    assert code == 2 and fill(message) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_installed_predict_command_exits_2_on_bad_input(students, tmp_path):
    out = ppt_book(str(students["cnn"]), str(tmp_path / "missing.csv"))
    assert out.returncode == 2 and "missing.csv does not exist" in out.stderr, out.stderr


def test_unknown_runtime_and_device(students):
    with pytest.raises(BadInput, match="unknown runtime 'tensorrt'"):
        predict(["x"], students["cnn"], runtime="tensorrt")
    with pytest.raises(BadInput, match="runs on the CPU"):
        predict(["x"], students["cnn"], runtime="onnx", device="cuda")


@pytest.mark.parametrize("arch", ["bilstm", "gru", "cnn"])
def test_empty_texts_are_classified_in_every_runtime(students, arch):
    "A batch of nothing but empty or blank texts gets a prediction per row, as an empty text beside others does."
    from transformers import pipeline

    for runtime in RUNTIMES:
        out = predict(["", "  "], students[arch], runtime=runtime, batch_size=1)
        assert len(out) == 2 and out["label"].isin(["rotten", "fresh"]).all(), runtime
    assert len(pipeline("text-classification", model=str(students[arch]), device=-1)([""])) == 1


def test_a_carriage_return_in_a_text_keeps_the_rows(students, tmp_path, capsys):
    "A bare \\r inside a text is quoted in the CSV written, so the file reads back with as many rows as went in."
    (tmp_path / "in.csv").write_text('text\n"one\rtwo"\na fine film\n', newline="")
    assert main(["predict", str(students["cnn"]), str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "out.csv")["text"]) == ["one\rtwo", "a fine film"]
    capsys.readouterr()
    assert main(["predict", str(students["cnn"]), str(tmp_path / "in.csv")]) == 0
    assert len(pd.read_csv(io.StringIO(capsys.readouterr().out))) == 2


def test_predict_is_quiet_and_saved_files_are_readable_by_all(students, tmp_path):
    (tmp_path / "in.csv").write_text("text\na fine film\n")
    out = ppt_book(str(students["gru"]), str(tmp_path / "in.csv"), "--runtime", "onnx", "-o", str(tmp_path / "o.csv"))
    assert out.returncode == 0 and out.stderr.strip().splitlines() == ["1 rows written to " + str(tmp_path / "o.csv")]
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in students["gru"].iterdir()} == {"0o644"}


def test_a_head_that_disagrees_with_the_config_is_one_line(students, tmp_path):
    import json
    import shutil

    folder = tmp_path / "mismatch"
    shutil.copytree(students["cnn"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "a", "1": "b", "2": "c"}
    config["label2id"] = {"a": 0, "b": 1, "c": 2}
    (folder / "config.json").write_text(json.dumps(config))
    (tmp_path / "in.csv").write_text("text\na fine film\n")
    out = ppt_book(str(folder), str(tmp_path / "in.csv"))
    assert out.returncode == 2 and "config.json names 3 labels but the saved classifier head" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def bert_folders(tmp_path_factory):
    "A saved small random BERT classifier on MiniLM's vocabulary, and its layer student pruned and factorised."
    from ppt_book.pretrained import load_minilm_tokenizer
    from ppt_book.students import factorise_embedding, in_domain_vocab, prune_vocab, transformer_student

    tok = load_minilm_tokenizer()
    bert = tiny_bert(len(tok), 3)
    student, small = prune_vocab(transformer_student(bert, (0, 2)), tok, in_domain_vocab(tok, TEXTS))
    student = factorise_embedding(student, 4).eval()
    root = tmp_path_factory.mktemp("bert")
    return {
        "bert": save_classifier(bert, tok, root / "bert", ["rotten", "fresh"]),
        "layer_student": save_classifier(student, small, root / "student", ["rotten", "fresh"]),
    }


@pytest.mark.parametrize("which,layers", [("bert", 3), ("layer_student", 2)])
def test_bert_exports_with_one_fused_attention_per_layer(bert_folders, which, layers, tmp_path):
    from ppt_book.inference import onnx_op_counts, quantize_onnx_int8
    from ppt_book.model_io import load_classifier

    model, tok = load_classifier(bert_folders[which])
    fused = export_onnx(model, tmp_path / "fused.onnx")
    plain = export_onnx(model, tmp_path / "plain.onnx", fuse=False)
    counts, plain_counts = onnx_op_counts(fused), onnx_op_counts(plain)
    assert counts["Attention"] == layers and "Attention" not in plain_counts
    assert sum(counts.values()) < sum(plain_counts.values())
    assert onnx_op_counts(quantize_onnx_int8(fused, tmp_path / "fused.int8.onnx"))["QAttention"] == layers
    x = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = logits_of(model, x["input_ids"], x["attention_mask"])
    for path in (fused, plain):
        assert torch.allclose(OrtClassifier(path)(x["input_ids"], x["attention_mask"]), ref, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fused.int8.onnx", "fused.onnx", "plain.onnx"]


def test_predict_with_a_layer_student_in_every_runtime(bert_folders):
    ref = predict(TEXTS, bert_folders["layer_student"])
    for runtime in RUNTIMES[1:]:
        out = predict(TEXTS, bert_folders["layer_student"], runtime=runtime)
        tol = 1e-5 if runtime == "onnx" else 0.05
        assert np.abs(out["p_fresh"] - ref["p_fresh"]).max() < tol, runtime
