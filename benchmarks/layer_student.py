"""What each lever buys the layer student (the teacher's own layers and embeddings, DistilBERT's initialisation).

    python benchmarks/layer_student.py --teacher runs/book/30_finetuning/artifacts/teacher --save   # the book's size
    python benchmarks/layer_student.py --quick                                                      # CI smoke size

First the choices, each made on validation with short runs (one epoch on the training reviews, distilled): the peak
learning rate, then the warm-up, then which teacher layers to keep. Then the levers, each row adding one to the row
above with a paired test against it on the test reviews: the transfer set (augmented copies and plot summaries, as the
word-level students get), a vocabulary pruned to the WordPiece ids of the in-domain text, a factorised embedding,
intermediate losses (TinyBERT's hidden-state and attention-map losses), a short general distillation on the in-domain
unlabelled text before the task, and last (the costliest row) more epochs. A lever that validation does not prefer is
measured and reported, and the next row builds on the recipe kept so far; the two cuts (vocabulary, embedding) are kept
whatever they cost, since they are what brings the student within a third of the teacher. ours = the row validation
prefers among those within a third of the teacher's parameters, peer = the teacher.

Rows are kept as they finish in runs/cache/layer_student/ (by teacher and settings), so an interrupted run goes on where
it stopped; `--fresh` trains every row again."""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from _common import emit, parser, quick_teacher

ROOT = Path(__file__).resolve().parents[1]


