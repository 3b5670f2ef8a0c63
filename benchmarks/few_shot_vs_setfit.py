"""Few labels: our adaptations of pretrained models against SetFit on the same MiniLM weights, labels and test reviews.

    # 16, 32, 100 and 300 labels (8 and 16 per class, then 100 and 300), all test reviews
    python benchmarks/few_shot_vs_setfit.py
    # CI smoke size: 16 labels, 100 test reviews, no SmolLM2, shorter training
    python benchmarks/few_shot_vs_setfit.py --quick

SetFit (the `setfit` package: contrastive fine-tuning of a sentence-transformer on pairs of the labelled texts, then a
logistic-regression head) starts from the bundled all-MiniLM-L6-v2, at its defaults (20 pair iterations, 1 epoch,
batch 16). Ours, from the same weights and labels:
  - minilm_finetune: MiniLM fine-tuned whole with the training chapter's loop (chapter 30's recipe);
  - minilm_probe: a logistic-regression probe on frozen MiniLM states, layer and pooling chosen on validation;
  - smollm2_probe: the same probe on SmolLM2-135M's states (chapter 35), skipped with --no-smollm.
At each label count, "best of ours" is the method with the highest *validation* accuracy (300 validation reviews),
scored once on test. Labelled sets are balanced draws (ppt_book.decoders.balanced_shots), the same for every method.
Each method prints a line with its test accuracy, 95% bootstrap interval and a paired test against SetFit; the last line
is the benchmark JSON line (benchmarks/README.md): ours (best of ours) vs the peer, test_acc_<n> and wall_s_<n> per
label count n.
"""

import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import transformers
from _common import emit, parser

from ppt_book.core import seed_everything
from ppt_book.data import load_rotten_tomatoes
from ppt_book.decoders import POOLINGS, balanced_shots, best_probe, hidden_features
from ppt_book.finetune import train_classifier
from ppt_book.headline import pct
from ppt_book.pretrained import load_minilm, load_minilm_tokenizer, minilm_path
from ppt_book.stats import bootstrap_ci, paired_test
from ppt_book.train import TrainConfig, predict_logits


def draw(train, n, seed):
    "A balanced labelled set of n reviews (its texts and labels)."
    shots = balanced_shots(list(train["text"]), train["label"], n, seed=seed)
    return [t for t, _ in shots], np.array([y for _, y in shots])


def setfit_run(texts, labels, val, test, seed, iterations=20):
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    start = time.perf_counter()
    model = SetFitModel.from_pretrained(str(minilm_path()), local_files_only=True)
    with (
        tempfile.TemporaryDirectory() as out
    ):  # SetFit's Trainer saves checkpoints (model and optimizer, 270 MB) into output_dir
        args = TrainingArguments(
            output_dir=out, batch_size=16, num_epochs=1, num_iterations=iterations, seed=seed, show_progress_bar=False
        )
        Trainer(
            model=model, args=args, train_dataset=Dataset.from_dict({"text": texts, "label": labels.tolist()})
        ).train()
    val_pred, test_pred = np.asarray(model.predict(val[0])), np.asarray(model.predict(test[0]))
    return val_pred, test_pred, time.perf_counter() - start


def finetune_run(texts, labels, val, test, seed, max_length, min_steps=100):
    from datasets import Dataset

    start = time.perf_counter()
    seed_everything(seed)
    cfg = TrainConfig(
        lr=5e-5, num_epochs=3, batch_size=32, max_length=max_length, seed=seed, patience=0, min_steps=min_steps
    )
    ds = Dataset.from_dict({"text": texts, "label": labels.tolist()})
    vds = Dataset.from_dict({"text": val[0], "label": val[1].tolist()})
    model = train_classifier(load_minilm(num_labels=2), load_minilm_tokenizer(), ds, vds, cfg, log=lambda *a: None)[
        "model"
    ]
    tok = load_minilm_tokenizer()
    val_pred = predict_logits(model, tok, val[0], max_length).argmax(1)
    test_pred = predict_logits(model, tok, test[0], max_length).argmax(1)
    return val_pred, test_pred, time.perf_counter() - start


def probe_run(feats, rows, labels, val_y, C=1.0):
    "Choose layer and pooling on validation, predict test. feats: hidden_features of train pool, val and test."
    start = time.perf_counter()
    chosen = best_probe({p: feats["train"][p][:, rows] for p in POOLINGS}, labels, feats["val"], val_y, C=C)
    return chosen.predict(feats["val"]), chosen.predict(feats["test"]), time.perf_counter() - start


