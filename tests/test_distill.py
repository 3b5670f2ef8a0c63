"""ppt_book.distill: losses by hand, gradients, the T² property, students through save/load and pipeline, bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ppt_book.augment import augment
from ppt_book.core import seed_everything
from ppt_book.distill import (
    KD_LOSSES,
    DistillConfig,
    attention_map_loss,
    distillation_loss,
    hidden_mse_loss,
    logit_mse_loss,
    soft_target_loss,
    train_student,
)
from ppt_book.students import StudentConfig, StudentForSequenceClassification, word_tokenizer


def test_soft_target_loss_by_hand():
    s, t, T = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([[1.0, 1.5, 0.0]]), 3.0
    q = np.exp(np.array([1.0, 1.5, 0.0]) / T)
    q /= q.sum()
    p = np.exp(np.array([2.0, 0.5, -1.0]) / T)
    p /= p.sum()
    assert math.isclose(soft_target_loss(s, t, T).item(), T * T * float((q * np.log(q / p)).sum()), rel_tol=1e-5)
    assert soft_target_loss(t, t, T).item() == pytest.approx(0.0, abs=1e-7)
    y = torch.tensor([0])
    combo = distillation_loss(s, t, y, T, 0.4).item()
    assert math.isclose(
        combo, 0.4 * soft_target_loss(s, t, T).item() + 0.6 * F.cross_entropy(s, y).item(), rel_tol=1e-6
    )
    assert distillation_loss(s, t, y, T, 0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert set(KD_LOSSES) == {"kl", "mse"} and logit_mse_loss(s, t).item() == pytest.approx(
        ((s - t) ** 2).mean().item()
    )


def test_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    S = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    T = torch.randn(4, 3, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda x: distillation_loss(x, T, torch.tensor([0, 1, 2, -100]), 2.5, 0.3), (S,))
    A = torch.softmax(torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=g), -1).requires_grad_()
    B = torch.softmax(torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=g), -1)
    assert torch.autograd.gradcheck(lambda a: attention_map_loss(a, B, torch.tensor([[1, 1, 0], [1, 1, 1]])), (A,))


def test_t_squared_keeps_gradient_scale():
    z = torch.randn(256, 4, generator=torch.Generator().manual_seed(5))
    z = z - z.mean(1, keepdim=True)
    v = torch.randn(256, 4, generator=torch.Generator().manual_seed(6))
    v = v - v.mean(1, keepdim=True)

    def norm(T):
        x = z.clone().requires_grad_()
        return torch.autograd.grad(soft_target_loss(x, v, T), x)[0].norm().item()

    assert norm(20) / norm(10) == pytest.approx(1.0, abs=0.03)
    assert (norm(20) / 400) / (norm(10) / 100) == pytest.approx(0.25, abs=0.01)  # without T², the 1/T² fall-off


def test_hidden_and_attention_losses_ignore_padding():
    proj = torch.nn.Linear(2, 2, bias=False)
    torch.nn.init.eye_(proj.weight)
    hs, ht = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    ht[0, 2] = 9.0
    assert hidden_mse_loss(hs, ht, proj, torch.tensor([[1, 1, 0]])).item() == 0.0
    a = torch.zeros(1, 1, 2, 2)
    b = a.clone()
    b[0, 0, 1, 1] = 1.0
    assert attention_map_loss(a, b, torch.tensor([[1, 0]])).item() == 0.0
    assert attention_map_loss(a, b).item() == pytest.approx(0.25)


@pytest.mark.parametrize("arch", ["bilstm", "gru", "cnn"])
def test_student_learns_saves_and_runs_in_pipeline(arch, tmp_path):
    from transformers import pipeline

    rng = np.random.default_rng(0)
    texts = [
        f"{rng.choice(['great', 'superb', 'lovely'])} film {i}"
        if i % 2
        else f"{rng.choice(['awful', 'dull', 'boring'])} film {i}"
        for i in range(200)
    ]
    labels = [i % 2 for i in range(200)]
    teacher = np.array([[-2.0, 2.0] if y else [2.0, -2.0] for y in labels])
    tok = word_tokenizer(texts)
    seed_everything(0)
    student = StudentForSequenceClassification(
        StudentConfig(
            arch, vocab_size=len(tok), embed_dim=16, hidden_size=16, num_labels=2, pad_token_id=tok.pad_token_id
        )
    )
    val = {"text": texts[:40], "label": labels[:40]}
    out = train_student(
        student,
        tok,
        texts,
        teacher,
        [-100] * 100 + labels[100:],
        val,
        DistillConfig(lr=5e-3, num_epochs=8, batch_size=16, patience=0, checkpoint=str(tmp_path / "ck.safetensors")),
        log=lambda *a: None,
    )
    assert out["best_val_acc"] == 1.0 and (tmp_path / "ck.safetensors").exists()
    out["model"].config.id2label, out["model"].config.label2id = {0: "neg", 1: "pos"}, {"neg": 0, "pos": 1}
    out["model"].save_pretrained(tmp_path / "s")
    tok.save_pretrained(tmp_path / "s")
    clf = pipeline("text-classification", model=str(tmp_path / "s"), device=-1)
    assert [p["label"] for p in clf(["superb film", "dull film"])] == ["pos", "neg"]


def test_bad_input():
    tok = word_tokenizer(["a b c"])
    s = StudentForSequenceClassification(StudentConfig("cnn", vocab_size=len(tok), embed_dim=4, num_labels=2))
    val = {"text": ["a"], "label": [0]}
    with pytest.raises(ValueError, match="temperature must be > 0"):
        train_student(s, tok, ["a"], np.zeros((1, 2)), [0], val, DistillConfig(temperature=-1))
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        train_student(s, tok, ["a"], np.zeros((1, 2)), [0], val, DistillConfig(alpha=2))
    with pytest.raises(ValueError, match="teacher has 3 classes but the student 2"):
        train_student(s, tok, ["a"], np.zeros((1, 3)), [0], val)
    small = StudentForSequenceClassification(StudentConfig("cnn", vocab_size=2, embed_dim=4, num_labels=2))
    with pytest.raises(ValueError, match="student's embedding only 2"):
        train_student(small, tok, ["a"], np.zeros((1, 2)), [0], val)
    with pytest.raises(ValueError, match="unknown student arch"):
        StudentConfig("transformer-xl")


def test_augment_keeps_words_or_masks():
    rng = np.random.default_rng(0)
    out = [augment("the film is good", rng, {"good": ["great"]}, p_mask=0.3, p_sub=0.3, p_ngram=0) for _ in range(200)]
    vocab = {"the", "film", "is", "good", "great", "[MASK]"}
    assert (
        all(set(o.split()) <= vocab for o in out) and any("great" in o for o in out) and any("[MASK]" in o for o in out)
    )


def test_plot_sentences_never_take_a_held_out_movie():
    import pandas as pd

    from ppt_book.augment import plot_sentences
    from ppt_book.data import RT_FILE, load_rotten_tomatoes, normalize_text
    from ppt_book.pretrained import asset_path

    raw = pd.read_csv(asset_path(*RT_FILE))
    plots = raw[raw["category"] == "plot"]
    movie = plots["movie_name"].iloc[0]
    own = normalize_text(plots.loc[plots["movie_name"] == movie, "text"].iloc[0])
    everyone = plot_sentences([])
    assert all(4 <= len(s.split()) <= 40 for s in everyone)
    without = set(plot_sentences([movie]))
    assert {s for s in everyone if s not in without} and all(s in own for s in set(everyone) - without)
    dsd = load_rotten_tomatoes(0)
    held_out = set(dsd["validation"]["movie"]) | set(dsd["test"]["movie"])
    taken, theirs = plot_sentences(held_out), plot_sentences(set(plots["movie_name"]) - held_out)
    assert len(taken) > 1000 and not set(taken) & set(theirs)  # the transfer set never carries a held-out movie's plot
