"""ppt_book.lm beyond what the chapter shows: bad input, recurrent generation, budgets, resuming with the wrong
model."""

import math

import numpy as np
import pytest
import torch

from ppt_book.checkpoint import CheckpointError
from ppt_book.core import seed_everything
from ppt_book.lm import (
    CharTokenizer,
    LMConfig,
    LMTrainConfig,
    NGramLM,
    build_lm,
    causal_lm_bpc,
    evaluate_nll,
    filter_logits,
    generate,
    sample_text,
    to_gpt2,
    train_lm,
)


@pytest.fixture
def ids():
    return np.random.default_rng(0).integers(0, 12, 3000)


def quiet(_):
    pass


@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
def test_ngram_distributions_sum_to_one_on_real_text(smoothing):
    text = "the quick brown fox jumps over the lazy dog; " * 20 + "zebra quartz"
    tok = CharTokenizer.fit(text)
    m = NGramLM(4, smoothing, k=0.1).fit(tok.encode(text[:-12]), tok.vocab_size)  # 'zebra quartz' unseen in training
    for ctx in ("", "t", "th", "the", "zeb", "qqq"):
        d = m.distribution(tok.encode(ctx))
        assert d.shape == (tok.vocab_size,) and math.isclose(d.sum(), 1.0, rel_tol=1e-9) and (d > 0).all()
    assert np.isfinite(m.log_probs(tok.encode(text[-40:]))).all()


def test_ngram_bad_input():
    with pytest.raises(ValueError, match="order must be at least 1"):
        NGramLM(0)
    with pytest.raises(ValueError, match="add-k needs k > 0"):
        NGramLM(2, "add_k", k=0)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 3\)"):
        NGramLM(2).fit([0, 1, 5], 3)
    with pytest.raises(ValueError, match="need at least 3 tokens"):
        NGramLM(3).fit([0, 1], 3)
    with pytest.raises(ValueError, match="overflows int64"):
        NGramLM(12).fit(list(range(100)) * 2, 100)
    m = NGramLM(2).fit([0, 1, 2, 1, 0], 3)
    with pytest.raises(ValueError, match="at least two tokens"):
        m.log_probs([1])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        m.sample([0], 3, temperature=0)


def test_kneser_ney_prefers_versatile_continuations():
    # 'b' follows only 'a' (often); 'c' follows many different characters. After an unseen context,
    # Kneser-Ney's continuation counts rank 'c' above 'b' although 'b' is the more frequent character.
    seq = list("ab" * 30 + "dc" + "ec" + "fc" + "gc")
    tok = CharTokenizer.fit("abcdefgh")
    m = NGramLM(2).fit(tok.encode("".join(seq)), tok.vocab_size)
    d = m.distribution(tok.encode("h"))  # 'h' never seen: pure continuation unigram
    assert d[tok.stoi["c"]] > d[tok.stoi["b"]]
    add = NGramLM(1, "add_k").fit(tok.encode("".join(seq)), tok.vocab_size)
    assert add.distribution([])[tok.stoi["b"]] > add.distribution([])[tok.stoi["c"]]


def test_char_tokenizer_errors():
    with pytest.raises(ValueError, match="at least one character"):
        CharTokenizer.fit("")
    tok = CharTokenizer.fit("abc")
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the tokenizer's vocabulary: 'xy'"):
        tok.encode("axby")
    assert tok.decode(tok.encode("cab")) == "cab"


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_recurrent_generation_carries_state_exactly(kind):
    seed_everything(0)
    m = build_lm(LMConfig(kind, vocab_size=12, n_embd=16, n_layer=2)).eval()
    out = generate(m, [3, 1, 4], 20, greedy=True)
    seq = [3, 1, 4]
    for _ in range(20):  # recompute from scratch every step
        seq.append(int(m(torch.tensor([seq])).logits[0, -1].argmax()))
    assert out[0].tolist() == seq


