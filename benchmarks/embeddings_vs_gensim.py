"""Our skip-gram (the compiled loop of ppt_book.embeddings; --engine torch: the batched PyTorch steps) vs gensim's
Word2Vec on the same corpus and settings, in one process.

    python benchmarks/embeddings_vs_gensim.py           # the book's size: whole embedding corpus, 5 epochs
    python benchmarks/embeddings_vs_gensim.py --quick   # CI smoke size

Each side trains --rounds times, alternating who goes first; the figures are medians over the rounds. Prints progress,
then as its last line the benchmark JSON line (benchmarks/README.md) with wall_s, words_per_s, wordsim353_spearman,
simlex_spearman and analogy_acc for ours and the peer. Timings on shared machines are noisy: compare the ratios of one
run, not numbers across runs.
"""

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from _common import emit, parser

from ppt_book.corpora import embedding_corpus, google_analogies, simlex999, wordsim353
from ppt_book.embeddings import (
    Word2VecConfig,
    build_vocab,
    evaluate_vectors,
    paired_similarity,
    tokenize,
    train_word2vec,
)
from ppt_book.pretrained import WordVectors


def headline(line: dict) -> dict:
    "The front page's row: wall time against gensim, and the paired WordSim353 difference."
    ours, peer, ratio = line["ours"], line["peer"], line["ratio"]
    t = line.get("paired_wordsim353")
    rho = ""
    if t:
        noise = "" if t["significant"] else ", within noise"
        rho = f"; WordSim353 {t['diff']:+.3f} [{t['diff_low']:+.3f}, {t['diff_high']:+.3f}]{noise}"
    return {
        "chapter": "10_embeddings",
        "claim": "word2vec skip-gram vs gensim, same corpus and settings",
        "ours": f"{ours['wall_s']:.1f} s, WordSim353 {ours['wordsim353_spearman']:.3f}",
        "peer": f"{peer['wall_s']:.1f} s, {peer['wordsim353_spearman']:.3f}",
        "comparison": f"{ratio['wall_s']:.2f}x gensim's wall time" + rho,
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument(
        "--threads", type=int, default=2, help="our threads (torch's and the compiled loop's) and gensim's workers"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="times each side trains, alternating who goes first (default 3; --quick 1)",
    )
    p.add_argument(
        "--engine",
        choices=["numba", "torch"],
        default="numba",
        help="ours: the compiled loop (default) or the batched PyTorch steps",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (1 if args.quick else 5)
    args.rounds = args.rounds or (1 if args.quick else 3)
    sentences = [tokenize(t) for t in embedding_corpus()]
    if args.quick:
        sentences = sentences[::10]
    cfg = Word2VecConfig(
        dim=100,
        window=5,
        negative=5,
        min_count=5,
        sample=1e-3,
        num_epochs=epochs,
        seed=0,
        engine=args.engine,
        workers=args.threads,
    )
    vocab = build_vocab(sentences, cfg.min_count)
    n_tokens = sum(map(len, sentences))
    bench = {"wordsim353": wordsim353(), "simlex": simlex999(), "analogies": google_analogies()}
    print(f"corpus: {len(sentences)} texts, {n_tokens} tokens, vocabulary {len(vocab)}; {epochs} epochs", flush=True)

    keys = ("wordsim353_spearman", "simlex_spearman", "analogy_acc", "analogy_coverage")

    last = {}  # each side's vectors from its latest round, for the paired WordSim353 test

    def run_ours() -> dict:
        wv, stats = train_word2vec(sentences, cfg, vocab, verbose=False)
        last["ours"] = wv
        return {
            "wall_s": stats["wall_s"],
            "jit_s": stats["jit_s"],  # wall_s includes the compile
            **{k: v for k, v in evaluate_vectors(wv, bench).items() if k in keys},
        }

    def run_gensim() -> dict:
        from gensim.models import Word2Vec

        t0 = time.perf_counter()
        g = Word2Vec(
            sentences,
            vector_size=cfg.dim,
            window=cfg.window,
            negative=cfg.negative,
            min_count=cfg.min_count,
            sg=1,
            sample=cfg.sample,
            epochs=epochs,
            workers=args.threads,
            seed=0,
        )
        wall = time.perf_counter() - t0
        last["gensim"] = WordVectors(list(g.wv.index_to_key), g.wv.vectors)
        return {"wall_s": wall, **{k: v for k, v in evaluate_vectors(last["gensim"], bench).items() if k in keys}}

    rounds = {"ours": [], "gensim": []}
    for r in range(
        args.rounds
    ):  # alternate who goes first: this machine's speed drifts by tens of percent within minutes
        for side in ("ours", "gensim") if r % 2 == 0 else ("gensim", "ours"):
            rounds[side].append((run_ours if side == "ours" else run_gensim)())
            print(f"round {r + 1} {side}: {rounds[side][-1]}", flush=True)

    def summary(runs: list[dict]) -> dict:
        out = {k: float(np.median([x[k] for x in runs])) for k in runs[0]}  # medians over the rounds
        out["words_per_s"] = n_tokens * epochs / out["wall_s"]
        out["wall_s_rounds"] = [x["wall_s"] for x in runs]
        return out

    ours, peer = summary(rounds["ours"]), summary(rounds["gensim"])
    ours["engine"] = args.engine
    # last round of each: same pairs, paired bootstrap
    paired = paired_similarity(last["ours"], last["gensim"], bench["wordsim353"])
    emit(
        "embeddings_vs_gensim",
        ours,
        peer,
        corpus_tokens=n_tokens,
        epochs=epochs,
        quick=args.quick,
        rounds=args.rounds,
        paired_wordsim353=paired,
        note="medians over rounds that alternate who goes first; gensim's wall time includes its vocabulary scan, "
        "ours excludes build_vocab (shared)",
        save=args.save,
        headline=headline,
    )


if __name__ == "__main__":
    main()
