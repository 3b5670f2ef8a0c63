"""GPU check: training throughput, MFU and memory of a GPT-2-small-shaped model and a MiniLM fine-tuning step.

Runs on one CUDA GPU with nothing but torch and transformers (random-initialised models of the real
shapes, random token ids: this measures speed, not quality). `--dry-run` runs tiny sizes on the CPU so
that CI checks the script end to end. Prints a table, then as its last line one JSON object, and writes
the same object to `<out>/gpu-<date>.json` (with the GPU, driver, software versions and date).

    bash benchmarks/gpu_check.sh                 # on a CUDA machine: results in benchmarks/results/
    bash benchmarks/gpu_check.sh --dry-run       # anywhere: tiny sizes on the CPU, results in a temp folder

FLOPs per token follow PaLM's accounting (as nanoGPT's estimate_mfu): 6N + 12·L·d·T, with N the
parameters that take part in matrix products (token embedding counted once, as the tied output layer;
position embedding excluded). MFU is quoted against the datasheet dense bf16 peak and against a large
bf16 matrix product measured on the same device.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

# Published dense bf16 peaks (no sparsity), FLOP/s: ppt_book.scaling.PEAK_BF16_TFLOPS (a test pins them equal).
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12, "L4": 121e12}


@dataclasses.dataclass
class GPTConfig:
    vocab_size: int = 50304  # GPT-2's 50,257 padded to a multiple of 64 for the tensor cores
    block_size: int = 1024  # context length T
    n_layer: int = 12  # L
    n_head: int = 12
    n_embd: int = 768  # d
    dropout: float = 0.0
    bias: bool = True


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 × (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(cfg.n_embd, bias=cfg.bias), CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias),
            nn.GELU(approximate="tanh"),
            nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias),
        )

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # pre-LayerNorm
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    "A pre-LayerNorm GPT decoder with tied embeddings (the shape of GPT-2 small by default)."

    def __init__(self, cfg: GPTConfig, activation_checkpointing: bool = False):
        super().__init__()
        self.cfg, self.activation_checkpointing = cfg, activation_checkpointing
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, cfg.n_embd), nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.blocks:
            x = (
                checkpoint(block, x, use_reentrant=False)
                if self.activation_checkpointing and self.training
                else block(x)
            )
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))

    def matmul_params(self) -> int:
        "Parameters in matrix products: all, minus the position embedding (the tied token embedding counts once)."
        return sum(p.numel() for p in self.parameters()) - self.wpe.weight.numel()


def flops_per_token(n_matmul_params: int, cfg: GPTConfig, seq_len: int) -> float:
    "Training FLOPs per token: 6N + 12·L·d·T (forward + backward, attention scores included)."
    return 6 * n_matmul_params + 12 * cfg.n_layer * cfg.n_embd * seq_len


def memory_estimate_bytes(n_params: int, cfg: GPTConfig, batch: int, seq: int, act_bytes: int = 2) -> dict:
    """Estimated training memory in bytes: fp32 weights, gradients, AdamW state, and activations (`act_bytes` per value:
    2 under bf16 autocast), the formula of ppt_book.scaling.memory_model (a test pins them equal)."""
    acts = cfg.n_layer * 16 * batch * seq * cfg.n_embd * act_bytes + 2 * batch * seq * cfg.vocab_size * 4
    n = n_params
    return {"weights": 4 * n, "gradients": 4 * n, "adamw": 8 * n, "activations": acts, "total": 16 * n + acts}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(model, make_batch, device, steps: int, warmup: int, dtype, hf: bool = False) -> dict:
    "Median seconds per optimizer step after warm-up, and the CUDA peak memory."
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=device.type == "cuda")
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], None
    for i in range(warmup + steps):
        X, y = make_batch()
        sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(X, labels=y).loss if hf else model(X, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else None
    return {"step_s": statistics.median(times), "loss": float(loss.detach()), "peak_mem_bytes": peak}


def matmul_tflops(device, n: int, dtype, repeats: int = 10, warmup: int = 3) -> float:
    """Measured rate of an n×n by n×n matrix product, TFLOP/s: the fastest of `repeats` after `warmup` products, as
    ppt_book.scaling.measure_matmul_flops measures it (a test pins them equal)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for i in range(warmup + repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times) / 1e12


