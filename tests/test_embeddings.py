"""ppt_book.embeddings: sampling, counts, losses, evaluation, training, file format."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ppt_book.embeddings import (
    GloveConfig,
    Word2VecConfig,
    _cbow_step,
    _noise_table,
    _sgns_step,
    analogy_eval,
    build_vocab,
    cooccurrence,
    encode,
    glove_loss,
    keep_probability,
    load_word2vec_format,
    noise_distribution,
    save_word2vec_format,
    sgns_update,
    similarity_eval,
    skipgram_pairs,
    train_glove,
    train_word2vec,
)
from ppt_book.pretrained import WordVectors


def test_negative_sampling_follows_unigram_to_the_three_quarters():
    counts = np.array([1000, 100, 10, 1])
    table = _noise_table(counts, size=1_000_000)
    draws = table[torch.randint(0, len(table), (400_000,), generator=torch.Generator().manual_seed(0))]
    empirical = np.bincount(draws.numpy(), minlength=4) / len(draws)
    expected = counts**0.75 / (counts**0.75).sum()
    assert np.allclose(empirical, expected, atol=0.003)
    assert np.allclose(noise_distribution(counts), expected)


def test_subsampling_drops_frequent_words_at_the_formula_rate():
    counts = np.array([9000, 1000])
    kp = keep_probability(counts, sample=1e-3)
    f = counts / counts.sum()
    assert np.allclose(kp, np.minimum(1, (np.sqrt(f / 1e-3) + 1) * 1e-3 / f))
    ids = np.array([0] * 9000 + [1] * 1000)
    rng = np.random.default_rng(0)
    kept = rng.random(len(ids)) < kp[ids]
    assert abs(kept[:9000].mean() - kp[0]) < 0.02 and abs(kept[9000:].mean() - kp[1]) < 0.05


def test_dynamic_window_averages_to_window_plus_one():
    ids, sids = np.arange(20000) % 50, np.zeros(20000, dtype=np.int64)
    c, _ = skipgram_pairs(ids, sids, 5, np.random.default_rng(0))
    # each centre draws b in 1..5 and pairs with up to b words each side: 2 * E[b] = 6 contexts per centre
    assert abs(len(c) / len(ids) - 6.0) < 0.1


def test_cooccurrence_on_a_hand_checked_sentence():
    words = "the cat sat on the mat".split()
    vocab = build_vocab([words], min_count=1)
    ids, sids = encode([words], vocab)
    X = cooccurrence(ids, sids, len(vocab), window=2).toarray()
    i = vocab.index
    assert X[i["cat"], i["sat"]] == 1.0 and X[i["sat"], i["cat"]] == 1.0
    assert X[i["the"], i["cat"]] == 1.0  # distance 1
    assert X[i["the"], i["sat"]] == 1.0  # two "the"s, each at distance 2: 0.5 + 0.5
    assert X[i["the"], i["mat"]] == 1.0 and X[i["on"], i["mat"]] == 0.5
    assert X[i["cat"], i["mat"]] == 0.0  # distance 4 > window
    assert np.allclose(X, X.T)


def test_glove_loss_hand_computed_and_gradient():
    wi, wj = (
        torch.tensor([[0.3, -0.2, 0.1]], dtype=torch.float64, requires_grad=True),
        torch.tensor([[0.5, 0.4, -0.3]], dtype=torch.float64),
    )
    bi, bj, x = (
        torch.tensor([0.05], dtype=torch.float64),
        torch.tensor([-0.1], dtype=torch.float64),
        torch.tensor([250.0], dtype=torch.float64),
    )
    dot = 0.3 * 0.5 - 0.2 * 0.4 - 0.1 * 0.3
    expected = 1.0 * (dot + 0.05 - 0.1 - math.log(250)) ** 2  # x > x_max: weight 1
    loss = glove_loss(wi, wj, bi, bj, x)
    assert math.isclose(loss.item(), expected, rel_tol=1e-12)
    loss.backward()
    assert torch.allclose(wi.grad, 2 * (dot + 0.05 - 0.1 - math.log(250)) * wj)


def test_evaluation_on_known_vectors_and_zero_coverage():
    wv = WordVectors(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32))
    pairs = pd.DataFrame([["a", "b", 9.0], ["a", "c", 1.0], ["b", "c", 2.0]], columns=["word1", "word2", "score"])
    assert similarity_eval(wv, pairs) == {"coverage": 1.0, "pairs": 3, "spearman": 1.0}
    none = pd.DataFrame([["x", "y", 1.0]], columns=["word1", "word2", "score"])
    assert similarity_eval(wv, none) == {"coverage": 0.0, "pairs": 0, "spearman": None}
    q = pd.DataFrame([["s", "x", "y", "z", "w"]], columns=["section", "a", "b", "c", "d"])
    assert analogy_eval(wv, q) == {"coverage": 0.0, "questions": 0, "accuracy": None}


def test_empty_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="corpus is empty"):
        train_word2vec([[]])
    with pytest.raises(ValueError, match="vocabulary is empty"):
        train_glove([["rare", "words"]], GloveConfig(min_count=3))


@pytest.mark.parametrize("engine", ["numba", "torch"])
@pytest.mark.parametrize("cbow", [False, True])
def test_word2vec_learns_topics(cbow, engine):
    rng = np.random.default_rng(0)
    # # batched updates sum the steps of a word repeated in one batch: a realistic vocabulary-to-batch ratio keeps them
    # small
    fruit, tools = [f"fruit{i}" for i in range(100)], [f"tool{i}" for i in range(100)]
    sents = [list(rng.choice(fruit if k % 2 else tools, 12)) for k in range(1000)]
    wv, stats = train_word2vec(
        sents,
        Word2VecConfig(
            dim=16,
            min_count=1,
            num_epochs=5,
            sample=0,
            batch_size=64,
            cbow=cbow,
            lr=0.05 if cbow else 0.025,
            engine=engine,
        ),
        verbose=False,
    )
    U = wv.vectors / np.linalg.norm(wv.vectors, axis=1, keepdims=True)
    S = U @ U.T

    def idx(names):
        return [wv.index[n] for n in names]

    within = S[np.ix_(idx(fruit), idx(fruit))].mean()
    across = S[np.ix_(idx(fruit), idx(tools))].mean()
    assert within > across + 0.3, (within, across)
    assert stats["words_per_s"] > 0 and stats["engine"] == engine


@pytest.mark.parametrize("cbow", [False, True])
def test_compiled_update_equals_the_batched_step(cbow):
    """One example through the compiled loop's update and through the PyTorch step: the same rows move by the same
    amounts."""
    rng = np.random.default_rng(3)
    W_in, W_out = rng.normal(size=(15, 7)).astype(np.float32), rng.normal(size=(15, 7)).astype(np.float32)
    T_in, T_out, before = torch.from_numpy(W_in.copy()), torch.from_numpy(W_out.copy()), W_out.copy()
    neu = np.zeros(7, np.float32)
    if cbow:
        _cbow_step(T_in, T_out, torch.tensor([[0, 6, -1, 11]]), torch.tensor([2]), torch.tensor([[8, 13, 4]]), 0.05, 7)
        sgns_update(W_out, W_in[[0, 6, 11]].mean(0), np.array([2, 8, 13, 4]), 0.05, neu)
        W_in[[0, 6, 11]] += neu
    else:
        T_in.index_add_(
            0,
            torch.tensor([2]),
            _sgns_step(T_in, T_out, torch.tensor([2]), torch.tensor([9]), torch.tensor([[8, 13, 4]]), 0.05, 7),
        )
        sgns_update(W_out, W_in[2].copy(), np.array([9, 8, 13, 4]), 0.05, neu)
        W_in[2] += neu
    assert np.allclose(W_in, T_in.numpy(), atol=1e-6) and np.allclose(W_out, T_out.numpy(), atol=1e-6)
    assert not np.allclose(W_out, before)  # the update did something


def test_compiled_word2vec_repeats_with_one_worker_and_checks_its_config():
    rng = np.random.default_rng(0)
    sents = [list(rng.choice([f"w{i}" for i in range(30)], 10)) for _ in range(200)]
    cfg = Word2VecConfig(dim=8, min_count=1, num_epochs=2, workers=1)
    a, b = (train_word2vec(sents, cfg, verbose=False)[0].vectors for _ in range(2))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="engine"):
        Word2VecConfig(engine="cuda")
    with pytest.raises(ValueError, match="workers"):
        Word2VecConfig(workers=-1)


def test_glove_learns_topics():
    rng = np.random.default_rng(0)
    fruit, tools = [f"fruit{i}" for i in range(10)], [f"tool{i}" for i in range(10)]
    sents = [list(rng.choice(fruit if k % 2 else tools, 12)) for k in range(300)]
    wv, stats = train_glove(sents, GloveConfig(dim=16, min_count=1, num_epochs=30, batch_size=512), verbose=False)
    assert stats["loss_per_epoch"][-1] < stats["loss_per_epoch"][0]
    U = wv.vectors / np.linalg.norm(wv.vectors, axis=1, keepdims=True)
    f, t = [wv.index[w] for w in fruit], [wv.index[w] for w in tools]
    assert (U[f] @ U[f].T).mean() > (U[f] @ U[t].T).mean() + 0.3


def test_word2vec_text_format_round_trips_through_gensim(tmp_path):
    from gensim.models import KeyedVectors

    wv = WordVectors(["alpha", "beta", "gamma"], np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32))
    save_word2vec_format(wv, tmp_path / "v.txt")
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"))
    assert kv.index_to_key == wv.words and np.allclose(kv.vectors, wv.vectors, atol=1e-5)
    kv.save_word2vec_format(str(tmp_path / "g.txt"))
    assert np.allclose(load_word2vec_format(tmp_path / "g.txt").vectors, wv.vectors, atol=1e-5)
    (tmp_path / "bad.txt").write_text("2 3\nalpha 1 2\n")
    with pytest.raises(ValueError, match="bad.txt, line 2: expected a word and 3 numbers, got 2"):
        load_word2vec_format(tmp_path / "bad.txt")
