"""Serving over HTTP under load: `ppt-book serve` (dynamic batching, ONNX Runtime int8) against the server a
practitioner writes first, FastAPI calling `transformers.pipeline` once per request, on the same saved model and texts.

    # the book's teacher and best student
    python benchmarks/serve_load.py --save
    # CI smoke size: a quick teacher and student, short runs, no soak
    python benchmarks/serve_load.py --quick

Every server runs in a process of its own on 127.0.0.1 and is driven from this one by `ppt_book.serve.load_test`: a
fixed number of concurrent clients, each sending one test review per request and the next when the answer comes, for a
fixed time. Each concurrency level gets requests/s, texts/s and p50/p95/p99 latency. The peer serves the model in
PyTorch fp32 with no batching (a sync FastAPI endpoint, so concurrent requests run on FastAPI's thread pool). Our server
also runs as two Ray Serve replicas (`ppt-book serve --replicas 2`), the path past one machine. A soak then drives our
student server at concurrency 64 with 5% malformed requests for `--soak-s` seconds: every good answer is checked
against `predict`'s, every bad one must get a 4xx, and the server's resident memory is read before and after. The last
line is the benchmark JSON line (benchmarks/README.md).
"""

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import sys

from _common import ROOT, emit, parser, quick_teacher

CONCURRENCY = (1, 8, 32, 64)
QUICK_CONCURRENCY = (1, 32)  # --quick: the headline's level and the lone client
RUNTIME = "onnx-int8"  # ours: the fastest runtime of chapter 45 for every model it serves


def peer_server(model_dir: str, port: int) -> None:
    "The server a practitioner writes first: `pipeline` loaded once, called once per request, no batching."
    import uvicorn
    from fastapi import FastAPI
    from transformers import pipeline

    import ppt_book.students  # noqa: F401  (registers the student classes with transformers' Auto classes)

    classifier = pipeline("text-classification", model=model_dir, device="cpu")
    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: dict):
        return {"predictions": classifier(body["texts"], truncation=True)}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def curve(command: list[str], port: int, texts, expected, seconds: float, levels) -> list[dict]:
    "One server started by `command`, driven at each concurrency level for `seconds`."
    from ppt_book.serve import load_test, running_server

    with running_server(command, port) as server:
        load_test(server.url, texts, 4, min(2.0, seconds))  # warm-up: first calls, thread pools, caches
        return [load_test(server.url, texts, c, seconds, expected) for c in levels]


def soak(model_dir: str, texts, expected, seconds: float) -> dict:
    "Our server at concurrency 64 with 5% bad requests for `seconds`: what was lost, wrong or refused, and memory."
    from ppt_book.serve import free_port, load_test, resident_mb, running_server, serve_command

    port = free_port()
    with running_server(serve_command(model_dir, port, runtime=RUNTIME), port) as server:
        load_test(server.url, texts, 64, min(10.0, seconds / 4), expected)  # warm: memory settles after a first load
        before = resident_mb(server.process.pid)
        result = load_test(server.url, texts, 64, seconds, expected, bad_fraction=0.05)
        after = resident_mb(server.process.pid)
    return result | {"rss_before_mb": before, "rss_after_mb": after, "rss_growth": after / before - 1}


def figures(rows: list[dict]) -> dict:
    "The flat figures of one curve: requests/s and p95 at each concurrency."
    out = {}
    for r in rows:
        out[f"requests_per_s_c{r['concurrency']}"] = r["requests_per_s"]
        out[f"p95_ms_c{r['concurrency']}"] = r["p95_ms"]
    return out


def headline(line: dict) -> dict:
    "The front page's row: the best student served at 32 concurrent clients, ours against pipeline-per-request."
    ours, peer, ratio = line["ours"], line["peer"], line["ratio"]
    return {
        "chapter": "45_inference",
        "claim": "best student served over HTTP, 32 concurrent clients, vs FastAPI + pipeline per request",
        "ours": f"{ours['requests_per_s_c32']:.0f} requests/s, p95 {ours['p95_ms_c32']:.0f} ms",
        "peer": f"{peer['requests_per_s_c32']:.0f} requests/s, p95 {peer['p95_ms_c32']:.0f} ms",
        "comparison": f"{ratio['requests_per_s_c32']:.1f}x the requests/s",
    }


