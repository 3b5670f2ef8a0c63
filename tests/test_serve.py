"""ppt_book.serve and `ppt-book serve`: answers equal to `predict` for every kind of saved model, dynamic batching under
concurrent clients, each bad request, graceful shutdown, the load test, and Ray Serve replicas."""

import concurrent.futures
import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import torch
from conftest import BIN
from fastapi.testclient import TestClient

from ppt_book.cli import build_parser
from ppt_book.core import BadInput
from ppt_book.inference import predict
from ppt_book.model_io import save_classifier
from ppt_book.pretrained import load_minilm_tokenizer
from ppt_book.serve import (
    Batcher,
    ServeConfig,
    expected_answers,
    free_port,
    load_test,
    make_app,
    running_server,
    serve_command,
)
from ppt_book.students import StudentConfig, StudentForSequenceClassification, word_tokenizer

TEXTS = ["a fine film", "a dull film", "fine acting and a dull plot", "dull", "three labels, not two"]
LABELS = ["rotten", "fresh", "mixed"]
# distinct texts, so an answer handed to the wrong caller shows
DISTINCT = [f"review {i}: {'a fine film' if i % 3 else 'a dull plot'} {'and fine acting' * (i % 4)}" for i in range(60)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    "A saved tiny model of each kind: a BERT classifier (the teacher's class), a CNN and a GRU student; three labels."
    root = tmp_path_factory.mktemp("served")
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=3,
    )
    folders = {
        "bert": save_classifier(BertForSequenceClassification(config), load_minilm_tokenizer(), root / "bert", LABELS)
    }
    tok = word_tokenizer(TEXTS + DISTINCT)
    for arch in ("cnn", "gru"):
        torch.manual_seed(0)
        student = StudentConfig(
            arch, vocab_size=len(tok), embed_dim=8, hidden_size=6, num_filters=4, num_labels=3, pad_token_id=0
        )
        folders[arch] = save_classifier(StudentForSequenceClassification(student), tok, root / arch, LABELS)
    return folders


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PPT_BOOK_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("kind", ["bert", "cnn", "gru"])
@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_answers_are_predicts(models, kind, runtime):
    "Label, score and every class's probability as `predict` gives them; an over-long text truncated, and said so."
    texts = TEXTS + ["fine " * 600]
    with TestClient(make_app(ServeConfig(str(models[kind]), runtime))) as client:
        answer = client.post("/predict", json={"texts": texts})
        info = client.get("/info").json()
    assert answer.status_code == 200
    got = answer.json()["predictions"]
    ref = predict(texts, models[kind], runtime=runtime)
    assert [a["label"] for a in got] == list(ref["label"])
    assert np.allclose([a["score"] for a in got], ref["score"], atol=1e-6)
    for label in LABELS:
        assert np.allclose([a["probabilities"][label] for a in got], ref[f"p_{label}"], atol=1e-6)
    assert [a["truncated"] for a in got] == [False] * len(TEXTS) + [True]
    assert info["labels"] == LABELS and info["runtime"] == runtime and info["version"]
    assert info["kind"] == ("BertForSequenceClassification" if kind == "bert" else "StudentForSequenceClassification")
    assert info["served"] == {"requests": 1, "texts": len(texts), "batches": 1}


def test_health_and_docs(models):
    with TestClient(make_app(ServeConfig(str(models["cnn"]), "torch"))) as client:
        assert client.get("/health").json() == {"status": "ok"}
        schema = client.get("/openapi.json").json()
        assert "texts" in json.dumps(schema["paths"]["/predict"]["post"]["requestBody"])
        assert client.get("/docs").status_code == 200


def test_batcher_answers_each_caller_its_own_rows_in_one_pass(models):
    "Requests submitted together share forward passes; each future gets its own texts' rows, in order."
    batcher = Batcher(ServeConfig(str(models["gru"]), "torch", max_batch_size=64, max_wait_ms=200))
    try:
        futures = [batcher.submit(DISTINCT[i : i + 3]) for i in range(0, 30, 3)]
        rows = [f.result(timeout=60) for f in futures]
    finally:
        batcher.close()
    ref = predict(DISTINCT[:30], models["gru"])
    flat = [r for part in rows for r in part]
    assert [len(part) for part in rows] == [3] * 10
    assert np.allclose([r["probabilities"]["fresh"] for r in flat], ref["p_fresh"], atol=1e-6)
    assert batcher.served["requests"] == 10 and batcher.served["batches"] < 10


