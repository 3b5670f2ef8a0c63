"""The char Transformer LM as the book trains it vs nanoGPT's CPU recipe for shakespeare_char, both on the book's split.

    # both trained here: the book's settings, then the recipe (about 25 min)
    python benchmarks/lm_vs_nanogpt_recipe.py
    # ours from the book's run; trains the recipe only
    python benchmarks/lm_vs_nanogpt_recipe.py --from-run runs/book/20_language_models
    # ours from a new book run, the recipe's measured result from the saved file (same split, recipe and iterations),
    # nothing trained
    python benchmarks/lm_vs_nanogpt_recipe.py --from-run runs/book/20_language_models \
        --peer-from benchmarks/results/lm_vs_nanogpt_recipe.json
    python benchmarks/lm_vs_nanogpt_recipe.py --quick    # CI smoke size

nanoGPT's README trains shakespeare_char on a CPU with `config/train_shakespeare_char.py` overridden to 4 layers, 4
heads, width 128, blocks of 64 characters, batch 12, no dropout: AdamW at lr 1e-3 with betas (0.9, 0.99) and weight
decay 0.1, 100 warm-up iterations, cosine decay to 1e-4, gradient clipping at 1.0. The README stops at 2,000 iterations
on its own text; the recipe's full length is `--recipe-iters` (12,000 here). The peer is that recipe run by our loop
(`train_lm`) on the book's split, so that data, tokenizer and evaluation are the same; ours is the chapter's
configuration (configs/book.yaml's 20_language_models: its shape, batch, learning rate and wall-clock budget
`train_minutes`, the cosine decay following the clock). Both are scored the way chapter 20 scores every model: nats per
character over the same held-out characters, in windows sliding by half a block. The last line is the benchmark JSON
line (benchmarks/README.md).
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import yaml
from _common import emit, parser, read_run

from ppt_book.core import count_parameters, seed_everything
from ppt_book.corpora import shakespeare_split
from ppt_book.lm import CharTokenizer, LMConfig, LMTrainConfig, build_lm, evaluate_nll, train_lm

ROOT = Path(__file__).resolve().parent.parent


def train_and_score(shape: dict, tcfg: LMTrainConfig, train_ids, val_ids, vocab: int, seed: int = 0) -> dict:
    "Train a char Transformer with `train_lm` and score it as chapter 20 does."
    seed_everything(seed)
    model = build_lm(LMConfig("transformer", vocab_size=vocab, **shape))
    t0 = time.perf_counter()
    hist = train_lm(model, train_ids, val_ids, tcfg, log=lambda *a: None)
    wall = time.perf_counter() - t0
    nats, n = evaluate_nll(model, val_ids, stride=shape["block_size"] // 2)
    return {
        "val_loss": nats / n,
        "bpc": nats / n / np.log(2),
        "wall_s": wall,
        "steps": int(hist["step"].iloc[-1]),
        "tokens_seen": int(hist["step"].iloc[-1]) * tcfg.batch_size * shape["block_size"],
        "params": count_parameters(model),
        "random_window_val_loss": float(hist["val_loss"].iloc[-1]),
    }


def headline(line: dict) -> dict:
    "The front page's row: held-out loss of the book's char Transformer against the recipe's."
    ours, peer = line["ours"], line["peer"]
    return {
        "chapter": "20_language_models",
        "claim": "char Transformer LM, held-out loss vs nanoGPT's CPU recipe",
        "ours": f"{ours['val_loss']:.3f} nats/char in {ours['wall_s'] / 60:.1f} min",
        "peer": f"{peer['val_loss']:.3f} in {peer['wall_s'] / 60:.1f} min",
        "comparison": f"{ours['val_loss'] - peer['val_loss']:+.3f} nats/char",
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument(
        "--from-run", default=None, help="a finished 20_language_models run folder: take ours from its metrics"
    )
    p.add_argument("--recipe-iters", type=int, default=None, help="iterations of nanoGPT's recipe (default 12,000)")
    p.add_argument(
        "--peer-from",
        default=None,
        help="a saved result of this benchmark: reuse its recipe measurement (it must match the split and recipe) "
        "instead of training it again",
    )
    args = p.parse_args(argv)
    book = (yaml.safe_load((ROOT / "configs" / "book.yaml").read_text()) or {}).get("20_language_models", {})
    split = shakespeare_split()
    eval_chars = 5_000 if args.quick else book.get("eval_chars", 60_000)
    train_text = split["train"][:200_000] if args.quick else split["train"]
    val_text = split["validation"][:eval_chars] if eval_chars else split["validation"]
    tok = CharTokenizer.fit(train_text)
    train_ids, val_ids = np.array(tok.encode(train_text)), np.array(tok.encode(val_text))
    recipe_shape = (
        dict(n_layer=1, n_head=2, n_embd=32, block_size=32)
        if args.quick
        else dict(n_layer=4, n_head=4, n_embd=128, block_size=64)
    )
    iters = args.recipe_iters or (30 if args.quick else 12_000)
    recipe = LMTrainConfig(
        max_steps=iters,
        batch_size=4 if args.quick else 12,
        lr=1e-3,
        min_lr=1e-4,
        warmup_steps=min(100, iters // 10),
        weight_decay=0.1,
        betas=(0.9, 0.99),
        max_grad_norm=1.0,
        eval_every=max(1, iters // 10),
        eval_batches=8,
    )
    if args.from_run:
        meta = read_run(args.from_run, "20_language_models", needs="char_transformer_val_loss")
        m, prm = meta["metrics"], meta["params"]
        if prm.get("eval_chars") != eval_chars:
            sys.exit(
                f"{args.from_run} scored {prm.get('eval_chars')} held-out characters, this benchmark {eval_chars}: "
                "rerun the chapter with the book's eval_chars"
            )
        ours = {
            "val_loss": m["char_transformer_val_loss"],
            "bpc": m["char_transformer_val_loss"] / np.log(2),
            "wall_s": 60 * m["char_transformer_train_minutes"],
            "steps": m["char_transformer_steps"],
        }
        ours_from = str(args.from_run)
    else:
        shape = {k: book.get(k, v) for k, v in recipe_shape.items()} if not args.quick else recipe_shape
        minutes = 0.05 if args.quick else book.get("train_minutes", 10.0)
        steps = 40 if args.quick else book.get("transformer_steps", 5000)
        ours_cfg = LMTrainConfig(
            max_steps=steps,
            max_minutes=minutes,
            batch_size=recipe.batch_size if args.quick else book.get("batch_size", 12),
            lr=book.get("lr", 1e-3),
            warmup_steps=max(1, steps // 20),
            eval_every=max(1, steps // 10),
        )
        print(f"ours: the book's settings, {shape}, {steps} steps or {minutes:g} min", flush=True)
        ours = train_and_score(shape, ours_cfg, train_ids, val_ids, tok.vocab_size)
        ours_from = "trained here with configs/book.yaml's 20_language_models"
    print(
        f"ours: {ours['val_loss']:.4f} nats/char after {ours['steps']} steps, {ours['wall_s'] / 60:.1f} min", flush=True
    )
    recipe_desc = {
        "shape": recipe_shape,
        "batch_size": recipe.batch_size,
        "lr": recipe.lr,
        "min_lr": recipe.min_lr,
        "warmup_steps": recipe.warmup_steps,
        "betas": list(recipe.betas),
        "weight_decay": recipe.weight_decay,
    }
    extra = {}
    if args.peer_from:
        saved = json.loads(Path(args.peer_from).read_text())
        same = {"held_out_chars": len(val_text), "recipe_iters": iters, "recipe": recipe_desc, "quick": args.quick}
        differ = [k for k, v in same.items() if saved.get(k) != v]
        if saved.get("benchmark") != "lm_vs_nanogpt_recipe" or differ:
            sys.exit(
                f"{args.peer_from} is not a result of this benchmark with the same split and recipe (differs in "
                f"{differ or ['benchmark']}): run without --peer-from"
            )
        peer, extra = (
            saved["peer"],
            {
                "peer_from": f"{args.peer_from} (measured {saved.get('date')} at commit "
                f"{str(saved.get('commit'))[:7]} on {saved.get('machine', {}).get('cpu')})"
            },
        )
        from ppt_book.core import cpu_name

        # minutes buy each processor a different number of steps
        extra["same_machine"] = saved.get("machine", {}).get("cpu") == cpu_name()
        if args.save and not extra["same_machine"]:
            sys.exit(
                f"{args.peer_from} was measured on {saved.get('machine', {}).get('cpu')!r}, this machine is "
                f"{cpu_name()!r}: "
                "a time-budgeted comparison across processors is not saved; run without --peer-from to measure the "
                "recipe here"
            )
    else:
        print(f"peer: nanoGPT's CPU recipe, {recipe_shape}, {iters} iterations", flush=True)
        peer = train_and_score(recipe_shape, recipe, train_ids, val_ids, tok.vocab_size)
    print(
        f"peer: {peer['val_loss']:.4f} nats/char after {peer['steps']} iterations, {peer['wall_s'] / 60:.1f} min",
        flush=True,
    )
    emit(
        "lm_vs_nanogpt_recipe",
        ours,
        peer,
        ours_from=ours_from,
        held_out_chars=len(val_text),
        recipe_iters=iters,
        recipe=recipe_desc,
        quick=args.quick,
        save=args.save,
        headline=headline,
        **extra,
    )


if __name__ == "__main__":
    main()
