"""Serving the teacher on a CPU: our fastest runtime (ppt_book.inference) against Hugging Face Optimum's ONNX Runtime
path.

    # the book's teacher
    python benchmarks/inference_vs_optimum.py --teacher-dir runs/book/30_finetuning/artifacts/teacher
    # CI smoke size: a quick teacher, 100 test reviews
    python benchmarks/inference_vs_optimum.py --quick

Optimum (optimum-onnx[onnxruntime]) requires transformers < 4.58, so it cannot live in our environment (transformers 5).
The peer runs in its own virtual environment, .venv-optimum/ (git-ignored), made on first use with pip, on the same
saved teacher folder and the same test reviews; this script hands it a JSON spec and reads its figures back.
Each runtime of ours and the peer is timed in a fresh process of its own. Both sides: ORT's dynamic int8 quantization
(QInt8 weights, one scale per output channel: ours by default), CPU provider, every graph optimisation, and latency
measured the same way (tokenize + forward, median of `repeats` calls after 5 warm-up calls). The last line is the
benchmark JSON line (benchmarks/README.md): ours vs the peer, latency_ms_b1, latency_ms_b64, test_acc, size_mb.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import transformers
from _common import emit, parser, pct, quick_teacher

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".venv-optimum"
PEER_PACKAGES = ["torch==2.13.0", "optimum-onnx[onnxruntime]==0.1.0", "transformers<4.58"]

PEER = r"""
import json, statistics, sys, time
from pathlib import Path
import numpy as np
from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
from optimum.onnxruntime.configuration import AutoQuantizationConfig
from transformers import AutoTokenizer

spec = json.loads(Path(sys.argv[1]).read_text())
work = Path(spec["work"])
ORTModelForSequenceClassification.from_pretrained(spec["teacher_dir"], export=True).save_pretrained(work/"fp32")
vnni = "avx512_vnni" in Path("/proc/cpuinfo").read_text()
quantization = AutoQuantizationConfig.avx512_vnni if vnni else AutoQuantizationConfig.avx2
config = quantization(is_static=False, per_channel=spec["per_channel"])
ORTQuantizer.from_pretrained(work/"fp32").quantize(save_dir=work/"int8", quantization_config=config)
model = ORTModelForSequenceClassification.from_pretrained(work/"int8", file_name="model_quantized.onnx")
tok = AutoTokenizer.from_pretrained(spec["teacher_dir"])
texts, max_length = spec["texts"], spec["max_length"]

def call(batch):
    x = tok(batch, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    logits = model(input_ids=x["input_ids"], attention_mask=x["attention_mask"], token_type_ids=x.get("token_type_ids"))
    return logits.logits

def latency(batch_size, repeats):
    times = []
    for i in range(5 + repeats):
        start = (i * batch_size) % len(texts)
        batch = texts[start:start + batch_size] or texts[:batch_size]
        t0 = time.perf_counter()
        call(batch)
        if i >= 5:
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)

