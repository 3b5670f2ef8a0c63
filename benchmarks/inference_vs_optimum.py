"""Serving the teacher on a CPU: our ONNX Runtime int8 (ppt_book.inference, attention fused) against Hugging Face
Optimum's ONNX Runtime path, timed in turns.

    # the book's teacher
    python benchmarks/inference_vs_optimum.py --teacher-dir runs/book/30_finetuning/artifacts/teacher
    # CI smoke size: a quick teacher, 100 test reviews
    python benchmarks/inference_vs_optimum.py --quick

Optimum (optimum-onnx[onnxruntime]) requires transformers < 4.58, so it cannot live in our environment (transformers 5).
The peer runs in its own virtual environment, .venv-optimum/ (git-ignored), made on first use with pip, on the same
saved teacher folder and the same test reviews. Each side is one process that loads its model once, scores the test
reviews and then times on request, so that the two sides take turns on the same machine: `--rounds` rounds, each
timing both sides at batch 1 and at batch 64 (who goes first alternates), and the figures are the medians over the
rounds of each round's median, with the lowest and highest round beside them: a shared machine's slow minute lands
on both sides. Both sides: ORT's dynamic int8 quantization (QInt8 weights, one scale per output channel), CPU provider,
every graph optimisation, latency measured the same way (tokenize + forward, after 5 warm-up calls). The last line is
the benchmark JSON line (benchmarks/README.md).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import transformers
from _common import emit, parser, quick_teacher

from ppt_book.headline import pct

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".venv-optimum"
PEER_PACKAGES = ["torch==2.13.0", "optimum-onnx[onnxruntime]==0.1.0", "transformers<4.58"]

# What both sides run once their model is loaded: score the test reviews, then answer "<batch> <repeats>" lines with
# that many timed calls, until their input ends. `call(batch)` gives logits.
SERVE_TIMINGS = r"""
import json, sys, time
import numpy as np

def serve_timings(call, texts, labels, extra):
    preds = np.concatenate([np.asarray(call(texts[i:i + 64])).argmax(1) for i in range(0, len(texts), 64)])
    acc = float((preds == np.array(labels)).mean())
    print(json.dumps({"test_acc": acc, "predictions": preds.tolist(), **extra}), flush=True)
    for line in sys.stdin:
        batch_size, repeats = (int(x) for x in line.split())
        times = []
        for i in range(5 + repeats):
            start = (i * batch_size) % len(texts)
            batch = texts[start:start + batch_size] or texts[:batch_size]
            t0 = time.perf_counter()
            call(batch)
            if i >= 5:
                times.append(1e3 * (time.perf_counter() - t0))
        print(json.dumps(times), flush=True)
"""

PEER = (
    SERVE_TIMINGS
    + r"""
from pathlib import Path
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

def call(batch):
    x = tok(batch, padding=True, truncation=True, max_length=spec["max_length"], return_tensors="np")
    ids, mask, types = x["input_ids"], x["attention_mask"], x.get("token_type_ids")
    return model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits

