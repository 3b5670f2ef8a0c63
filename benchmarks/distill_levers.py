"""What each lever buys a distilled student: more augmented copies, the plot summaries, in-domain vectors, more epochs.

    python benchmarks/distill_levers.py --teacher runs/book/30_finetuning/artifacts/teacher \\
        --vectors runs/book/10_embeddings/artifacts/vectors.txt --save      # the book's teacher, every review
    python benchmarks/distill_levers.py --quick                             # CI smoke size: a quick teacher, one CNN

Every row trains the same student (same seed, same GloVe start unless the row says otherwise) on the teacher's
logits, and each row adds one lever to the row above: first the hard labels alone, then distillation on the
chapter's transfer set (the training reviews and `--copies`' first number of augmented copies of each), then more
copies, then the plot summaries of the Rotten Tomatoes file (never a validation or test movie's), then the
students' first vectors from 10's in-domain word2vec (`--vectors`), then more epochs. The teacher labels the
largest transfer set once (cached by fingerprint in runs/cache/teacher_logits); the smaller sets are its subsets.
A paired test against the row above says what each lever bought on the test reviews, and one against the teacher
how far the student still is. ours = the row validation prefers, peer = the teacher.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from _common import emit, parser, quick_teacher

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = parser(__doc__)
    p.add_argument(
        "--teacher",
        default=None,
        help="a saved teacher folder (30's artifacts/teacher); default: fine-tune a quick one",
    )
    p.add_argument(
        "--vectors",
        default=None,
        help="word2vec text file of in-domain vectors (10's artifacts/vectors.txt); no row without it",
    )
    p.add_argument(
        "--students", default=None, help="comma-separated students (bilstm, gru, cnn); default cnn,gru (quick: cnn)"
    )
    p.add_argument(
        "--copies",
        default=None,
        help="augmented copies per review: the chapter's, then the larger set (default 2,10; quick 1,2)",
    )
    p.add_argument("--epochs", default=None, help="student epochs: the chapter's, then more (default 4,8; quick 1,2)")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--alpha", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    students = (args.students or ("cnn" if args.quick else "cnn,gru")).split(",")
    copies = [int(c) for c in (args.copies or ("1,2" if args.quick else "2,10")).split(",")]
    epochs = [int(e) for e in (args.epochs or ("1,2" if args.quick else "4,8")).split(",")]
    if len(copies) != 2 or len(epochs) != 2 or copies[0] > copies[1] or epochs[0] > epochs[1]:
        sys.exit(
            "--copies and --epochs take two numbers each, the chapter's first and the larger second (e.g. 2,10 and 4,8)"
        )
    if args.vectors and not Path(args.vectors).is_file():
        sys.exit(f"--vectors {args.vectors}: no such file (10_embeddings writes it to <run>/artifacts/vectors.txt)")

    import torch

    from ppt_book.augment import augment, cached_teacher_logits, glove_neighbours, plot_sentences, teacher_fingerprint
    from ppt_book.core import count_parameters, seed_everything
    from ppt_book.data import load_rotten_tomatoes
    from ppt_book.distill import DistillConfig, train_student
    from ppt_book.embeddings import load_word2vec_format
    from ppt_book.model_io import load_classifier
    from ppt_book.pretrained import load_glove
    from ppt_book.stats import bootstrap_ci, paired_test
    from ppt_book.students import StudentConfig, StudentForSequenceClassification, glove_init, word_tokenizer
    from ppt_book.train import predict_logits

    seed_everything(args.seed)
    dsd = load_rotten_tomatoes(args.seed)
    names = dsd["train"].features["label"].names
    train, val, test = dsd["train"], dsd["validation"], dsd["test"]
    if args.quick:
        train, val, test = (
            d.shuffle(seed=args.seed).select(range(n)) for d, n in ((train, 200), (val, 100), (test, 200))
        )
    if args.teacher:
        teacher, teacher_tok = load_classifier(args.teacher)
        teacher_dir, cache = Path(args.teacher), ROOT / "runs" / "cache" / "teacher_logits"
    else:
        import tempfile

        teacher_dir, cache = quick_teacher(train, val, tempfile.mkdtemp(), epochs=2, seed=args.seed), None
        teacher, teacher_tok = load_classifier(teacher_dir)
    teacher.eval()
    y_test = np.array(test["label"])
    teacher_pred = predict_logits(teacher, teacher_tok, test["text"], 64).argmax(1)

    glove = load_glove()
    base, base_labels = list(train["text"]), list(train["label"])
    word_tok = word_tokenizer(base)
    neighbours = glove_neighbours(list(word_tok.get_vocab()), glove)
    rng = np.random.default_rng(args.seed)
    # copy j of review i at i * copies[1] + j
    aug = [augment(t, rng, neighbours) for t in base for _ in range(copies[1])]
    plots = plot_sentences(set(dsd["validation"]["movie"]) | set(dsd["test"]["movie"]))
    if args.quick:
        plots = plots[:100]
    texts = base + aug + plots
    t0 = time.perf_counter()
    logits, from_cache = cached_teacher_logits(
        teacher, teacher_tok, texts, 64, cache, teacher_fingerprint(teacher_dir) if cache else None
    )
    label_s = time.perf_counter() - t0
    print(
        f"transfer pool: {len(base)} reviews + {len(aug)} augmented + {len(plots)} plot sentences; "
        f"teacher logits {'from cache' if from_cache else f'in {label_s:.0f} s'}",
        file=sys.stderr,
    )

    def pool(n_copies, with_plots):
        "Indices into `texts` of a transfer set: every review, its first `n_copies` augmented copies, maybe the plots."
        n = len(base)
        idx = list(range(n)) + [n + i * copies[1] + j for i in range(n) for j in range(n_copies)]
        if with_plots:
            idx += range(n + len(aug), len(texts))
        return np.array(idx)

    in_domain = load_word2vec_format(args.vectors) if args.vectors else None
    levers = [
        ("hard labels", dict(distil=False, copies=0, plots=False, vectors=False, epochs=epochs[0])),
        (
            f"distilled, {copies[0]} copies",
            dict(distil=True, copies=copies[0], plots=False, vectors=False, epochs=epochs[0]),
        ),
        (f"{copies[1]} copies", dict(distil=True, copies=copies[1], plots=False, vectors=False, epochs=epochs[0])),
        ("+ plot summaries", dict(distil=True, copies=copies[1], plots=True, vectors=False, epochs=epochs[0])),
    ]
    if in_domain is not None:
        levers.append(("+ in-domain vectors", dict(levers[-1][1], vectors=True)))
    levers.append((f"+ {epochs[1]} epochs", dict(levers[-1][1], epochs=epochs[1])))

    rows = []
    for arch in students:
        previous = chapter_set = None
        for name, lv in levers:
            vectors = in_domain if lv["vectors"] else glove
            seed_everything(args.seed)
            model = StudentForSequenceClassification(
                StudentConfig(
                    arch,
                    vocab_size=len(word_tok),
                    embed_dim=vectors.vectors.shape[1],
                    num_labels=len(names),
                    pad_token_id=word_tok.pad_token_id,
                )
            )
            coverage = glove_init(model.embed, word_tok, vectors)
            idx = pool(lv["copies"], lv["plots"]) if lv["distil"] else np.arange(len(base))
            labels = [base_labels[i] if i < len(base) else -100 for i in idx]
            cfg = DistillConfig(
                temperature=args.temperature,
                alpha=args.alpha,
                lr=1e-3,
                num_epochs=lv["epochs"],
                seed=args.seed,
                max_length=64,
            )
            t0 = time.perf_counter()
            out = train_student(
                model,
                word_tok,
                [texts[i] for i in idx],
                logits[idx] if lv["distil"] else None,
                labels,
                val,
                cfg,
                log=lambda *a: None,
            )
            train_s = time.perf_counter() - t0
            pred = predict_logits(out["model"], word_tok, test["text"], 64).argmax(1)
            acc, lo, hi = bootstrap_ci(y_test, pred)
            row = {
                "student": arch,
                "lever": name,
                "transfer_examples": len(idx),
                "epochs": lv["epochs"],
                "vectors": "in-domain word2vec" if lv["vectors"] else "GloVe 50d",
                "vector_coverage": coverage,
                "val_acc": out["best_val_acc"],
                "test_acc": float(acc),
                "ci_low": float(lo),
                "ci_high": float(hi),
                "params": count_parameters(out["model"]),
                "train_s": train_s,
                "vs_previous": paired_test(y_test, pred, previous) if previous is not None else None,
                "vs_teacher": paired_test(y_test, pred, teacher_pred),
                "vs_chapter_set": paired_test(y_test, pred, chapter_set) if chapter_set is not None else None,
            }
            print(json.dumps({k: v for k, v in row.items() if not k.startswith("vs_")}), file=sys.stderr, flush=True)
            rows.append(row)
            previous = pred
            if lv["distil"] and chapter_set is None:
                chapter_set = pred  # the chapter's transfer set: what the levers start from
    best = max(rows, key=lambda r: r["val_acc"])
    ours = {k: best[k] for k in ("test_acc", "val_acc", "params")}
    peer = {"test_acc": float((teacher_pred == y_test).mean()), "params": count_parameters(teacher)}
    emit(
        "distill_levers",
        ours,
        peer,
        save=args.save,
        quick=args.quick,
        best=f"{best['student']}: {best['lever']}",
        rows=rows,
        teacher=str(args.teacher),
        teacher_fingerprint=teacher_fingerprint(teacher_dir),
        vectors=args.vectors,
        transfer_pool={"reviews": len(base), "augmented": len(aug), "plot_sentences": len(plots)},
        teacher_labelling_s=label_s,
        teacher_logits_from_cache=from_cache,
        temperature=args.temperature,
        alpha=args.alpha,
        seed=args.seed,
        torch_threads=torch.get_num_threads(),
    )


if __name__ == "__main__":
    main()
