"""ppt_book.distill: losses by hand, gradients, the T² property, the config and the training of students, bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import LABELS, TEXTS, quiet

from ppt_book.checkpoint import load_checkpoint
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


TOK = word_tokenizer(TEXTS)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperature", 0, r"DistillConfig.temperature must be > 0"),
        ("alpha", 1.5, r"DistillConfig.alpha must be in \[0, 1\]"),
        ("loss", "l1", r"DistillConfig.loss must be one of \['kl', 'mse'\]"),
        ("lr", -1, r"TrainConfig.lr must be > 0"),
    ],
)
def test_distill_config_names_the_field_and_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig(**{field: value})


def test_hard_label_students_need_every_label():
    student = StudentForSequenceClassification(
        StudentConfig("cnn", vocab_size=len(TOK), embed_dim=8, num_filters=4, num_labels=2)
    )
    val = {"text": TEXTS[:6], "label": LABELS[:6]}
    out = train_student(
        student,
        TOK,
        TEXTS,
        None,
        LABELS,
        val,
        DistillConfig(lr=1e-2, num_epochs=2, batch_size=8, max_length=16),
        log=quiet,
    )
    assert out["best_val_acc"] >= 0.5
    with pytest.raises(ValueError, match=r"needs one label per text .* 1 missing"):
        train_student(student, TOK, TEXTS, None, [-100] + LABELS[1:], val, DistillConfig(num_epochs=1), log=quiet)


def test_student_checkpoints_carry_the_distill_config(tmp_path):
    student = StudentForSequenceClassification(
        StudentConfig("cnn", vocab_size=len(TOK), embed_dim=8, num_filters=4, num_labels=2)
    )
    cfg = DistillConfig(
        temperature=2.0, lr=1e-2, num_epochs=1, batch_size=8, max_length=16, checkpoint=str(tmp_path / "s.safetensors")
    )
    logits = np.where(np.eye(2)[LABELS] > 0, 2.0, -2.0)
    train_student(student, TOK, TEXTS, logits, LABELS, {"text": TEXTS[:6], "label": LABELS[:6]}, cfg, log=quiet)
    saved = load_checkpoint(cfg.checkpoint, restore_rng=False)["config"]
    assert saved["temperature"] == 2.0 and saved["alpha"] == 0.7 and saved["resume"] is False
