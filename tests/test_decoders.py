"""ppt_book.decoders: label-word scoring against a hand computation, KV-cache prefix reuse, probes, LoRA save/load, the
GPT classifier, bad input."""

import numpy as np
import pytest
import torch

from ppt_book.core import BadInput
from ppt_book.decoders import (
    GPTClassifier,
    balanced_shots,
    build_prompts,
    fit_probe,
    gpt_hidden_states,
    hidden_features,
    label_token_ids,
    layer_features,
    load_adapter,
    lora_classifier,
    matched_steps,
    pool,
    probe_layers,
    save_adapter,
    score_label_words,
    stream_ids,
)
from ppt_book.lm import LMConfig, TransformerLM
from ppt_book.subwords import train_tokenizer
from ppt_book.train import pad_batch

TEXTS = [
    "a fine film with great acting",
    "dull and far too long",
    "great fun from start to end",
    "awful plot and bad acting, a waste",
    "great",
    "awful",
] * 4
LABELS = [0, 1, 0, 1, 0, 1] * 4
WORDS = ["great", "awful"]
CHAT = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture(scope="module")
def toy():
    "A tiny random Llama causal LM and a byte-level BPE tokenizer trained on the texts."
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_tokenizer(TEXTS, "bpe", vocab_size=300)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
        )
    ).eval()
    return tok, model


def by_hand(model, ids, word_ids):
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], -1)[word_ids].numpy()


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize("k", [0, 2, 4])
def test_label_word_scores_match_a_hand_computation_and_the_cache_changes_nothing(toy, chat, k):
    tok, model = toy
    tok.chat_template = CHAT if chat else None
    shots = balanced_shots(TEXTS, LABELS, k, seed=1)
    cached = score_label_words(model, tok, TEXTS[:7], WORDS, shots=shots, batch_size=3)
    recomputed = score_label_words(model, tok, TEXTS[:7], WORDS, shots=shots, batch_size=3, reuse_prefix=False)
    assert np.abs(cached - recomputed).max() < 1e-5
    prefix, suffixes = build_prompts(tok, TEXTS[:7], shots=shots, label_words=WORDS)
    word_ids = label_token_ids(tok, WORDS)
    for i in (0, 3, 6):  # texts of different lengths, scored in padded batches
        assert np.allclose(cached[i], by_hand(model, prefix + suffixes[i], word_ids), atol=1e-5)
    whole = tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False) if chat else None
    assert (whole is not None) == chat
    if k:
        assert len(prefix) > 0  # the shots are the shared prefix
    tok.chat_template = None


def test_prompt_tokens_are_the_whole_prompt(toy):
    tok, _ = toy
    tok.chat_template = CHAT
    shots = balanced_shots(TEXTS, LABELS, 2, seed=0)
    # 'Review: ' + text: the cut falls before 'Review'
    prefix, suffixes = build_prompts(tok, TEXTS[:2], "Review: {review}", shots, WORDS)
    msgs = [
        m
        for t, y in shots
        for m in ({"role": "user", "content": f"Review: {t}"}, {"role": "assistant", "content": WORDS[y]})
    ]
    full = tok.apply_chat_template(
        msgs + [{"role": "user", "content": f"Review: {TEXTS[1]}"}], tokenize=False, add_generation_prompt=True
    )
    assert prefix + suffixes[1] == tok(full, add_special_tokens=False)["input_ids"]
    tok.chat_template = None


def test_shots_are_balanced_seeded_and_bounded():
    shots = balanced_shots(TEXTS, LABELS, 4, seed=3)
    assert sorted(y for _, y in shots) == [0, 0, 1, 1]
    assert shots == balanced_shots(TEXTS, LABELS, 4, seed=3) and balanced_shots(TEXTS, LABELS, 0) == []
    assert all(TEXTS.index(t) % 2 == y for t, y in shots)  # each text keeps its own label
    with pytest.raises(BadInput, match="only 24 examples"):
        balanced_shots(TEXTS, LABELS, 25)
    with pytest.raises(BadInput, match="more examples of class 0 than the pool.s 1"):
        balanced_shots(TEXTS[:3], [0, 1, 1], 3)


def test_prompt_bad_input(toy):
    tok, model = toy
    with pytest.raises(
        BadInput, match=r"prompt_template 'Is it good\?' must hold the placeholder \{review\} exactly once"
    ):
        score_label_words(model, tok, TEXTS[:1], WORDS, template="Is it good?")
    with pytest.raises(BadInput, match="label word '' tokenizes to nothing"):
        label_token_ids(tok, ["great", ""])
    first = tok.convert_ids_to_tokens(tok("great", add_special_tokens=False)["input_ids"])[0]
    with pytest.raises(BadInput, match=f"'great' and 'great fun' start with the same token '{first}'"):
        label_token_ids(tok, ["great", "great fun"])
    with pytest.raises(BadInput, match="shots need label_words"):
        build_prompts(tok, TEXTS[:1], shots=[(TEXTS[0], 0)])


