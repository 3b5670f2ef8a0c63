"""The layer student: the teacher's layers it keeps, a vocabulary pruned to the in-domain text, a factorised embedding,
general distillation, and the choice of layers on validation."""

import numpy as np
import pytest
import torch
from conftest import tiny_bert
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ppt_book.distill import DistillConfig, choose_layers, general_distillation, intermediate_loss
from ppt_book.pretrained import load_minilm_tokenizer
from ppt_book.students import (
    LayerStudentForSequenceClassification,
    factorise_embedding,
    in_domain_vocab,
    prune_vocab,
    pruned_tokenizer,
    transformer_student,
)

IN_DOMAIN = [
    "a gorgeous, moving film about grief and the families we choose",
    "the plot is thin, but the performances carry it",
    "an overlong, self-indulgent mess with a terrific score",
    "funny, warm and smarter than it looks",
]


@pytest.fixture(scope="module")
def tok():
    return load_minilm_tokenizer()


@pytest.fixture(scope="module")
def teacher(tok):
    "A small random BERT classifier on MiniLM's vocabulary: four layers of width 32."
    return tiny_bert(len(tok), 4)


def test_pruned_tokenizer_encodes_in_domain_text_to_the_ids_the_full_one_maps_them_to(tok, tmp_path):
    keep = in_domain_vocab(tok, IN_DOMAIN)
    small = pruned_tokenizer(tok, keep)
    assert len(small) == len(keep) < len(tok) and keep == sorted(keep)
    for text in IN_DOMAIN:
        full, pruned = tok(text)["input_ids"], small(text)["input_ids"]
        assert [keep[i] for i in pruned] == full
    # saved and read back the usual way, it encodes the same
    small.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(IN_DOMAIN, padding=True)["input_ids"] == small(IN_DOMAIN, padding=True)["input_ids"]
    assert small.pad_token_id == keep.index(tok.pad_token_id) and small.decode(small("[CLS]")["input_ids"][1:-1])


def test_a_word_outside_the_domain_splits_into_kept_pieces_not_unk(tok):
    keep = in_domain_vocab(tok, IN_DOMAIN)
    small = pruned_tokenizer(tok, keep)
    pieces = small.tokenize("zyzzyva")
    assert "[UNK]" not in pieces and "".join(p.removeprefix("##") for p in pieces) == "zyzzyva"
    assert tok.convert_tokens_to_ids("zyzzyva") == tok.unk_token_id or "zyzzyva" not in small.get_vocab()


def test_min_count_keeps_fewer_ids_and_specials_always(tok):
    once, twice = in_domain_vocab(tok, IN_DOMAIN), in_domain_vocab(tok, IN_DOMAIN, min_count=2)
    assert set(twice) < set(once) and set(tok.all_special_ids) <= set(twice)
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        in_domain_vocab(tok, IN_DOMAIN, min_count=0)
    with pytest.raises(ValueError, match="special token"):
        pruned_tokenizer(tok, [i for i in once if i != tok.cls_token_id])


def test_a_pruned_student_answers_as_the_full_one_on_in_domain_text(tok, teacher):
    keep = in_domain_vocab(tok, IN_DOMAIN)
    full = transformer_student(teacher, (0, 1, 2, 3)).eval()
    pruned, small = prune_vocab(transformer_student(teacher, (0, 1, 2, 3)).eval(), tok, keep)
    assert pruned.config.vocab_size == len(keep) and pruned.get_input_embeddings().weight.shape[0] == len(keep)
    with torch.no_grad():
        a = full(**tok(IN_DOMAIN, padding=True, return_tensors="pt")).logits
        b = pruned(**small(IN_DOMAIN, padding=True, return_tensors="pt")).logits
        c = teacher(**tok(IN_DOMAIN, padding=True, return_tensors="pt")).logits
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def test_transformer_student_keeps_the_listed_layers_in_order(teacher):
    student = transformer_student(teacher, (3, 1))
    assert student.config.num_hidden_layers == 2
    for i, j in enumerate((3, 1)):
        a, b = student.bert.encoder.layer[i].state_dict(), teacher.bert.encoder.layer[j].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    for bad in ((), (1, 1), (4,), (-1,)):
        with pytest.raises(ValueError, match="distinct teacher layers in 0..3"):
            transformer_student(teacher, bad)


