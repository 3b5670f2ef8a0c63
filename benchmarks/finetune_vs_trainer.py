"""Fine-tuning MiniLM: our accelerate loop vs transformers' Trainer at its defaults, same data and settings, one
process.

    python benchmarks/finetune_vs_trainer.py            # the book's size: all training reviews, 3 epochs
    python benchmarks/finetune_vs_trainer.py --quick    # CI smoke size
    # ours: the book's teacher; trains Trainer only
    python benchmarks/finetune_vs_trainer.py --from-run runs/book/30_finetuning --save

Same model (MiniLM from the same weights and seed), epochs, learning rate, batch size and max length. Trainer at its
defaults: DataCollatorWithPadding (dynamic padding), no length grouping, linear schedule with no warm-up, fp32.
samples_per_s counts training examples per second of training (evaluation excluded on both sides). The last line is the
benchmark JSON line (benchmarks/README.md) with samples_per_s, wall_s and test_acc for ours and the peer, and a paired
test of the two on the same test reviews (McNemar, and a bootstrap interval of the difference).

With `--from-run`, ours is chapter 30's teacher as the book trained it (its recipe: domain adaptation when validation
chose it, its own learning rate, epochs and length), loaded from the run's artifacts and scored here; the peer is still
Trainer at its defaults. That compares the book's best recipe with what a practitioner gets from Trainer out of the box;
the speed figures then come from two processes (the book run's and this one), so `same_process` is false and the ratio
is indicative.
"""

import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import transformers
from _common import emit, parser, read_run

from ppt_book.core import seed_everything
from ppt_book.data import load_rotten_tomatoes
from ppt_book.finetune import train_classifier
from ppt_book.headline import pct, points_interval
from ppt_book.pretrained import load_minilm, load_minilm_tokenizer
from ppt_book.stats import paired_test
from ppt_book.train import TrainConfig, predict_logits


def headline(line: dict) -> dict:
    "The front page's row: our fine-tuning against Trainer's defaults, with the paired interval."
    ours, peer = line["ours"], line["peer"]
    who = "the book's MiniLM teacher" if line.get("ours_from") else "fine-tuned MiniLM, our loop"
    return {
        "chapter": "30_finetuning",
        "claim": f"{who} vs HF Trainer's defaults",
        "ours": f"{pct(ours['test_acc'])} test accuracy",
        "peer": pct(peer["test_acc"]),
        "comparison": f"{100 * (ours['test_acc'] - peer['test_acc']):+.1f} points{points_interval(line.get('paired'))}",
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--train-examples", type=int, default=None)
    p.add_argument(
        "--from-run",
        default=None,
        help="a finished 30_finetuning run folder: ours is its teacher; only Trainer trains here",
    )
    args = p.parse_args(argv)
    transformers.logging.set_verbosity_error()
    epochs = args.epochs or (1 if args.quick else 3)
    n_train = args.train_examples if args.train_examples is not None else (128 if args.quick else 0)
    lr, batch, max_length, seed = 5e-5, 32, 128, 0
    dsd = load_rotten_tomatoes(seed)
    train = dsd["train"] if not n_train else dsd["train"].shuffle(seed=seed).select(range(n_train))
    test = dsd["test"] if not args.quick else dsd["test"].select(range(200))
    val = dsd["validation"] if not args.quick else dsd["validation"].select(range(100))
    tok = load_minilm_tokenizer()
    print(f"{len(train)} training reviews, {epochs} epochs, lr {lr}, batch {batch}", flush=True)

    y_test = np.array(test["label"])
    if args.from_run:
        from ppt_book.model_io import load_classifier

        meta = read_run(args.from_run, "30_finetuning", needs="teacher_test_acc")
        m, prm = meta["metrics"], meta["params"]
        teacher, teacher_tok = load_classifier(os.path.join(args.from_run, "artifacts", "teacher"))
        ours_pred = predict_logits(teacher, teacher_tok, test["text"], prm.get("max_length", 64)).argmax(1)
        ours = {
            "samples_per_s": m.get("teacher_samples_per_s"),
            "wall_s": m.get("teacher_train_s"),
            "test_acc": float((ours_pred == y_test).mean()),
        }
        source = {
            "ours_from": str(args.from_run),
            "same_process": False,
            "ours_recipe": {
                k: prm.get(k) for k in ("teacher_epochs", "teacher_lr", "max_length", "teacher_adapt_steps")
            }
            | {"adapted": m.get("teacher_adapted")},
        }
    else:
        seed_everything(seed)
        res = train_classifier(
            load_minilm(num_labels=2),
            tok,
            train,
            val,
            TrainConfig(
                lr=lr,
                num_epochs=epochs,
                batch_size=batch,
                max_length=max_length,
                seed=seed,
                patience=0,
                warmup_ratio=0.0,
            ),
        )
        ours_pred = predict_logits(res["model"], tok, test["text"], max_length).argmax(1)
        ours = {
            "samples_per_s": res["samples_per_s"],
            "wall_s": res["train_s"],
            "test_acc": float((ours_pred == y_test).mean()),
        }
        source = {"same_process": True}
    print(f"ours: {ours}", flush=True)

    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    seed_everything(seed)
    model = load_minilm(num_labels=2)

    def enc(ds):
        return ds.map(
            lambda b: tok(b["text"], truncation=True, max_length=max_length),
            batched=True,
            remove_columns=[c for c in ds.column_names if c not in ("label",)],
        )

    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out,
            num_train_epochs=epochs,
            learning_rate=lr,
            per_device_train_batch_size=batch,
            per_device_eval_batch_size=128,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            seed=seed,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=enc(train), data_collator=DataCollatorWithPadding(tok))
        t0 = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t0
    peer_pred = predict_logits(model, tok, test["text"], max_length).argmax(1)
    peer = {
        "samples_per_s": len(train) * epochs / wall,
        "wall_s": wall,
        "test_acc": float((peer_pred == y_test).mean()),
    }
    print(f"Trainer: {peer}", flush=True)
    emit(
        "finetune_vs_trainer",
        ours,
        peer,
        train_examples=len(train),
        epochs=epochs,
        quick=args.quick,
        **source,
        paired=paired_test(y_test, ours_pred, peer_pred),
        test_examples=len(test),
        note="ours keeps its best validation epoch (patience 0: never stops early); Trainer keeps its last",
        save=args.save,
        headline=headline,
    )


if __name__ == "__main__":
    main()
