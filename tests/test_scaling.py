"""ppt_book.scaling beyond the chapter: the GPU check's GPT is our Transformer, the script entry point, bad input."""

import importlib.util
import json
import subprocess
import sys
import time

import pytest
import torch

from ppt_book.core import count_parameters, seed_everything
from ppt_book.lm import LMConfig, TransformerLM
from ppt_book.scaling import (
    PEAK_BF16_TFLOPS,
    autocast,
    batch_gradients,
    fit_scaling_law,
    flops_per_token,
    measure_matmul_flops,
    memory_model,
    saved_activation_bytes,
    set_activation_checkpointing,
    train_steps,
)

CFG = LMConfig("transformer", vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32)


def batch(B=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(40, (B, 17), generator=g)
    return x[:, :-1].contiguous(), x[:, 1:].contiguous()


@pytest.fixture
def gpu_check(root):
    "benchmarks/gpu_check.py, standalone where the package is not installed, loaded as a module."
    spec = importlib.util.spec_from_file_location("gpu_check", root / "benchmarks" / "gpu_check.py")
    gc = importlib.util.module_from_spec(spec)
    # dataclasses look their module up there
    sys.modules["gpu_check"] = gc
    spec.loader.exec_module(gc)
    return gc


def test_gpu_check_gpt_is_our_transformer(gpu_check):
    gc = gpu_check
    seed_everything(0)
    ours = TransformerLM(CFG).eval()
    theirs = gc.GPT(gc.GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()
    rename = {"h.": "blocks.", "mlp.c_fc.": "mlp.0.", "mlp.c_proj.": "mlp.2."}
    state = {}
    for k, v in ours.state_dict().items():
        for a, b in rename.items():
            k = k.replace(a, b)
        state[k] = v
    theirs.load_state_dict(state, strict=True)
    x, y = batch()
    assert torch.allclose(ours(x, y).loss, theirs(x, y), atol=1e-6)
    assert flops_per_token(ours) == gc.flops_per_token(theirs.matmul_params(), theirs.cfg, 16)


def test_gpu_check_keeps_scalings_peaks_memory_model_and_matmul_timer(gpu_check, monkeypatch):
    "The GPU script runs where ppt_book is not installed, so it keeps copies; these must agree with the library."
    gc = gpu_check
    assert gc.PEAK_BF16 == {k: v * 1e12 for k, v in PEAK_BF16_TFLOPS.items()}
    model = TransformerLM(CFG)
    theirs = gc.memory_estimate_bytes(count_parameters(model), gc.GPTConfig(**gpt_shape(CFG)), 8, 16, act_bytes=2)
    assert theirs == memory_model(model, 8, 16, act_bytes=2)
    # the same clock for both: each reading 1 ms later than the one before, so both timers see the same intervals
    ticks = iter(range(10_000))
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks) / 1000)
    theirs = gc.matmul_tflops(torch.device("cpu"), 16, torch.float32, repeats=5) * 1e12
    assert theirs == pytest.approx(measure_matmul_flops(16, torch.float32, "cpu", repeats=5), rel=1e-9)


def gpt_shape(cfg: LMConfig) -> dict:
    return {k: getattr(cfg, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")}


@pytest.mark.parametrize(
    "cfg",
    [CFG, LMConfig("transformer", vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)],
    ids=["tiny", "chapter-20-shape"],
)
def test_memory_model_against_measured_activations(cfg):
    "The estimate of what autograd saves is within 10% of the bytes it saves (measured here: 3-4% under)."
    seed_everything(0)
    m = TransformerLM(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(cfg.vocab_size, (8, cfg.block_size + 1), generator=g)
    measured = saved_activation_bytes(m, x[:, :-1].contiguous(), x[:, 1:].contiguous())
    est = memory_model(m, 8)
    assert 0.9 < est["activations"] / measured < 1.1
    # fp32 weights: 4 bytes for each parameter, counted by hand
    assert est["weights"] == 4 * sum(p.numel() for p in m.parameters())


def test_activation_memory_scales_with_batch_and_checkpointing_cuts_it():
    seed_everything(0)
    m = TransformerLM(CFG)
    small, large = saved_activation_bytes(m, *batch(2)), saved_activation_bytes(m, *batch(8))
    # activations are linear in the batch
    assert 3.5 < large / small < 4.5
    assert saved_activation_bytes(set_activation_checkpointing(m), *batch(8)) < large / 2


def test_checkpointed_training_gives_the_same_gradients():
    seed_everything(0)
    m = TransformerLM(CFG)
    x, y = batch(4)
    plain = batch_gradients(m, x, y)
    ckpt = batch_gradients(set_activation_checkpointing(m), x, y)
    assert all(torch.allclose(plain[k], ckpt[k], atol=1e-6) for k in plain)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        autocast("cpu", "fp8")
    with pytest.raises(ValueError, match="does not split into 3 equal micro-batches"):
        train_steps(TransformerLM(CFG), [batch(4)], accum_steps=3)
    with pytest.raises(ValueError, match="at least 4 sizes"):
        fit_scaling_law([1e5, 1e6, 1e7], [3.0, 2.5, 2.2])


def test_bf16_training_lowers_the_loss_like_fp32():
    x, y = batch(8)
    curves = {}
    for p in ("fp32", "bf16"):
        seed_everything(0)
        curves[p] = train_steps(TransformerLM(CFG), [(x, y)] * 15, p, lr=3e-3)
    assert curves["bf16"][-1] < curves["bf16"][0] - 0.3
    assert max(abs(a - b) for a, b in zip(curves["fp32"], curves["bf16"])) < 0.1


def test_script_entry_point_single_process_and_errors(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ppt_book.scaling",
            "--steps",
            "2",
            "--global-batch",
            "4",
            "--n-layer",
            "1",
            "--n-embd",
            "16",
            "--n-head",
            "2",
            "--block-size",
            "8",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings["world_size"] == 1 and timings["steps"] == 2 and timings["tokens_per_s"] > 0
    assert (tmp_path / "weights.safetensors").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "ppt_book.scaling", "--fsdp", "--steps", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "--fsdp needs at least 2 processes" in bad.stderr
