"""ppt_book.finetune: masking statistics, schedule, own data end to end with a tiny model, saved-model errors."""

import numpy as np
import pandas as pd
import pytest
import torch

from ppt_book.core import seed_everything
from ppt_book.data import load_text_classification
from ppt_book.finetune import (
    HEADS,
    EncoderClassifier,
    SmallBertConfig,
    mask_tokens,
    small_bert_classifier,
    train_classifier,
    wordpiece_word_ids,
)
from ppt_book.inference import predict
from ppt_book.model_io import check_labels, load_classifier, save_classifier
from ppt_book.subwords import train_tokenizer
from ppt_book.train import TrainConfig, length_grouped_batches, linear_schedule, pad_batch


def test_masking_statistics_and_whole_words():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(10, 500, (1024, 32), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    x, y = mask_tokens(ids, special, 4, 500, 0.15, generator=g)
    chosen = y != -100
    assert abs(chosen[~special].float().mean() - 0.15) < 0.005
    assert abs((x[chosen] == 4).float().mean() - 0.8) < 0.01
    assert torch.equal(y[chosen], ids[chosen]) and not chosen[special].any()
    cont = torch.zeros(500, dtype=torch.bool)
    cont[ids[:, 1::2].unique()] = True  # odd positions continue a word
    words = wordpiece_word_ids(ids, cont, special)
    _, y2 = mask_tokens(ids, special, 4, 500, 0.15, words, g)
    picked = y2 != -100
    same_word = words[:, 1:] == words[:, :-1]
    assert torch.equal(picked[:, 1:][same_word], picked[:, :-1][same_word])
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(ids, special, 4, 500, 0.0)


def test_schedule_and_length_grouping():
    assert linear_schedule(0, 100, 10) == 0.1 and linear_schedule(9, 100, 10) == 1.0
    assert linear_schedule(55, 100, 10) == pytest.approx(0.5) and linear_schedule(100, 100, 10) == 0.0
    lengths = list(np.random.default_rng(0).integers(3, 60, 1000))
    batches = length_grouped_batches(lengths, 32, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    random = sum(
        max(lengths[i] for i in b) * len(b) for b in np.array_split(np.random.default_rng(0).permutation(1000), 32)
    )
    assert padded < 0.7 * random  # grouping removes most of the padding


@pytest.mark.parametrize("head", HEADS)
def test_each_head_shape_and_gradient(head):
    from transformers import BertConfig, BertModel

    enc = BertModel(
        BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    )
    ids, mask = pad_batch([[2, 5, 6, 7, 3], [2, 9, 3]], 0)
    out = EncoderClassifier(enc, 4, head)(ids, mask)
    assert out.shape == (2, 4)
    out[1].sum().backward()
    assert enc.embeddings.word_embeddings.weight.grad[9].abs().sum() > 0
    # padding does not change the prediction of the short text
    ids2, mask2 = pad_batch([[2, 9, 3], [2, 9, 3]], 0)
    clf = EncoderClassifier(enc, 4, head).eval()
    assert torch.allclose(clf(ids, mask)[1], clf(ids2, mask2)[0], atol=1e-5)


def test_own_csv_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    good, bad, meh = ["superb", "moving", "brilliant"], ["dull", "awful", "tedious"], ["fine", "okay", "average"]
    rows = [
        (f"a {rng.choice(w)} and {rng.choice(w)} film number {i}", lab)
        for i in range(240)
        for w, lab in [((good, bad, meh)[i % 3], ("5 stars", "1 star", "3 stars")[i % 3])]
    ]
    pd.DataFrame(rows, columns=["review", "stars"]).to_csv(tmp_path / "mine.csv", index=False)
    dsd = load_text_classification(tmp_path / "mine.csv", "review", "stars")
    names = dsd["train"].features["label"].names
    tok = train_tokenizer(dsd["train"]["text"], "wordpiece", vocab_size=200, min_frequency=1)
    seed_everything(0)
    cfg = SmallBertConfig(
        vocab_size=len(tok), hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, dropout=0.0
    )
    model = small_bert_classifier(len(names), cfg, tok.pad_token_id)
    res = train_classifier(
        model,
        tok,
        dsd["train"],
        dsd["validation"],
        TrainConfig(lr=1e-3, num_epochs=10, batch_size=16, max_length=32, patience=0),
        log=lambda *a: None,
    )
    # a 1-layer model from scratch on 192 texts: well above chance (1/3) is what this end-to-end test needs
    assert res["best_val_acc"] > 0.6 and len(res["history"]) == 10
    folder = save_classifier(res["model"], tok, tmp_path / "model", names)
    out = predict(list(dsd["test"]["text"]), folder)
    truth = [names[i] for i in dsd["test"]["label"]]
    assert (out["label"] == truth).mean() > 0.5
    from transformers import pipeline

    piped = pipeline("text-classification", model=str(folder), device=-1)(list(dsd["test"]["text"][:5]))
    assert [p["label"] for p in piped] == out["label"].tolist()[:5]
    check_labels(load_classifier(folder)[0], names)
    with pytest.raises(ValueError, match="differ from the labels"):
        check_labels(load_classifier(folder)[0], ["a", "b", "c"])
    with pytest.raises(ValueError, match="empty list"):
        predict([], folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        predict(["x"], tmp_path / "empty")


def test_pretraining_tokenizes_only_the_texts_its_steps_read():
    "A short run over a large file does not tokenize all of it (a user's 30k-row file at smoke size once took minutes)."
    from transformers import BertConfig, BertForMaskedLM

    from ppt_book.finetune import pretrain_mlm
    from ppt_book.pretrained import load_minilm_tokenizer

    class CountingTokenizer:
        "The MiniLM tokenizer, counting the texts it is asked to encode."

        def __init__(self):
            self.tok, self.texts = load_minilm_tokenizer(), 0

        def __call__(self, texts, **kwargs):
            self.texts += len(texts)
            return self.tok(texts, **kwargs)

        def __getattr__(self, name):
            return getattr(self.tok, name)

        def __len__(self):
            return len(self.tok)

    tok = CountingTokenizer()
    config = BertConfig(
        vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    pretrain_mlm(
        BertForMaskedLM(config),
        tok,
        [f"review number {i} of a film" for i in range(5000)],
        3,
        batch_size=4,
        log=lambda *a: None,
    )
    assert tok.texts == 3 * 4