def test_sampling_is_seeded_and_respects_top_k():
    seed_everything(0)
    m = build_lm(LMConfig("transformer", vocab_size=12, n_embd=16, n_head=2, block_size=16)).eval()
    a = generate(m, [1, 2], 30, temperature=1.5, top_k=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, generate(m, [1, 2], 30, greedy=True))  # top-1 sampling is greedy
    b1 = generate(m, [1, 2], 30, temperature=1.0, generator=torch.Generator().manual_seed(5))
    b2 = generate(m, [1, 2], 30, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(b1, b2)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate(m, [1], 3, temperature=-1)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        generate(m, [1], 3, top_p=0)
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        filter_logits(torch.zeros(2, 5), top_k=0)
    with pytest.raises(ValueError, match="empty prompt"):
        sample_text(m, CharTokenizer.fit("ab"), "")


def test_filter_logits_batched_top_p():
    z = torch.tensor([[4.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    kept = ~torch.isinf(filter_logits(z, top_p=0.6))
    assert kept.tolist()[0] == [True, False, False, False]
    assert kept[1].sum() == 3  # uniform: three quarters are needed to reach 0.6


def test_train_budget_stops_early_and_history_is_recorded(ids):
    seed_everything(0)
    m = build_lm(LMConfig("lstm", vocab_size=12, n_embd=16, block_size=16))
    hist = train_lm(m, ids[:2000], ids[2000:], LMTrainConfig(max_steps=1000, max_minutes=1e-9, batch_size=4), log=quiet)
    assert list(hist["step"]) == [1] and set(hist.columns) >= {"step", "lr", "train_loss", "val_loss", "elapsed_s"}


def test_a_time_budget_decays_the_rate_by_the_clock(ids):
    """Given more steps than the minutes allow, the cosine decay follows the clock: the last steps run near min_lr, not
    at the peak."""
    seed_everything(0)
    m = build_lm(LMConfig("lstm", vocab_size=12, n_embd=16, block_size=16))
    cfg = LMTrainConfig(
        max_steps=10**7, max_minutes=0.1, batch_size=4, lr=1e-2, min_lr=1e-3, warmup_steps=2, eval_every=10**6
    )
    hist = train_lm(m, ids[:2000], ids[2000:], cfg, log=quiet)
    # by steps alone it would still be at 1e-2
    assert hist["step"].iloc[-1] < cfg.max_steps and hist["lr"].iloc[-1] < 2e-3


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_lowers_held_out_loss(ids, precision):
    periodic = np.tile(np.arange(12), 300)  # perfectly predictable: the loss must fall far below log(12)
    seed_everything(0)
    m = build_lm(LMConfig("transformer", vocab_size=12, n_embd=32, n_head=2, block_size=16))
    seen = set()  # the dtypes a linear layer's outputs come in: bfloat16 only in bf16's training steps
    linear = next(x for x in m.modules() if isinstance(x, torch.nn.Linear))
    linear.register_forward_hook(lambda mod, inp, out: seen.add(out.dtype))
    hist = train_lm(
        m,
        periodic[:3000],
        periodic[3000:],
        LMTrainConfig(max_steps=60, batch_size=8, lr=3e-3, eval_every=20, precision=precision),
        log=quiet,
    )
    assert hist["val_loss"].iloc[-1] < 0.5 < math.log(12)
    assert (torch.bfloat16 in seen) == (precision == "bf16") and torch.float32 in seen
    assert all(p.dtype == torch.float32 for p in m.parameters())  # the weights stay in float32


def test_resume_with_a_different_model_is_a_named_error(ids, tmp_path):
    ck = tmp_path / "lm.safetensors"
    seed_everything(0)
    a = build_lm(LMConfig("gru", vocab_size=12, n_embd=16, block_size=16))
    train_lm(
        a, ids[:2000], ids[2000:], LMTrainConfig(max_steps=2, eval_every=2, batch_size=4, checkpoint=str(ck)), log=quiet
    )
    b = build_lm(LMConfig("gru", vocab_size=12, n_embd=32, block_size=16))
    with pytest.raises(CheckpointError, match="different config"):
        train_lm(
            b,
            ids[:2000],
            ids[2000:],
            LMTrainConfig(max_steps=4, batch_size=4, checkpoint=str(ck), resume=True),
            log=quiet,
        )


def test_scoring_and_conversion_errors():
    m = build_lm(LMConfig("transformer", vocab_size=12, n_embd=16, n_head=2, block_size=16, bias=False))
    with pytest.raises(ValueError, match="at least two tokens"):
        evaluate_nll(m, [1])
    with pytest.raises(ValueError, match="only models with bias=True"):
        to_gpt2(m)
    with pytest.raises(ValueError, match="non-empty text"):
        causal_lm_bpc(None, None, "")


def test_causal_lm_bpc_matches_our_scorer():
    text = "to be or not to be that is the question " * 10
    tok = CharTokenizer.fit(text)
    seed_everything(0)
    m = build_lm(LMConfig("transformer", vocab_size=tok.vocab_size, n_embd=16, n_head=2, block_size=32)).eval()

    class HFStyle:  # the slice of a transformers tokenizer that causal_lm_bpc uses
        def __call__(self, t, add_special_tokens=False, return_tensors="pt"):
            return {"input_ids": torch.tensor([tok.encode(t)])}

        def decode(self, ids):
            return tok.decode(ids)

    scores = causal_lm_bpc(to_gpt2(m), HFStyle(), text, context=32)
    nats, n = evaluate_nll(m, tok.encode(text), stride=16)  # causal_lm_bpc slides by half its context
    assert n == scores["tokens"] == len(text) - 1 and math.isclose(scores["nats"], nats, rel_tol=1e-5)
    assert math.isclose(scores["bpc"], nats / (len(text) - 1) / math.log(2), rel_tol=1e-5)