def test_batcher_keeps_batches_within_the_limit_and_carries_the_rest(models):
    batcher = Batcher(ServeConfig(str(models["cnn"]), "torch", max_batch_size=4, max_wait_ms=100))
    try:
        futures = [batcher.submit(DISTINCT[i : i + 3]) for i in range(0, 15, 3)]
        assert [len(f.result(timeout=60)) for f in futures] == [3] * 5
    finally:
        batcher.close()
    # 3 + 3 > 4: each request of 3 texts is a batch of its own, none split
    assert batcher.served == {"requests": 5, "texts": 15, "batches": 5}


def test_a_failing_batch_reaches_its_callers_and_the_thread_goes_on(models, monkeypatch):
    import ppt_book.serve as serve

    batcher = Batcher(ServeConfig(str(models["cnn"]), "torch", max_wait_ms=0))
    real = serve.classify
    try:
        monkeypatch.setattr(serve, "classify", lambda texts, config: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            batcher.submit(["fine"]).result(timeout=60)
        monkeypatch.setattr(serve, "classify", real)
        assert batcher.submit(["fine"]).result(timeout=60)[0]["label"] in LABELS
    finally:
        batcher.close()


def test_concurrent_clients_get_their_own_answers(models):
    "Many threads, distinct texts, one server: every caller gets the answer for its own text."
    with TestClient(make_app(ServeConfig(str(models["bert"]), "onnx", max_wait_ms=20))) as client:

        def ask(text):
            return client.post("/predict", json={"texts": [text]}).json()["predictions"][0]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            got = list(pool.map(ask, DISTINCT))
        served = client.get("/info").json()["served"]
    ref = predict(DISTINCT, models["bert"], runtime="onnx")
    assert np.allclose([g["probabilities"]["mixed"] for g in got], ref["p_mixed"], atol=1e-5)
    assert served["requests"] == len(DISTINCT) and served["batches"] < len(DISTINCT)


BAD = [
    (b"not json", 400, "body", "not JSON"),
    (b'{"txts": ["a"]}', 422, "texts", 'no "texts"'),
    (b'{"texts": "one text"}', 422, "texts", "is a string: send a list of strings"),
    (b'{"texts": []}', 422, "texts", "is empty"),
    (b'{"texts": ["fine", 7]}', 422, "texts[1]", "texts[1] is a number, not a string"),
    (b'{"texts": ["fine", null]}', 422, "texts[1]", "texts[1] is null"),
    (json.dumps({"texts": ["x"] * 9}).encode(), 413, "texts", "holds 9 texts, over the limit of 8"),
    (json.dumps({"texts": ["x" * 3000]}).encode(), 413, "body", "over the limit of 2,000"),
    (b"\xff\xfe", 400, "body", "not JSON"),
]


@pytest.mark.parametrize("body,status,field,message", BAD)
def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_stays_up(models, body, status, field, message):
    config = ServeConfig(str(models["cnn"]), "torch", max_texts=8, max_body_bytes=2000)
    with TestClient(make_app(config)) as client:
        r = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status and r.json()["field"] == field and message in r.json()["error"], r.json()
        assert client.post("/predict", json={"texts": ["fine"]}).status_code == 200


def test_a_body_without_a_length_is_cut_off_at_the_limit(models):
    config = ServeConfig(str(models["cnn"]), "torch", max_body_bytes=2000)

    def chunks():
        yield b'{"texts": ["'
        for _ in range(100):
            yield b"x" * 100
        yield b'"]}'

    with TestClient(make_app(config)) as client:
        r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over the limit of 2,000 bytes" in r.json()["error"]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"runtime": "tensorrt"}, "--runtime 'tensorrt': use one of"),
        ({"max_batch_size": 0}, "--max-batch-size 0: give a whole number of at least 1"),
        ({"max_wait_ms": -1}, "--max-wait-ms -1: give milliseconds between 0 and 10000"),
        ({"model_dir": "/nonexistent"}, "holds no config.json"),
    ],
)
def test_bad_settings_are_refused_before_loading(models, change, message):
    settings = {"model_dir": str(models["cnn"]), "runtime": "torch"} | change
    with pytest.raises(BadInput, match=message):
        ServeConfig(**settings).check()


def test_cli_defaults_are_the_configs():
    args = build_parser().parse_args(["serve", "some_model"])
    config = ServeConfig("some_model")
    for name in ("runtime", "max_batch_size", "max_wait_ms", "max_texts", "max_body_bytes"):
        assert getattr(args, name) == getattr(config, name), name
    assert args.host == "127.0.0.1"