def headline(line: dict) -> dict:
    "The front page's row: test accuracy at each label count, the best of ours against SetFit."
    ours, peer, counts = line["ours"], line["peer"], line.get("label_counts") or []
    return {
        "chapter": "35_decoders",
        "claim": "few labels: best of our methods vs SetFit",
        "ours": ", ".join(f"{pct(ours[f'test_acc_{n}'])} at {n}" for n in counts),
        "peer": ", ".join(pct(peer[f"test_acc_{n}"]) for n in counts),
        "comparison": "labels: " + ", ".join(str(n) for n in counts),
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument(
        "--labels", type=int, nargs="+", default=None, help="label counts (default 16 32 100 300; --quick: 16)"
    )
    p.add_argument("--no-smollm", action="store_true", help="skip the SmolLM2 probe (always skipped with --quick)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    transformers.logging.set_verbosity_error()
    counts = args.labels or ([16] if args.quick else [16, 32, 100, 300])
    n_val, n_test, max_length = (100, 100, 64) if args.quick else (300, 0, 64)
    dsd = load_rotten_tomatoes(args.seed)
    val_ds = dsd["validation"].shuffle(seed=args.seed).select(range(n_val))
    test_ds = dsd["test"] if not n_test else dsd["test"].shuffle(seed=args.seed).select(range(n_test))
    val, test = (list(val_ds["text"]), np.array(val_ds["label"])), (list(test_ds["text"]), np.array(test_ds["label"]))
    draws = {n: draw(dsd["train"], n, args.seed) for n in counts}
    pool = sorted({t for texts, _ in draws.values() for t in texts})
    where = {t: i for i, t in enumerate(pool)}

    def features(model, tok, batch_size):
        start = time.perf_counter()
        f = {
            name: hidden_features(model, tok, texts, max_length, batch_size)
            for name, texts in [("train", pool), ("val", val[0]), ("test", test[0])]
        }
        return f, time.perf_counter() - start

    probes = {"minilm_probe": features(load_minilm(), load_minilm_tokenizer(), 64)}
    if not (args.quick or args.no_smollm):
        from ppt_book.pretrained import load_smollm2

        tok, smol = load_smollm2()
        probes["smollm2_probe"] = features(smol, tok, 16)
        del smol
    ours, peer = {}, {}
    for n in counts:
        texts, labels = draws[n]
        rows = [where[t] for t in texts]
        runs = {
            "minilm_finetune": finetune_run(texts, labels, val, test, args.seed, max_length, 20 if args.quick else 100)
        }
        for name, (feats, feat_s) in probes.items():
            v, t, s = probe_run(feats, rows, labels, val[1])
            # this count's texts in the one feature pass
            share = (len(rows) + len(val[0]) + len(test[0])) / (len(pool) + len(val[0]) + len(test[0]))
            runs[name] = (v, t, s + feat_s * share)
        s_val, s_test, s_wall = setfit_run(texts, labels, val, test, args.seed, 5 if args.quick else 20)
        s_acc, s_lo, s_hi = bootstrap_ci(test[1], s_test)
        print(
            json.dumps(
                {
                    "labels": n,
                    "method": "setfit",
                    "val_acc": float((s_val == val[1]).mean()),
                    "test_acc": s_acc,
                    "ci": [s_lo, s_hi],
                    "wall_s": s_wall,
                }
            )
        )
        best_name, best_val = None, -1.0
        for name, (v, t, s) in runs.items():
            acc, lo, hi = bootstrap_ci(test[1], t)
            pt = paired_test(test[1], t, s_test)
            val_acc = float((v == val[1]).mean())
            print(
                json.dumps(
                    {
                        "labels": n,
                        "method": name,
                        "val_acc": val_acc,
                        "test_acc": acc,
                        "ci": [lo, hi],
                        "wall_s": s,
                        "vs_setfit_diff": pt["diff"],
                        "vs_setfit_mcnemar_p": pt["mcnemar_p"],
                    }
                )
            )
            if val_acc > best_val:
                best_name, best_val = name, val_acc
        v, t, s = runs[best_name]
        pt = paired_test(test[1], t, s_test)
        ours.update(
            {
                f"test_acc_{n}": float((t == test[1]).mean()),
                f"wall_s_{n}": s,
                f"method_{n}": best_name,
                f"vs_setfit_mcnemar_p_{n}": pt["mcnemar_p"],
            }
        )
        peer.update({f"test_acc_{n}": s_acc, f"wall_s_{n}": s_wall})
    emit(
        "few_shot_vs_setfit",
        ours,
        peer,
        test_reviews=len(test[0]),
        val_reviews=len(val[0]),
        label_counts=counts,
        note="wall_s of a probe includes its share of the feature pass (every label count reuses one pass over its "
        "texts)",
        quick=args.quick,
        save=args.save,
        headline=headline,
    )


if __name__ == "__main__":
    main()