def gpu_info(device) -> dict:
    if device.type != "cuda":
        return {"gpu": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)", "driver": None}
    name = torch.cuda.get_device_name(device)
    try:
        driver = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            .stdout.strip()
            .splitlines()[0]
        )
    except (OSError, IndexError, subprocess.SubprocessError):
        driver = None
    props = torch.cuda.get_device_properties(device)
    return {
        "gpu": name,
        "driver": driver,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "sm_count": props.multi_processor_count,
        "cuda": torch.version.cuda,
    }


def datasheet_peak(gpu_name: str) -> float | None:
    for key, peak in PEAK_BF16.items():
        if key in gpu_name.upper():
            return peak
    return None


def headline(result: dict) -> dict:
    "The front page's row: model FLOPs utilisation of GPT-2-small training, and its speed against GPT2LMHeadModel."
    compiled = result.get("gpt125m_compiled_mfu")
    return {
        "chapter": "50_scaling",
        "claim": f"GPT-2-small training on {result.get('gpu', 'a GPU')}, bf16",
        "ours": f"MFU {100 * result['gpt125m_bf16_mfu']:.1f}% eager"
        + (f", {100 * compiled:.1f}% compiled" if compiled else ""),
        "peer": "datasheet bf16 peak",
        "comparison": f"{result.get('ratio_ours_eager_vs_hf', float('nan')):.2f}x GPT2LMHeadModel's tokens/s",
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (CI)")
    p.add_argument(
        "--out", help="folder for gpu-<date>.json (default: benchmarks/results on CUDA, a temp folder in dry-run)"
    )
    p.add_argument("--commit", default=os.environ.get("GIT_COMMIT"), help="git commit of the code measured")
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration")
    args = p.parse_args(argv)

    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here; use --dry-run to check the script on the CPU")
    device = torch.device("cpu" if dry else "cuda")
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bf16 = torch.bfloat16
    steps, warmup = args.steps or (2 if dry else 10), 1 if dry else 3
    cfg = GPTConfig(vocab_size=512, block_size=64, n_layer=2, n_head=2, n_embd=64) if dry else GPTConfig()
    seq = cfg.block_size
    batches = [2, 4] if dry else [8, 16, 32]
    info = gpu_info(device)
    started = time.perf_counter()
    rows = []

    def batch_fn(B):
        def make():
            X = torch.randint(0, cfg.vocab_size, (B, seq), device=device)
            return X, torch.roll(X, -1, dims=1)

        return make

    measured_peak = matmul_tflops(device, 512 if dry else 8192, bf16, repeats=3 if dry else 10) * 1e12
    peak = None if dry else datasheet_peak(info["gpu"])
    model = GPT(cfg).to(device)
    n_matmul = model.matmul_params()
    n_params = sum(p.numel() for p in model.parameters())
    fpt = flops_per_token(n_matmul, cfg, seq)

    def add(name, B, r, compiled=False):
        tps = B * seq / r["step_s"]
        row = {
            "config": name,
            "batch": B,
            "seq": seq,
            "tokens_per_s": tps,
            "step_ms": 1e3 * r["step_s"],
            "tflops": tps * fpt / 1e12,
            "mfu_datasheet": tps * fpt / peak if peak else None,
            "mfu_measured_matmul": tps * fpt / measured_peak,
            "peak_mem_gib": (r["peak_mem_bytes"] or 0) / 2**30 or None,
            "loss": r["loss"],
        }
        rows.append(row)
        return row

    for B in batches:  # eager bf16 autocast, throughput vs batch size
        add("gpt_eager_bf16", B, time_training(model, batch_fn(B), device, steps, warmup, bf16))
    best_B = batches[-1]
    fp32 = add(
        "gpt_eager_fp32", best_B, time_training(model, batch_fn(best_B), device, max(2, steps // 2), warmup, None)
    )

    model_ckpt = GPT(cfg, activation_checkpointing=True).to(device)
    ckpt = add(
        "gpt_eager_bf16_act_ckpt", best_B, time_training(model_ckpt, batch_fn(best_B), device, steps, warmup, bf16)
    )
    del model_ckpt

    compiled_rows, compile_s, compile_error = [], None, None
    if dry:
        compile_error = "skipped in --dry-run"
    else:
        for B in [best_B, 2 * best_B]:  # compiled at the eager best batch and at twice it
            try:
                torch._dynamo.reset()  # a fresh, static-shape compilation per batch size
                t0 = time.perf_counter()
                cmodel = torch.compile(GPT(cfg).to(device))
                time_training(cmodel, batch_fn(B), device, 1, 1, bf16)  # compilation happens here
                compile_s = time.perf_counter() - t0
                compiled_rows.append(
                    add("gpt_compiled_bf16", B, time_training(cmodel, batch_fn(B), device, steps, warmup, bf16), True)
                )
                del cmodel
            except Exception as e:  # report, don't hide: the eager numbers still stand
                compile_error = f"{type(e).__name__}: {e}"[:500]
    compiled_row = max(compiled_rows, key=lambda r: r["tokens_per_s"]) if compiled_rows else None

    try:  # the peer: transformers' GPT2LMHeadModel of the same shape, same batch and optimizer
        from transformers import GPT2Config, GPT2LMHeadModel

        hf = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=cfg.vocab_size,
                n_positions=cfg.block_size,
                n_embd=cfg.n_embd,
                n_layer=cfg.n_layer,
                n_head=cfg.n_head,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
                bos_token_id=None,
                eos_token_id=None,
                attn_implementation="sdpa",
            )
        ).to(device)

        def hf_batch(B=best_B):
            X = torch.randint(0, cfg.vocab_size, (B, seq), device=device)
            return X, X  # transformers shifts labels inside

        hf_row = add("hf_gpt2_eager_bf16", best_B, time_training(hf, hf_batch, device, steps, warmup, bf16, hf=True))
        del hf
    except Exception as e:
        hf_row = None
        print(f"transformers GPT2 peer failed: {type(e).__name__}: {e}", file=sys.stderr)

    # Fine-tuning step of MiniLM (all-MiniLM-L6-v2's shape: BERT, 6 layers, 384 hidden) for classification.
    from transformers import BertConfig, BertForSequenceClassification

    bcfg = BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=2 if dry else 6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
        num_labels=2,
        attn_implementation="sdpa",
    )
    bert = BertForSequenceClassification(bcfg).to(device)
    fB, fT = (4, 32) if dry else (64, 128)

    def bert_batch():
        return torch.randint(0, bcfg.vocab_size, (fB, fT), device=device), torch.randint(0, 2, (fB,), device=device)

    class BertStep(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, X, y):
            return self.m(input_ids=X, labels=y).loss

    r = time_training(BertStep(bert), bert_batch, device, steps, warmup, bf16)
    minilm = {
        "batch": fB,
        "seq": fT,
        "samples_per_s": fB / r["step_s"],
        "step_ms": 1e3 * r["step_s"],
        "peak_mem_gib": (r["peak_mem_bytes"] or 0) / 2**30 or None,
        "params": sum(p.numel() for p in bert.parameters()),
    }

    est = memory_estimate_bytes(n_params, cfg, best_B, seq)
    eager_best = [r for r in rows if r["config"] == "gpt_eager_bf16" and r["batch"] == best_B][0]
    result = {
        "benchmark": "gpu_check",
        "dry_run": dry,
        "date": dt.date.today().isoformat(),
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **info,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "python": platform.python_version(),
        "commit": args.commit,
        "peak_bf16_datasheet_tflops": peak / 1e12 if peak else None,
        "peak_bf16_measured_matmul_tflops": measured_peak / 1e12,
        "gpt_config": dataclasses.asdict(cfg),
        "gpt_params": n_params,
        "gpt_matmul_params": n_matmul,
        "gpt_flops_per_token": fpt,
        "gpt125m_bf16_tokens_per_s": eager_best["tokens_per_s"],
        "gpt125m_bf16_mfu": eager_best["mfu_datasheet"],
        "gpt125m_bf16_mfu_vs_measured_matmul": eager_best["mfu_measured_matmul"],
        "gpt125m_compiled_tokens_per_s": compiled_row["tokens_per_s"] if compiled_row else None,
        "gpt125m_compiled_mfu": compiled_row["mfu_datasheet"] if compiled_row else None,
        "gpt125m_compiled_mfu_vs_measured_matmul": compiled_row["mfu_measured_matmul"] if compiled_row else None,
        "gpt125m_compiled_batch": compiled_row["batch"] if compiled_row else None,
        "compile_s": compile_s,
        "compile_error": compile_error,
        "hf_gpt2_bf16_tokens_per_s": hf_row["tokens_per_s"] if hf_row else None,
        "ratio_ours_eager_vs_hf": eager_best["tokens_per_s"] / hf_row["tokens_per_s"] if hf_row else None,
        "fp32_tokens_per_s": fp32["tokens_per_s"],
        "bf16_speedup_vs_fp32": eager_best["tokens_per_s"] / fp32["tokens_per_s"],
        "act_ckpt_mem_saved_frac": (1 - ckpt["peak_mem_gib"] / eager_best["peak_mem_gib"])
        if ckpt["peak_mem_gib"]
        else None,
        "act_ckpt_time_cost_frac": ckpt["step_ms"] / eager_best["step_ms"] - 1,
        "memory_estimate_gib": {k: v / 2**30 for k, v in est.items()},
        "memory_measured_peak_gib": eager_best["peak_mem_gib"],
        "minilm_finetune": minilm,
        "rows": rows,
        "wall_s": time.perf_counter() - started,
    }

    hdr = (
        f"{'config':26s} {'B':>3s} {'tok/s':>10s} {'step ms':>8s} "
        f"{'TFLOP/s':>8s} {'MFU':>6s} {'MFU*':>6s} {'peak GiB':>8s}"
    )
    print(
        f"GPU check on {info['gpu']} (driver {info['driver']}), torch {torch.__version__}"
        + ("  [DRY RUN: tiny sizes on CPU]" if dry else "")
    )
    print(
        f"GPT: {n_params / 1e6:.1f}M params, {fpt / 1e6:.0f} MFLOP/token; measured bf16 matmul "
        f"{measured_peak / 1e12:.0f} TFLOP/s" + (f", datasheet {peak / 1e12:.0f}" if peak else "")
    )
    print(hdr)
    for r in rows:
        mfu = f"{100 * r['mfu_datasheet']:5.1f}%" if r["mfu_datasheet"] else "   n/a"
        print(
            f"{r['config']:26s} {r['batch']:3d} {r['tokens_per_s']:10.0f} {r['step_ms']:8.1f} {r['tflops']:8.1f} "
            f"{mfu} {100 * r['mfu_measured_matmul']:5.1f}% {r['peak_mem_gib'] or 0:8.2f}"
        )
    print("MFU: against the datasheet bf16 peak; MFU*: against the measured matmul rate.")
    print(
        f"MiniLM fine-tuning step: {minilm['samples_per_s']:.0f} samples/s at batch {fB}x{fT}, peak "
        f"{minilm['peak_mem_gib'] or 0:.2f} GiB"
    )
    if compile_error:
        print(f"torch.compile: {compile_error}")

    if not dry:
        # a dry run has no datasheet peak, so no MFU: it never feeds the front page
        result["headline"] = headline(result)
    out = Path(args.out) if args.out else (Path(tempfile.mkdtemp()) if dry else Path(__file__).parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu-{result['date']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"written {path}")
    keys = [
        "benchmark",
        "gpu",
        "gpt125m_bf16_tokens_per_s",
        "gpt125m_bf16_mfu",
        "gpt125m_compiled_mfu",
        "gpt125m_compiled_tokens_per_s",
        "gpt125m_compiled_batch",
        "dry_run",
        "date",
    ]
    print(json.dumps({k: result[k] for k in keys}))
    return result


if __name__ == "__main__":
    main()