def test_factorised_embedding_is_the_best_rank_r_product_and_loads_back(tok, teacher, tmp_path):
    keep = in_domain_vocab(tok, IN_DOMAIN)
    student, small = prune_vocab(transformer_student(teacher, (0, 2)), tok, keep)
    E = student.get_input_embeddings().weight.detach().clone()
    rank = 8
    fact = factorise_embedding(student, rank).eval()
    assert isinstance(fact, LayerStudentForSequenceClassification) and fact.config.embedding_rank == rank
    # Eckart-Young: the error of the best rank-r approximation is the norm of the singular values it drops
    s = torch.linalg.svdvals(E)
    err = torch.linalg.norm(fact.get_input_embeddings().weight.detach() - E)
    assert torch.isclose(err, torch.linalg.norm(s[rank:]), rtol=1e-3)
    n_full = sum(p.numel() for p in student.parameters())
    n_fact = sum(p.numel() for p in fact.parameters())
    assert n_full - n_fact == E.numel() - (E.shape[0] * rank + rank * E.shape[1])
    fact.config.id2label, fact.config.label2id = {0: "rotten", 1: "fresh"}, {"rotten": 0, "fresh": 1}
    fact.save_pretrained(tmp_path)
    small.save_pretrained(tmp_path)
    back = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    x = small(IN_DOMAIN, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(back(**x).logits, fact(**x).logits, atol=1e-6)
    with pytest.raises(ValueError, match="rank must be between 1 and"):
        factorise_embedding(student, 0)


def test_general_distillation_brings_the_students_insides_to_the_teachers(tok, teacher):
    keep = in_domain_vocab(tok, IN_DOMAIN)
    torch.manual_seed(1)
    student, small = prune_vocab(transformer_student(teacher, (0, 3)), tok, keep)
    for p in student.bert.encoder.parameters():  # start far from the teacher
        p.data.add_(0.5 * torch.randn_like(p))
    ids = torch.as_tensor(keep)

    def loss():
        x = small(IN_DOMAIN, padding=True, return_tensors="pt")
        for m in (student, teacher):
            m.set_attn_implementation("eager")
        with torch.no_grad():
            s = student(**x, output_hidden_states=True, output_attentions=True)
            t = teacher(
                input_ids=ids[x["input_ids"]],
                attention_mask=x["attention_mask"],
                output_hidden_states=True,
                output_attentions=True,
            )
        return float(intermediate_loss(s, t, [1, 3], torch.nn.Identity(), x["attention_mask"]))

    before = loss()
    general_distillation(student, small, teacher, IN_DOMAIN * 8, steps=30, lr=3e-3, batch_size=8, teacher_ids=keep)
    assert loss() < 0.5 * before
    with pytest.raises(ValueError, match="at least one step"):
        general_distillation(student, small, teacher, IN_DOMAIN, steps=0)


def test_choose_layers_keeps_the_candidate_validation_prefers(tok, teacher):
    texts = [f"{w} film number {i}" for i, w in enumerate(["great", "awful"] * 20)]
    labels = [i % 2 for i in range(40)]
    val = {"text": texts[:10], "label": labels[:10]}
    logits = np.array([[-1.0, 1.0] if y == 0 else [1.0, -1.0] for y in labels])
    best, rows = choose_layers(
        teacher,
        tok,
        [(0, 1), (2, 3), (0, 3)],
        texts,
        logits,
        labels,
        val,
        DistillConfig(lr=1e-3, num_epochs=1, batch_size=8, patience=0),
    )
    assert [r["layers"] for r in rows] == [(0, 1), (2, 3), (0, 3)]
    top = max(r["val_acc"] for r in rows)
    assert best == next(r["layers"] for r in rows if r["val_acc"] == top)  # the first of the best on a tie
    with pytest.raises(ValueError, match="at least one candidate"):
        choose_layers(teacher, tok, [], texts, logits, labels, val, DistillConfig())
