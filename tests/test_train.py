"""ppt_book.train: the shared loop learns, resumes exactly, validates its config, shards evenly and refuses bad
input."""

import math

import numpy as np
import pytest
import torch
from conftest import LABELS, TEXTS, quiet
from transformers import BertConfig, BertForSequenceClassification

from ppt_book.checkpoint import CheckpointError, load_checkpoint
from ppt_book.core import seed_everything
from ppt_book.students import word_tokenizer
from ppt_book.train import (
    TrainConfig,
    _global_batches,
    _shard,
    classification_loss,
    cosine_schedule,
    fit,
    param_groups,
    predict_logits,
)

TOK = word_tokenizer(TEXTS)


def tiny_bert(seed=0):
    seed_everything(seed)
    return BertForSequenceClassification(
        BertConfig(
            vocab_size=len(TOK),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=2,
            max_position_embeddings=32,
        )
    )


def test_fit_learns_and_keeps_the_best_epoch():
    out = fit(
        tiny_bert(),
        TOK,
        TEXTS,
        classification_loss(LABELS),
        TEXTS[:12],
        LABELS[:12],
        TrainConfig(lr=1e-2, num_epochs=6, batch_size=8, max_length=16, patience=0),
        log=quiet,
    )
    assert out["best_val_acc"] == out["history"]["val_acc"].max() == 1.0
    assert out["history"]["train_loss"].iloc[-1] < 0.5 * out["history"]["train_loss"].iloc[0]
    assert out["steps"] == 6 * 6 and not out["model"].training
    assert (predict_logits(out["model"], TOK, ["a fine warm film", "a dull cold film"], 16).argmax(1) == [1, 0]).all()


def test_fit_in_fp32_then_bf16_in_one_process():
    """A notebook fits small models in fp32 and MiniLM in bf16 in turn: the second fit must neither fail on accelerate's
    once-per-process state nor skip the autocast."""
    cfg = TrainConfig(lr=1e-2, num_epochs=3, batch_size=8, max_length=16, patience=0)
    fp32 = fit(
        tiny_bert(), TOK, TEXTS, classification_loss(LABELS), TEXTS[:12], LABELS[:12], cfg, log=quiet, progress=False
    )
    seen = []

    def loss_fn(model, ids, mask, rows):
        logits = model(input_ids=ids, attention_mask=mask).logits
        seen.append(logits.dtype)
        return torch.nn.functional.cross_entropy(logits.float(), torch.tensor(LABELS)[rows])

    bf16 = fit(
        tiny_bert(),
        TOK,
        TEXTS,
        loss_fn,
        TEXTS[:12],
        LABELS[:12],
        TrainConfig(**{**cfg.__dict__, "bf16": True}),
        log=quiet,
        progress=False,
    )
    assert set(seen) == {torch.bfloat16} and bf16["best_val_acc"] == fp32["best_val_acc"] == 1.0


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    kw = dict(lr=3e-3, num_epochs=3, batch_size=8, max_length=16, patience=0, seed=1)
    straight = fit(
        tiny_bert(), TOK, TEXTS, classification_loss(LABELS), TEXTS[:12], LABELS[:12], TrainConfig(**kw), log=quiet
    )
    ckpt = TrainConfig(**kw, checkpoint=str(tmp_path / "run.safetensors"))
    calls = {"n": 0}

    def dies_in_epoch_3(model, ids, mask, rows):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt  # 6 steps per epoch: the third epoch's second step
        return classification_loss(LABELS)(model, ids, mask, rows)

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_bert(), TOK, TEXTS, dies_in_epoch_3, TEXTS[:12], LABELS[:12], ckpt, log=quiet)
    assert load_checkpoint(ckpt.checkpoint, restore_rng=False)["extra"]["epoch"] == 2
    # started without resume: still resumable
    resumed = fit(
        tiny_bert(seed=5),
        TOK,
        TEXTS,
        classification_loss(LABELS),
        TEXTS[:12],
        LABELS[:12],
        TrainConfig(**kw, checkpoint=ckpt.checkpoint, resume=True),
        log=quiet,
    )
    for a, b in zip(straight["model"].state_dict().values(), resumed["model"].state_dict().values()):
        assert torch.equal(a, b)
    assert resumed["history"].equals(straight["history"])
    with pytest.raises(CheckpointError, match=r"batch_size: saved 8, given 4"):
        fit(
            tiny_bert(),
            TOK,
            TEXTS,
            classification_loss(LABELS),
            TEXTS[:12],
            LABELS[:12],
            TrainConfig(**{**kw, "batch_size": 4}, checkpoint=ckpt.checkpoint, resume=True),
            log=quiet,
        )


def test_early_stopped_run_stays_stopped_when_resumed(tmp_path):
    cfg = TrainConfig(
        lr=1e-9, num_epochs=6, batch_size=8, max_length=16, patience=1, checkpoint=str(tmp_path / "c.safetensors")
    )
    first = fit(tiny_bert(), TOK, TEXTS, classification_loss(LABELS), TEXTS[:12], LABELS[:12], cfg, log=quiet)
    assert len(first["history"]) == 2  # no gain after the first validation: stopped at the second
    again = fit(
        tiny_bert(),
        TOK,
        TEXTS,
        classification_loss(LABELS),
        TEXTS[:12],
        LABELS[:12],
        TrainConfig(**{**cfg.__dict__, "resume": True}),
        log=quiet,
    )
    assert again["steps"] == first["steps"] and len(again["history"]) == 2
    for a, b in zip(first["model"].state_dict().values(), again["model"].state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("lr", 0, r"TrainConfig.lr must be > 0, got 0"),
        ("num_epochs", 0, r"TrainConfig.num_epochs must be >= 1"),
        ("warmup_ratio", 1.0, r"TrainConfig.warmup_ratio must be in \[0, 1\)"),
        ("max_grad_norm", -1, r"max_grad_norm must be >= 0"),
        ("schedule", "step", r"TrainConfig.schedule must be one of \['linear', 'cosine'\]"),
        ("resume", True, "needs TrainConfig.checkpoint"),
    ],
)
def test_train_config_names_the_field_and_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_global_batches_shard_evenly_and_agree_across_processes():
    lengths = list(np.random.default_rng(0).integers(3, 30, 101))
    cfg = TrainConfig(batch_size=8)
    batches = _global_batches(lengths, cfg, epoch=0, world=4)
    # 101 = 3 x 32 + 5: the last still splits
    assert all(len(b) >= 4 for b in batches) and sum(map(len, batches)) == 101
    shards = [_shard(batches[0], r, 4) for r in range(4)]
    assert sorted(i for s in shards for i in s) == sorted(batches[0]) and {len(s) for s in shards} == {8}
    assert _global_batches(lengths, cfg, 0, 4) == batches and _global_batches(lengths, cfg, 1, 4) != batches
    assert _global_batches([5, 6, 7], TrainConfig(batch_size=1), 0, world=4) == []  # too few to give each process one


def test_one_weight_decay_rule():
    model = torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2))
    decay, no_decay = param_groups(model, 0.1)
    assert sum(p.numel() for p in decay["params"]) == 5 * 3 + 2 * 3 and no_decay["weight_decay"] == 0
    assert cosine_schedule(0, 10, 0) == 1.0 and math.isclose(cosine_schedule(10, 10, 0, 0.2), 0.2)
