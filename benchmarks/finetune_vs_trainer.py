"""Fine-tuning MiniLM: our accelerate loop vs transformers' Trainer at its defaults, same data and settings, one process.

    python benchmarks/finetune_vs_trainer.py            # the book's size: all training reviews, 3 epochs
    python benchmarks/finetune_vs_trainer.py --quick    # CI smoke size

Same model (MiniLM from the same weights and seed), epochs, learning rate, batch size and max length. Trainer at
its defaults: DataCollatorWithPadding (dynamic padding), no length grouping, linear schedule with no warm-up, fp32.
samples_per_s counts training examples per second of training (evaluation excluded on both sides). The last line is
the benchmark JSON line (benchmarks/README.md) with samples_per_s, wall_s and test_acc for ours and the peer.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers

from _common import add_save_flag, emit
from ppt_book.core import seed_everything
from ppt_book.data import load_minilm, load_minilm_tokenizer, load_rotten_tomatoes
from ppt_book.finetune import train_classifier
from ppt_book.train import TrainConfig, predict_logits


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    add_save_flag(p)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--train-examples", type=int, default=None)
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

    seed_everything(seed)
    res = train_classifier(load_minilm(num_labels=2), tok, train, val,
                           TrainConfig(lr=lr, num_epochs=epochs, batch_size=batch, max_length=max_length, seed=seed, patience=0,
                                       warmup_ratio=0.0))
    acc = float((predict_logits(res["model"], tok, test["text"], max_length).argmax(1) == np.array(test["label"])).mean())
    ours = {"samples_per_s": res["samples_per_s"], "wall_s": res["train_s"], "test_acc": acc}
    print(f"ours: {ours}", flush=True)

    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    seed_everything(seed)
    model = load_minilm(num_labels=2)
    enc = lambda ds: ds.map(lambda b: tok(b["text"], truncation=True, max_length=max_length), batched=True,
                            remove_columns=[c for c in ds.column_names if c not in ("label",)])
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, num_train_epochs=epochs, learning_rate=lr, per_device_train_batch_size=batch,
                                  per_device_eval_batch_size=128, report_to="none", use_cpu=True, save_strategy="no",
                                  eval_strategy="no", logging_strategy="no", seed=seed, disable_tqdm=True)
        trainer = Trainer(model=model, args=targs, train_dataset=enc(train), data_collator=DataCollatorWithPadding(tok))
        t0 = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t0
    acc = float((predict_logits(model, tok, test["text"], max_length).argmax(1) == np.array(test["label"])).mean())
    peer = {"samples_per_s": len(train) * epochs / wall, "wall_s": wall, "test_acc": acc}
    print(f"Trainer: {peer}", flush=True)
    emit("finetune_vs_trainer", ours, peer, train_examples=len(train), epochs=epochs, quick=args.quick,
         note="ours keeps its best validation epoch (patience 0: never stops early); Trainer keeps its last", save=args.save)


if __name__ == "__main__":
    main()