def quick_student(dsd, work: Path) -> str:
    "A CNN student trained for a smoke run on 200 labelled reviews, saved in `work`/student."
    from ppt_book.distill import DistillConfig, train_student
    from ppt_book.model_io import save_classifier
    from ppt_book.students import StudentConfig, StudentForSequenceClassification, word_tokenizer

    train = dsd["train"].select(range(200))
    tok = word_tokenizer(list(dsd["train"]["text"]))
    config = StudentConfig("cnn", vocab_size=len(tok), num_labels=2, pad_token_id=tok.pad_token_id)
    model = train_student(
        StudentForSequenceClassification(config),
        tok,
        list(train["text"]),
        None,
        list(train["label"]),
        dsd["validation"].select(range(100)),
        DistillConfig(lr=3e-3, num_epochs=3, batch_size=16, max_length=64),
        log=lambda *a: None,
    )["model"]
    return str(save_classifier(model, tok, work / "student", dsd["train"].features["label"].names))


def main():
    p = parser(__doc__)
    p.add_argument("--teacher-dir", default=str(ROOT / "runs/book/30_finetuning/artifacts/teacher"))
    p.add_argument("--student-dir", default=str(ROOT / "runs/book/40_distillation/artifacts/best_student"))
    p.add_argument("--seconds", type=float, help="seconds per concurrency level (default 15; --quick 2)")
    p.add_argument("--soak-s", type=float, help="seconds of the soak (default 60; --quick 5)")
    p.add_argument("--no-ray", action="store_true", help="leave out the Ray Serve replicas")
    p.add_argument("--peer-server", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peer_server:
        return peer_server(args.peer_server, args.port)

    from ppt_book.data import load_rotten_tomatoes
    from ppt_book.serve import expected_answers, free_port, serve_command

    seconds = args.seconds or (2.0 if args.quick else 15.0)
    levels = QUICK_CONCURRENCY if args.quick else CONCURRENCY
    soak_s = args.soak_s or (5.0 if args.quick else 60.0)
    dsd = load_rotten_tomatoes(0)
    texts = list(dsd["test"]["text"])
    work = Path(tempfile.mkdtemp())
    if args.quick:
        teacher = quick_teacher(dsd["train"].select(range(200)), dsd["validation"].select(range(100)), work)
        models = {"teacher": str(teacher), "student": quick_student(dsd, work)}
        texts = texts[:200]
    else:
        models = {"teacher": args.teacher_dir, "student": args.student_dir}
        for name, folder in models.items():
            if not (Path(folder) / "config.json").is_file():
                sys.exit(f"{folder} holds no saved {name}: run `ppt-book book --chapter 40 --with-dependencies`")
    curves = {}
    for name, folder in models.items():
        ours_expected = expected_answers(texts, folder, RUNTIME)
        peer_expected = expected_answers(texts, folder, "torch")
        port = free_port()
        curves[name, "ours"] = curve(
            serve_command(folder, port, runtime=RUNTIME), port, texts, ours_expected, seconds, levels
        )
        peer = [sys.executable, __file__, "--peer-server", folder, "--port", str(port)]
        curves[name, "peer"] = curve(peer, port, texts, peer_expected, seconds, levels)
        print(name, "ours", figures(curves[name, "ours"]), "\n", name, "peer", figures(curves[name, "peer"]))
    extra = {"curves": {f"{name}_{side}": rows for (name, side), rows in curves.items()}}
    student = models["student"]
    student_expected = expected_answers(texts, student, RUNTIME)
    if not args.no_ray:
        port = free_port()
        command = serve_command(student, port, runtime=RUNTIME, replicas=2)
        extra["curves"]["student_ray_2_replicas"] = curve(command, port, texts, student_expected, seconds, levels)
    if not args.quick:
        extra["soak"] = soak(student, texts, student_expected, soak_s)
    extra["runtime"], extra["texts"] = RUNTIME, len(texts)
    emit(
        "serve_load",
        figures(curves["student", "ours"]) | {f"teacher_{k}": v for k, v in figures(curves["teacher", "ours"]).items()},
        figures(curves["student", "peer"]) | {f"teacher_{k}": v for k, v in figures(curves["teacher", "peer"]).items()},
        save=args.save,
        quick=args.quick,
        headline=headline,
        **extra,
    )


if __name__ == "__main__":
    main()
