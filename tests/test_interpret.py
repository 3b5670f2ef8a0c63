"""ppt_book.interpret: deletion curves on a model whose right explanation is known, label issues on planted flips,
near-duplicates, behavioural tests and bad input."""

import numpy as np
import pytest
import torch.nn as nn

from ppt_book.interpret import (
    area_between,
    behavioural_suite,
    cross_val_probs,
    deletion_curve,
    embedding_layer,
    find_label_issues,
    near_duplicates,
    occlusion,
    random_deletion_curve,
    run_behavioural,
    typo,
)

WEIGHTS = {"superb": 4.0, "fine": 1.0, "awful": -4.0, "dull": -1.0}


def linear_words(texts):
    "A hand-built sentiment model: logit(pos) = sum of known word weights; every other word weighs nothing."
    z = np.array([sum(WEIGHTS.get(w, 0.0) for w in t.split()) for t in texts])
    p = 1 / (1 + np.exp(-z))
    return np.stack([1 - p, p], 1)


def test_deletion_curve_of_the_true_attribution_falls_fastest():
    words = "a superb cast a fine plot and some dull scenes".split()
    true = np.array([WEIGHTS.get(w, 0.0) for w in words])  # the exact contribution of each word to the logit
    curve = deletion_curve(linear_words, words, true, target=1)

    def sig(z):
        return 1 / (1 + np.exp(-z))

    # delete superb, then fine, then zeros
    assert np.allclose(curve, [sig(4), sig(0), sig(-1), sig(-1), sig(-1), sig(-1)])
    rand = random_deletion_curve(linear_words, words, 1, n_orders=200, seed=0)
    assert area_between(rand, curve) > 0.2
    # the worst ranking deletes 'dull' first: p rises
    reversed_curve = deletion_curve(linear_words, words, -true, target=1)
    assert area_between(rand, reversed_curve) < 0 < area_between(rand, curve)
    assert np.allclose(
        occlusion(linear_words, words, 1)[[1, 4, 8]], [sig(4) - sig(0), sig(4) - sig(3), sig(4) - sig(5)]
    )


def test_deletion_curve_edge_cases():
    assert len(deletion_curve(linear_words, ["superb"], [1.0], 1)) == 1  # half of one word: only k = 0
    assert area_between(np.array([0.5]), np.array([0.5])) == 0.0
    assert len(deletion_curve(linear_words, "a b c d".split(), [1, 2, 3, 4], 1, max_k=10)) == 5


def test_label_issues_find_planted_flips_on_text_like_data():
    rng = np.random.default_rng(1)
    centers = rng.normal(0, 1, (2, 20)) * 2
    y = rng.integers(0, 2, 600)
    X = centers[y] + rng.normal(0, 1, (600, 20))
    flips = rng.choice(600, 30, replace=False)
    noisy = y.copy()
    noisy[flips] = 1 - noisy[flips]
    found = find_label_issues(noisy, cross_val_probs(X, noisy, 5, 0))
    assert len(set(found) & set(flips)) >= 0.8 * len(flips)
    assert len(set(found) - set(flips)) <= 0.2 * len(flips)
    assert list(found[:3]) == sorted(found[:3], key=lambda i: list(found).index(i))  # ranked output


def test_near_duplicates_across_splits():
    a = ["A moving, funny film about two brothers.", "Nothing like the other one at all, totally different words."]
    b = ["a moving , funny film about two brothers", "Completely unrelated text about cooking pasta."]
    d = near_duplicates(a, b, threshold=0.8)
    assert list(zip(d["a_index"], d["b_index"])) == [(0, 0)] and d["similarity"][0] > 0.8


def test_behavioural_suite_and_runner():
    suite = behavioural_suite(["The acting is wonderful and the story moving", "ok"], seed=0)
    assert {k: v[0] for k, v in suite.items()} == {
        "negation": "MFT",
        "typos": "INV",
        "names": "INV",
        "intensity": "DIR",
    }
    assert len(suite["typos"][1]) == 1  # 'ok' has no word of 4+ letters to misspell
    orig, changed = suite["typos"][1][0]
    assert orig != changed and sorted(orig) == sorted(changed)
    assert all(a != b for a, b in suite["names"][1])
    rates = run_behavioural(linear_words, suite).set_index("test")["pass_rate"]
    assert rates["typos"] == 1.0 and rates["names"] == 1.0 and rates["intensity"] == 1.0
    assert typo("abc", np.random.default_rng(0)) == "abc"


def test_model_without_embeddings_is_a_clear_error():
    class NoEmbed(nn.Module):
        def get_input_embeddings(self):
            raise NotImplementedError

    with pytest.raises(ValueError, match="exposes no input embedding layer"):
        embedding_layer(NoEmbed())
    with_embed = nn.Module()
    with_embed.embed = nn.Embedding(5, 3)
    assert embedding_layer(with_embed) is with_embed.embed
    with pytest.raises(ValueError, match="at least 5 examples"):
        cross_val_probs(np.zeros((6, 2)), np.array([0, 0, 0, 0, 1, 1]), 5)


def test_integrated_gradients_explains_a_layer_student_with_a_factorised_embedding():
    "The best student of 40 (the teacher's layers, vocabulary pruned, embedding factorised) is explained like the rest."
    from conftest import tiny_bert

    from ppt_book.interpret import integrated_gradients
    from ppt_book.pretrained import load_minilm_tokenizer
    from ppt_book.students import FactorisedEmbedding, factorise_embedding, prune_vocab, transformer_student

    tok = load_minilm_tokenizer()
    keep = sorted(set(tok.all_special_ids) | set(tok("a fine film , not a dull one")["input_ids"]))
    student, small = prune_vocab(transformer_student(tiny_bert(len(tok), 2), (0, 1)).eval(), tok, keep)
    student = factorise_embedding(student, 4).eval()
    assert isinstance(embedding_layer(student), FactorisedEmbedding)
    out = integrated_gradients(student, small, "a fine film, not a dull one", n_steps=16)
    assert len(out["scores"]) == len(out["words"]) and np.isfinite(out["scores"]).all()