def test_cli_bad_option_exits_2(models):
    out = subprocess.run(
        [BIN / "ppt-book", "serve", str(models["cnn"]), "--max-texts", "0"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "--max-texts 0: give a whole number of at least 1" in out.stderr


def test_server_process_under_load_then_sigterm_finishes_in_flight_and_exits_0(models, tmp_path):
    """A real server: concurrent clients with distinct texts and 10% bad requests (each answer checked against
    `predict`), then SIGTERM while a request waits in the batcher: it is answered, and the process exits 0."""
    model = str(models["gru"])
    port = free_port()
    env = {"PPT_BOOK_CACHE": str(tmp_path / "cache")}
    with running_server(serve_command(model, port, runtime="onnx", max_wait_ms=5), port, env=env) as server:
        expected = expected_answers(DISTINCT, model, "onnx")
        result = load_test(server.url, DISTINCT, 8, 2.0, expected, tolerance=1e-5, bad_fraction=0.1)
        assert result["ok"] > 20 and result["bad_refused"] > 0
        assert result["wrong"] == result["lost"] == result["server_error"] == result["bad_accepted"] == 0, result
        assert result["max_prob_diff"] < 1e-5
    port = free_port()
    with running_server(serve_command(model, port, runtime="torch", max_wait_ms=1500), port, env=env) as server:
        answer = {}

        def ask():
            answer["r"] = httpx.post(f"{server.url}/predict", json={"texts": ["a fine film"]}, timeout=30)

        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(0.5)  # the request waits in the batcher for company
        server.process.send_signal(signal.SIGTERM)
        asker.join(30)
        assert server.process.wait(30) == 0
    assert answer["r"].status_code == 200 and answer["r"].json()["predictions"][0]["label"] in LABELS


def test_load_test_drives_loopback_only():
    with pytest.raises(BadInput, match="loopback servers only"):
        load_test("http://example.org:8000", ["x"], 1, 0.1)


@pytest.mark.xdist_group("ray")
def test_ray_serve_replicas_answer_like_predict(models, tmp_path):
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install 'ppt_book[ray]'")
    model = str(models["cnn"])
    port = free_port()
    command = serve_command(model, port, runtime="torch", replicas=2)
    with running_server(command, port, env={"PPT_BOOK_CACHE": str(tmp_path / "cache")}) as server:
        got = httpx.post(f"{server.url}/predict", json={"texts": TEXTS}, timeout=60).json()["predictions"]
        ref = predict(TEXTS, model)
        assert np.allclose([g["probabilities"]["fresh"] for g in got], ref["p_fresh"], atol=1e-6)
        result = load_test(server.url, DISTINCT, 4, 1.0, expected_answers(DISTINCT, model, "torch"), tolerance=1e-5)
        assert result["ok"] > 0 and result["wrong"] == result["lost"] == 0
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0


def test_serve_is_a_subcommand():
    out = subprocess.run([sys.executable, "-m", "ppt_book.cli", "serve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--max-wait-ms" in out.stdout and "Ray Serve" in out.stdout


def test_serve_section_runs_as_written(root, models):
    "The command-line chapter's serve command parses, and the body its curl line sends is answered."
    import re
    import shlex

    from test_readme import markdown_section

    section = markdown_section(root / "nbs" / "93_cli.ipynb", "Serve a model over HTTP")
    block = section.split("```bash\n")[1].split("```")[0]
    serve_line = next(line for line in block.splitlines() if line.startswith("ppt-book serve"))
    args = build_parser().parse_args(shlex.split(serve_line.rstrip("& "))[1:])
    assert args.runtime == "onnx-int8" and args.port == 8000
    body = re.search(r"-d '(.+?)'", block).group(1)
    with TestClient(make_app(ServeConfig(str(models["cnn"]), "torch"))) as client:
        assert client.post("/predict", content=body, headers={"content-type": "application/json"}).status_code == 200


def test_close_answers_a_request_carried_past_a_full_batch(models):
    "A request that did not fit the batch before `close` is answered, and the thread stops."
    batcher = Batcher(ServeConfig(str(models["cnn"]), "torch", max_batch_size=3, max_wait_ms=300))
    first, second = batcher.submit(DISTINCT[:2]), batcher.submit(DISTINCT[2:4])
    batcher.close()
    assert len(first.result(timeout=5)) == len(second.result(timeout=5)) == 2
    assert not batcher.thread.is_alive()