size_mb = (work/"int8"/"model_quantized.onnx").stat().st_size / 1e6
extra = {"size_mb": size_mb, "quantization": "avx512_vnni" if vnni else "avx2"}
serve_timings(call, spec["texts"], spec["labels"], extra)
"""
)


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
        "comparison": f"{ratio['latency_ms_b1']:.2f}x Optimum's latency at batch 1, "
        f"{ratio['latency_ms_b64']:.2f}x at batch 64",
    }


def ours_worker(runtime: str, spec_path: str) -> None:
    "Our side: load the teacher in `runtime` once, then score and time on request (SERVE_TIMINGS)."
    import torch

    from ppt_book.inference import load_runtime, onnx_file, onnx_op_counts
    from ppt_book.train import logits_of

    spec = json.loads(Path(spec_path).read_text())
    m = load_runtime(spec["teacher_dir"], runtime, "cpu")

    @torch.inference_mode()
    def call(batch):
        x = m.tokenizer(batch, padding=True, truncation=True, max_length=spec["max_length"], return_tensors="pt")
        return logits_of(m.model, x["input_ids"], x["attention_mask"])

    extra = {}
    if runtime.startswith("onnx"):
        path = onnx_file(spec["teacher_dir"], None, int8=runtime == "onnx-int8")  # the file load_runtime made
        extra = {"size_mb": path.stat().st_size / 1e6, "fused_attention": onnx_op_counts(path).get("QAttention", 0)}
    scope = {}
    exec(SERVE_TIMINGS, scope)
    scope["serve_timings"](call, spec["texts"], spec["labels"], extra)


class Side:
    "A worker process of one side: its scores when it has loaded, then its timings on request."

    def __init__(self, name: str, command: list[str], env: dict | None = None):
        self.name = name
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.first = json.loads(self._line())
        self.rounds = {1: [], 64: []}  # per batch size, each round's median

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"the {self.name} side failed:\n{self.proc.stderr.read()[-3000:]}")
        return line

    def time(self, batch_size: int, repeats: int) -> None:
        self.proc.stdin.write(f"{batch_size} {repeats}\n")
        self.proc.stdin.flush()
        self.rounds[batch_size].append(statistics.median(json.loads(self._line())))

    def figures(self) -> dict:
        out = {k: v for k, v in self.first.items() if k != "predictions"}
        for b, medians in self.rounds.items():
            out[f"latency_ms_b{b}"] = statistics.median(medians)
            out[f"latency_ms_b{b}_range"] = [min(medians), max(medians)]
        return out

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--teacher-dir", help="a saved teacher (default: fine-tune a quick one)")
    p.add_argument(
        "--test-examples", type=int, default=None, help="test reviews scored (default: all 1,297; --quick 100)"
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="timed calls at batch 1 per round (default 100; --quick 10)"
    )
    p.add_argument("--rounds", type=int, default=None, help="rounds of turns (default 7; --quick 2)")
    p.add_argument(
        "--runtime", default="onnx-int8", help="our runtime (default onnx-int8, 45's fastest for the teacher)"
    )
    p.add_argument(
        "--no-peer", action="store_true", help="measure ours only (CI without the peer's environment); the peer is null"
    )
    # internal: our side's worker process
    p.add_argument("--worker", metavar="RUNTIME", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        ours_worker(args.worker, args.spec)
        return
    transformers.logging.set_verbosity_error()
    from ppt_book.data import load_rotten_tomatoes
    from ppt_book.stats import bootstrap_ci, paired_test

    work = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    env = {**os.environ, "PPT_BOOK_CACHE": str(work / "cache"), "TRANSFORMERS_VERBOSITY": "error"}
    dsd = load_rotten_tomatoes(0)
    if args.teacher_dir:
        teacher_dir = Path(args.teacher_dir)
    else:
        quick_train = dsd["train"].shuffle(seed=0).select(range(200 if args.quick else 1000))
        teacher_dir = quick_teacher(quick_train, dsd["validation"].select(range(100)), work)
    n_test = args.test_examples or (100 if args.quick else 0)
    repeats = args.repeats or (10 if args.quick else 100)
    rounds = args.rounds or (2 if args.quick else 7)
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
                "max_length": 64,
                "work": str(work / "peer"),
                "per_channel": True,
            }
        )
    )
    sides = [Side("ours", [sys.executable, __file__, "--worker", args.runtime, "--spec", str(spec)], env)]
    if not args.no_peer:
        sides.append(Side("Optimum", [str(peer_python()), "-c", PEER, str(spec)], env))
    for r in range(rounds):
        for batch_size, n in ((1, repeats), (64, max(3, repeats // 10))):
            for side in sides if r % 2 == 0 else sides[::-1]:  # who goes first alternates
                side.time(batch_size, n)
        print(json.dumps({"round": r + 1, **{s.name: [s.rounds[1][-1], s.rounds[64][-1]] for s in sides}}))
    for side in sides:
        side.close()
    ours_pred = np.array(sides[0].first["predictions"])
    ours = {"runtime": args.runtime, **sides[0].figures(), "test_acc_ci": bootstrap_ci(labels, ours_pred)[1:]}
    common = dict(test_reviews=len(texts), repeats=repeats, rounds=rounds, quick=args.quick, save=args.save)
    if args.no_peer:
        emit("inference_vs_optimum", ours, {}, peer_skipped=True, **common)
        return
    peer_pred = np.array(sides[1].first["predictions"])
    emit(
        "inference_vs_optimum",
        ours,
        {"runtime": "optimum ORT int8", **sides[1].figures()},
        accuracy_paired_test=paired_test(labels, ours_pred, peer_pred),
        headline=headline,
        **common,
    )


if __name__ == "__main__":
    main()
