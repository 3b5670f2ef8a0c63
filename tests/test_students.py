"""ppt_book.students: each student trains, saves with save_pretrained, and loads back in transformers' pipeline."""

import numpy as np
import pytest

from ppt_book.core import seed_everything
from ppt_book.distill import DistillConfig, train_student
from ppt_book.students import StudentConfig, StudentForSequenceClassification, word_tokenizer


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