def test_probe_features_every_layer_and_a_probe_that_separates(toy):
    tok, model = toy
    feats = hidden_features(model, tok, TEXTS, max_length=16, batch_size=5)
    assert set(feats) == {"last", "mean"} and feats["last"].shape == (3, len(TEXTS), 32)
    one = hidden_features(model, tok, TEXTS[3:4], max_length=16)  # batching and padding do not change a text's features
    assert np.allclose(one["mean"][:, 0], feats["mean"][:, 3], atol=1e-5) and np.allclose(
        one["last"][:, 0], feats["last"][:, 3], atol=1e-5
    )
    table = probe_layers(feats, LABELS, feats, LABELS)
    assert len(table) == 6 and table.val_acc.max() == 1.0  # the training texts, repeated, are separable
    with pytest.raises(BadInput, match=r"probe layer 3 is out of range: this model has layers 0 \(embeddings\) to 2"):
        layer_features(feats["last"], 3)
    assert np.array_equal(layer_features(feats["last"], -1), feats["last"][2])
    X = np.r_[np.random.default_rng(0).normal(-2, 1, (40, 3)), np.random.default_rng(1).normal(2, 1, (40, 3))]
    assert (fit_probe(X, [0] * 40 + [1] * 40).predict(X) == np.r_[[0] * 40, [1] * 40]).mean() > 0.95


def test_lora_adapter_round_trip_and_bad_input(toy, tmp_path):
    tok, model = toy
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lora = lora_classifier(model, 2, tok.pad_token_id, ["pos", "neg"], rank=4)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "score" in n for n in trainable)
    with torch.no_grad():
        for n, p in lora.named_parameters():
            if "lora_B" in n or "score" in n:
                p.normal_()  # B starts at zero: move it so the round trip is not trivial
    ids, mask = pad_batch([[5, 6, 7, 8], [9, 10]], tok.pad_token_id)
    lora.eval()
    expected = lora(input_ids=ids, attention_mask=mask).logits
    saved = save_adapter(lora, tmp_path / "adapter")
    back = load_adapter(model, saved)
    assert torch.allclose(back(input_ids=ids, attention_mask=mask).logits, expected, atol=1e-6)
    assert back.config.id2label == {0: "pos", 1: "neg"}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the base model is never changed
    with pytest.raises(
        BadInput, match=r"LoRA target module\(s\) \['qkv'\] are not in LlamaForCausalLM: choose from \['down_proj'"
    ):
        lora_classifier(model, 2, tok.pad_token_id, target_modules=["qkv"])
    with pytest.raises(BadInput, match="lora rank is 0"):
        lora_classifier(model, 2, tok.pad_token_id, rank=0)
    with pytest.raises(BadInput, match="not a LoRA adapter folder"):
        load_adapter(model, tmp_path)
    (saved / "adapter_model.safetensors").rename(saved / "adapter_model.bin")
    with pytest.raises(BadInput, match="only safetensors adapters are loaded"):
        load_adapter(model, saved)


def test_gpt_classifier_pools_the_last_real_token_and_ignores_padding():
    lm = TransformerLM(LMConfig(vocab_size=30, block_size=12, n_layer=2, n_head=2, n_embd=16))
    ids, mask = pad_batch([[3, 4, 5], [6, 7, 8, 9, 10]], 0)
    states = gpt_hidden_states(lm, ids)
    assert len(states) == 3 and torch.allclose(lm.lm_head(states[-1]), lm(ids).logits, atol=1e-6)
    for pooling in ("last", "mean"):
        clf = GPTClassifier(lm, 3, pooling).eval()
        alone = clf(ids[:1, :3], mask[:1, :3])
        assert torch.allclose(clf(ids, mask)[:1], alone, atol=1e-6), pooling
    h = torch.arange(6.0).view(1, 6, 1)
    assert (
        pool(h, torch.tensor([[1, 1, 1, 0, 0, 0]]), "last").item() == 2.0
        and pool(h, torch.tensor([[1, 1, 1, 0, 0, 0]]), "mean").item() == 1.0
    )
    with pytest.raises(ValueError, match="exceed the model's block_size 12"):
        gpt_hidden_states(lm, torch.zeros(1, 13, dtype=torch.long))


def test_stream_and_matched_compute():
    tok = train_tokenizer(TEXTS, "wordpiece", vocab_size=200)
    stream = stream_ids(tok, TEXTS[:2], max_length=4)
    # truncated, specials kept
    assert len(stream) == 8 and stream[0] == tok.cls_token_id and stream[3] == tok.sep_token_id
    assert matched_steps(64 * 64 * 100, 1000, 1000, 64, 64) == 100
    assert matched_steps(64 * 64 * 100, 1000, 2000, 64, 64) == 50  # twice the parameters: half the tokens
    with pytest.raises(ValueError, match="no texts"):
        stream_ids(tok, [])