preds = np.concatenate([np.asarray(call(texts[i:i + 64])).argmax(1) for i in range(0, len(texts), 64)])
figures = {
    "latency_ms_b1": latency(1, spec["repeats"]),
    "latency_ms_b64": latency(64, max(3, spec["repeats"] // 10)),
    "test_acc": float((preds == np.array(spec["labels"])).mean()),
    "predictions": preds.tolist(),
    "size_mb": (work/"int8"/"model_quantized.onnx").stat().st_size / 1e6,
    "quantization": "avx512_vnni" if vnni else "avx2",
}
print(json.dumps(figures))
"""


def peer_python() -> Path:
    "The peer's interpreter, making .venv-optimum/ with pip on first use."
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"making {PEER_VENV} for the peer (once): pip install {' '.join(PEER_PACKAGES)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PEER_PACKAGES], check=True
        )
    return python


def headline(line: dict) -> dict:
    "The front page's row: our fastest runtime's latency at batch 1 against Optimum's."
    ours, peer, ratio = line["ours"], line["peer"], line["ratio"]
    return {
        "chapter": "45_inference",
        "claim": "teacher served int8 in ONNX Runtime vs Hugging Face Optimum",
        "ours": f"{ours['latency_ms_b1']:.2f} ms at batch 1, {pct(ours['test_acc'])}",
        "peer": f"{peer['latency_ms_b1']:.2f} ms, {pct(peer['test_acc'])}",
        "comparison": f"{ratio['latency_ms_b1']:.2f}x Optimum's latency",
    }


def measure(runtime: str, spec_path: str) -> dict:
    """One of our runtimes, timed in a fresh process: no threads of an earlier runtime (PyTorch's OpenMP pool) compete
    here."""
    from ppt_book.inference import latency_stats, load_runtime
    from ppt_book.train import predict_logits

    spec = json.loads(Path(spec_path).read_text())
    texts, repeats = spec["texts"], spec["repeats"]
    m = load_runtime(spec["teacher_dir"], runtime, "cpu")
    preds = predict_logits(m.model, m.tokenizer, texts, spec["max_length"]).argmax(1)
    return {
        "latency_ms_b1": latency_stats(m.model, m.tokenizer, texts, 1, repeats, max_length=spec["max_length"])[
            "median_ms"
        ],
        "latency_ms_b64": latency_stats(
            m.model, m.tokenizer, texts, 64, max(3, repeats // 10), max_length=spec["max_length"]
        )["median_ms"],
        "test_acc": float((preds == np.array(spec["labels"])).mean()),
        "predictions": preds.tolist(),
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--teacher-dir", help="a saved teacher (default: fine-tune a quick one)")
    p.add_argument(
        "--test-examples", type=int, default=None, help="test reviews scored (default: all 1,297; --quick 100)"
    )
    p.add_argument("--repeats", type=int, default=None, help="timed calls at batch 1 (default 200; --quick 10)")
    p.add_argument(
        "--no-peer", action="store_true", help="measure ours only (CI without the peer's environment); the peer is null"
    )
    # internal: time one of our runtimes in this process
    p.add_argument("--measure", metavar="RUNTIME", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.spec)))
        return
    transformers.logging.set_verbosity_error()
    from ppt_book.data import load_rotten_tomatoes
    from ppt_book.inference import RUNTIMES
    from ppt_book.stats import bootstrap_ci, paired_test

    work = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    os.environ.setdefault("PPT_BOOK_CACHE", str(work / "cache"))  # our exports go here, not into the teacher's folder
    dsd = load_rotten_tomatoes(0)
    if args.teacher_dir:
        teacher_dir = Path(args.teacher_dir)
    else:
        quick_train = dsd["train"].shuffle(seed=0).select(range(200 if args.quick else 1000))
        teacher_dir = quick_teacher(quick_train, dsd["validation"].select(range(100)), work)
    n_test = args.test_examples or (100 if args.quick else 0)
    repeats = args.repeats or (10 if args.quick else 200)
    test = dsd["test"]
    test = test.select(range(n_test)) if n_test else test
    texts, labels = list(test["text"]), np.array(test["label"])

    spec = work / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "teacher_dir": str(teacher_dir.resolve()),
                "texts": texts,
                "labels": labels.tolist(),
                "repeats": repeats,
                "max_length": 64,
                "work": str(work / "peer"),
                "per_channel": True,
            }
        )
    )
    ours = {}
    for runtime in RUNTIMES:  # each in a fresh process, as the peer is
        out = subprocess.run(
            [sys.executable, __file__, "--measure", runtime, "--spec", str(spec)], capture_output=True, text=True
        )
        if out.returncode != 0:
            sys.exit(f"measuring our {runtime} failed:\n{out.stderr[-3000:]}")
        ours[runtime] = json.loads(out.stdout.strip().splitlines()[-1])
        ours[runtime]["predictions"] = np.array(ours[runtime]["predictions"])
        print(
            json.dumps(
                {"side": "ours", "runtime": runtime, **{k: v for k, v in ours[runtime].items() if k != "predictions"}}
            )
        )
    best = min(ours, key=lambda r: ours[r]["latency_ms_b1"])
    onnx = sorted((work / "cache" / "onnx").rglob("model.int8.onnx")) if best == "onnx-int8" else []
    size_mb = onnx[0].stat().st_size / 1e6 if onnx else None

    ours_line = {
        "runtime": best,
        **{k: v for k, v in ours[best].items() if k != "predictions"},
        "size_mb": size_mb,
        "test_acc_ci": bootstrap_ci(labels, ours[best]["predictions"])[1:],
    }
    if args.no_peer:
        emit(
            "inference_vs_optimum",
            ours_line,
            {},
            test_reviews=len(texts),
            repeats=repeats,
            peer_skipped=True,
            quick=args.quick,
            save=args.save,
        )
        return
    out = subprocess.run(
        [str(peer_python()), "-c", PEER, str(spec)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
    )
    if out.returncode != 0:
        sys.exit(f"the Optimum peer failed:\n{out.stderr[-3000:]}")
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    test_vs_peer = paired_test(labels, ours[best]["predictions"], np.array(peer.pop("predictions")))
    emit(
        "inference_vs_optimum",
        ours_line,
        {"runtime": "optimum ORT int8", **peer},
        test_reviews=len(texts),
        repeats=repeats,
        accuracy_paired_test=test_vs_peer,
        quick=args.quick,
        save=args.save,
        headline=headline,
    )


if __name__ == "__main__":
    main()