def headline(line: dict) -> dict:
    "The front page's row: the layer student validation chose, against its teacher, with the paired interval."
    ours, peer, t = line["ours"], line["peer"], line["best_vs_teacher"]
    return {
        "chapter": "40_distillation",
        "claim": "layer student (teacher's layers, pruned and factorised embedding) vs its teacher",
        "ours": f"{100 * ours['test_acc']:.1f}% at {ours['params_vs_teacher']:.0%} of the parameters",
        "peer": f"{100 * peer['test_acc']:.1f}%",
        "comparison": f"{100 * t['diff']:+.1f} points [{100 * t['diff_low']:+.1f}, {100 * t['diff_high']:+.1f}]"
        + ("" if t["significant"] else ", within noise"),
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument(
        "--teacher",
        default=None,
        help="a saved teacher folder (30's artifacts/teacher); default: fine-tune a quick one",
    )
    p.add_argument("--lrs", default=None, help="peak learning rates to choose from (default 5e-5,1e-4,2e-4,4e-4)")
    p.add_argument("--warmups", default="0.0,0.05,0.15", help="warm-up shares to choose from")
    p.add_argument(
        "--layers", default="0-3,1-4,0-2-4,1-3-5", help="teacher layer sets to choose from, first the chapter's"
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="epochs of the 'more epochs' row (default 2; 1 leaves the row out)"
    )
    p.add_argument(
        "--rank", type=int, default=160, help="rank of the factorised embedding (160: three layers stay within a third)"
    )
    p.add_argument(
        "--min-count", type=int, default=3, help="keep WordPiece ids seen at least this often in-domain (default 3)"
    )
    p.add_argument("--general-steps", type=int, default=None, help="general distillation steps (default 300; quick 4)")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--alpha", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="train every row again instead of reading finished ones")
    args = p.parse_args(argv)
    lrs = [float(x) for x in (args.lrs or ("1e-4,4e-4" if args.quick else "5e-5,1e-4,2e-4,4e-4")).split(",")]
    warmups = [float(x) for x in ("0.05" if args.quick else args.warmups).split(",")]
    layer_sets = [tuple(int(i) for i in s.split("-")) for s in ("0-3,0-2-4" if args.quick else args.layers).split(",")]
    more_epochs = args.epochs or 2  # what 40's budget affords the layer student
    general_steps = args.general_steps if args.general_steps is not None else (4 if args.quick else 300)

    import torch

    from ppt_book.augment import augment, cached_teacher_logits, glove_neighbours, plot_sentences, teacher_fingerprint
    from ppt_book.core import count_parameters, seed_everything
    from ppt_book.data import load_rotten_tomatoes
    from ppt_book.distill import DistillConfig, general_distillation, train_student
    from ppt_book.model_io import load_classifier
    from ppt_book.pretrained import load_glove
    from ppt_book.stats import bootstrap_ci, paired_test
    from ppt_book.students import factorise_embedding, in_domain_vocab, prune_vocab, transformer_student, word_tokenizer
    from ppt_book.train import predict_logits

    seed_everything(args.seed)
    dsd = load_rotten_tomatoes(args.seed)
    train, val, test = dsd["train"], dsd["validation"], dsd["test"]
    if args.quick:
        train, val, test = (d.shuffle(seed=args.seed).select(range(n)) for d, n in ((train, 80), (val, 40), (test, 80)))
    if args.teacher:
        teacher_dir, cache = Path(args.teacher), ROOT / "runs" / "cache" / "teacher_logits"
    else:
        import tempfile

        teacher_dir, cache = quick_teacher(train, val, tempfile.mkdtemp(), epochs=2, seed=args.seed), None
    teacher, teacher_tok = load_classifier(teacher_dir)
    teacher.eval()
    fingerprint = teacher_fingerprint(teacher_dir)
    y_test = np.array(test["label"])
    teacher_pred = predict_logits(teacher, teacher_tok, test["text"], 64).argmax(1)
    teacher_params = count_parameters(teacher)

    base, base_labels = list(train["text"]), list(train["label"])
    word_tok = word_tokenizer(base)
    neighbours = glove_neighbours(list(word_tok.get_vocab()), load_glove())
    rng = np.random.default_rng(args.seed)
    aug = [augment(t, rng, neighbours) for t in base for _ in range(2)]  # the chapter's two copies of each review
    plots = plot_sentences(set(dsd["validation"]["movie"]) | set(dsd["test"]["movie"]))
    if args.quick:
        plots = plots[:40]
    texts = base + aug + plots
    t0 = time.perf_counter()
    logits, from_cache = cached_teacher_logits(teacher, teacher_tok, texts, 64, cache, fingerprint if cache else None)
    print(
        f"transfer set: {len(base)} reviews + {len(aug)} augmented + {len(plots)} plot sentences; "
        f"teacher logits {'from cache' if from_cache else f'in {time.perf_counter() - t0:.0f} s'}",
        file=sys.stderr,
    )
    in_domain = base + plots  # the unlabelled text the teacher adapted on: training reviews and plot summaries
    keep = in_domain_vocab(teacher_tok, in_domain, min_count=args.min_count)
    vocab_name = "pruned" if args.min_count == 1 else f"pruned, at least {args.min_count}"  # part of a row's key

    row_dir = ROOT / "runs" / "cache" / "layer_student"
    row_dir.mkdir(parents=True, exist_ok=True)
    trained = set()  # the keys of rows this invocation has trained (a spec recurs: the next stage starts from the last)

    def run(spec):
        "Train one layer student as `spec` says (or read its finished row); its row with the test predictions."
        key = hashlib.sha1(json.dumps([fingerprint, args.quick, args.seed, spec], sort_keys=True).encode()).hexdigest()
        path = row_dir / f"{key[:16]}.json"
        if path.exists() and (not args.fresh or key in trained):  # --fresh: trained again once, in this invocation
            return json.loads(path.read_text())
        trained.add(key)
        seed_everything(args.seed)
        student, tok = transformer_student(teacher, tuple(spec["layers"])), teacher_tok
        ids = None  # the teacher's id of each student id, once the vocabulary is pruned
        if spec["vocab"] != "full":
            student, tok = prune_vocab(student, teacher_tok, keep)
            ids = keep
        if spec["rank"]:
            student = factorise_embedding(student, spec["rank"])
        t0 = time.perf_counter()
        if spec["general_steps"]:
            general_distillation(
                student,
                tok,
                teacher,
                in_domain,
                steps=spec["general_steps"],
                lr=spec["lr"],
                seed=args.seed,
                teacher_ids=ids,
                log=None,
            )
        idx = np.arange(len(texts) if spec["data"] == "transfer" else len(base))
        labels = [base_labels[i] if i < len(base) else -100 for i in idx]
        cfg = DistillConfig(
            temperature=args.temperature,
            alpha=args.alpha,
            lr=spec["lr"],
            warmup_ratio=spec["warmup"],
            num_epochs=spec["epochs"],
            seed=args.seed,
            max_length=64,
            intermediate_weight=spec["intermediate"],
        )
        out = train_student(
            student,
            tok,
            [texts[i] for i in idx],
            logits[idx],
            labels,
            val,
            cfg,
            log=lambda *a: None,
            teacher=teacher if spec["intermediate"] else None,
            teacher_ids=ids,
        )
        train_s = time.perf_counter() - t0
        pred = predict_logits(out["model"], tok, test["text"], 64).argmax(1)
        acc, lo, hi = bootstrap_ci(y_test, pred)
        row = {
            "spec": spec,
            "val_acc": out["best_val_acc"],
            "test_acc": float(acc),
            "ci_low": float(lo),
            "ci_high": float(hi),
            "params": count_parameters(out["model"]),
            "params_vs_teacher": count_parameters(out["model"]) / teacher_params,
            "vocab": len(tok),
            "train_s": train_s,
            "test_pred": pred.tolist(),
        }
        path.write_text(json.dumps(row))
        print(json.dumps({k: v for k, v in row.items() if k != "test_pred"}), file=sys.stderr, flush=True)
        return row

    spec = dict(
        layers=list(layer_sets[0]),
        lr=lrs[0],
        warmup=0.05,
        data="reviews",
        epochs=1,
        vocab="full",
        rank=0,
        intermediate=0.0,
        general_steps=0,
    )
    rows = []

    def add(stage, lever, row, previous):
        rows.append(
            {
                "stage": stage,
                "lever": lever,
                **{k: v for k, v in row.items() if k != "test_pred"},
                "vs_previous": paired_test(y_test, np.array(row["test_pred"]), np.array(previous["test_pred"]))
                if previous is not None
                else None,
                "vs_teacher": paired_test(y_test, np.array(row["test_pred"]), teacher_pred),
            }
        )

    def choose(stage, field, values):
        "Train one row per value of `field` (the rest as `spec`), keep the one validation prefers."
        nonlocal spec
        first = None
        tried = []
        for v in values:
            row = run(dict(spec, **{field: list(v) if isinstance(v, tuple) else v}))
            add(stage, f"{field} = {v}", row, first)
            first = first or row
            tried.append(row)
        best = max(tried, key=lambda r: r["val_acc"])
        spec = best["spec"]
        return best

    chapter = run(spec)  # the chapter's recipe: layers {0, 3}, 5e-5, one epoch of the reviews
    choose("learning rate", "lr", lrs)
    choose("warm-up", "warmup", warmups)
    previous = choose("layers", "layers", layer_sets)

    def lever(name, keep_always=False, **change):
        """One row that adds `change` to the current recipe; the recipe keeps it when validation does not fall, or
        always (`keep_always`: the cuts that bring the student within a third of the teacher, whatever they cost)."""
        nonlocal spec, previous
        row = run(dict(spec, **change))
        add("levers", name, row, previous)
        if keep_always or row["val_acc"] >= previous["val_acc"]:
            spec, previous = row["spec"], row
        return row

    lever("+ transfer set (augmented copies, plot summaries)", data="transfer")
    lever(
        f"+ vocabulary pruned to the in-domain text ({len(keep)} ids seen at least {args.min_count} times)",
        keep_always=True,
        vocab=vocab_name,
    )
    lever(f"+ embedding factorised to rank {args.rank}", keep_always=True, rank=args.rank)
    lever("+ intermediate losses (hidden states, attention maps)", intermediate=1.0)
    lever(f"+ general distillation ({general_steps} steps on in-domain text)", general_steps=general_steps)
    if more_epochs > spec["epochs"]:  # last: the costliest row, of the recipe kept so far (--epochs 1: none)
        lever(f"+ {more_epochs} epochs", epochs=more_epochs)

    small = [r for r in rows if r["params_vs_teacher"] <= 1 / 3] or rows
    best = max(small, key=lambda r: r["val_acc"])
    ours = {
        "test_acc": best["test_acc"],
        "val_acc": best["val_acc"],
        "params": best["params"],
        "params_vs_teacher": best["params_vs_teacher"],
        "recipe": best["spec"],
    }
    peer = {"test_acc": float((teacher_pred == y_test).mean()), "params": teacher_params}
    emit(
        "layer_student",
        ours,
        peer,
        save=args.save,
        quick=args.quick,
        headline=headline,
        rows=rows,
        chapter_recipe={k: v for k, v in chapter.items() if k != "test_pred"},
        best_vs_teacher=best["vs_teacher"],
        teacher=str(args.teacher),
        teacher_fingerprint=fingerprint,
        transfer_pool={"reviews": len(base), "augmented": len(aug), "plot_sentences": len(plots)},
        in_domain_vocab=len(keep),
        temperature=args.temperature,
        alpha=args.alpha,
        seed=args.seed,
        torch_threads=torch.get_num_threads(),
    )


if __name__ == "__main__":
    main()
