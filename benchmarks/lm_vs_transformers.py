"""Training throughput: our TransformerLM vs transformers' GPT2LMHeadModel of the same shape, on CPU, one process.

    python benchmarks/lm_vs_transformers.py            # nanoGPT's CPU shape: 4 layers x 128, block 64, batch 12
    python benchmarks/lm_vs_transformers.py --quick    # CI smoke size

Both models start from the same weights (ours copied into GPT-2 with `to_gpt2`), see the same batches of the Shakespeare
training plays in the same order, and use the same optimizer (AdamW, lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on
every parameter) and gradient clipping. Timed rounds alternate between the two so that machine noise hits both;
tokens_per_s is the median over rounds, after warm-up steps. Because the work is the same, the final training losses
must agree closely: that is printed as a check. The last line is the benchmark JSON line (benchmarks/README.md).
"""

import copy
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers
from _common import emit, parser

from ppt_book.core import count_parameters, seed_everything
from ppt_book.corpora import shakespeare_split
from ppt_book.lm import CharTokenizer, LMConfig, TransformerLM, get_batch, to_gpt2
from ppt_book.train import optimizer_step


def make_step(model, opt, hf: bool):
    "One training step of either model, through the book's optimizer_step, so that only the models differ."
    params = list(model.parameters())

    def forward(part):
        x, y = part
        if not hf:
            return model(x, y).loss
        # the loss from its logits, on exactly our targets (its `labels` would shift and drop one)
        logits = model(input_ids=x).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))

    def step(x, y):
        return optimizer_step(opt, forward, [(x, y)], params, max_grad_norm=1.0)

    return step


def headline(line: dict) -> dict:
    "The front page's row: training tokens per second against GPT2LMHeadModel."
    ours, peer, ratio = line["ours"], line["peer"], line["ratio"]
    return {
        "chapter": "20_language_models",
        "claim": "Transformer LM training speed vs GPT2LMHeadModel, same shape",
        "ours": f"{ours['tokens_per_s']:,.0f} tokens/s",
        "peer": f"{peer['tokens_per_s']:,.0f} tokens/s",
        "comparison": f"{ratio['tokens_per_s']:.2f}x, equal losses",
    }


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per model (alternating)")
    p.add_argument("--steps", type=int, default=None, help="steps per round")
    p.add_argument(
        "--compile",
        action="store_true",
        help="also time ours through torch.compile (compiled during the warm-up steps); "
        "the JSON line's `ours` is then the compiled model and `ours_eager` the plain one",
    )
    args = p.parse_args(argv)
    transformers.logging.set_verbosity_error()
    rounds = args.rounds or (2 if args.quick else 5)
    steps = args.steps or (3 if args.quick else 40)
    warmup = 2 if args.quick else 10
    shape = (
        dict(n_layer=1, n_head=2, n_embd=32, block_size=32)
        if args.quick
        else dict(n_layer=4, n_head=4, n_embd=128, block_size=64)
    )
    batch = 4 if args.quick else 12
    text = shakespeare_split()["train"][: 200_000 if args.quick else None]
    tok = CharTokenizer.fit(text)
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    seed_everything(0)
    cfg = LMConfig("transformer", vocab_size=tok.vocab_size, **shape)
    ours = TransformerLM(cfg)
    theirs = to_gpt2(ours)  # same weights
    theirs.train()
    print(
        f"{count_parameters(ours):,} parameters, batch {batch} x {cfg.block_size} tokens, attention in transformers: "
        f"{theirs.config._attn_implementation}",
        flush=True,
    )
    g = torch.Generator().manual_seed(0)
    n_total = warmup + rounds * steps
    batches = [get_batch(data, cfg.block_size, batch, g) for _ in range(n_total)]
    opt_kw = dict(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    runs = {
        "ours": (make_step(ours.train(), torch.optim.AdamW(ours.parameters(), **opt_kw), False), batches),
        "peer": (make_step(theirs, torch.optim.AdamW(theirs.parameters(), **opt_kw), True), batches),
    }
    if args.compile:
        twin = copy.deepcopy(ours)  # the same weights again, for the compiled run
        runs["ours_compiled"] = (
            make_step(torch.compile(twin.train()), torch.optim.AdamW(twin.parameters(), **opt_kw), False),
            batches,
        )
    t_warm = {}
    losses, rates = {k: [] for k in runs}, {k: [] for k in runs}
    for name, (step, bs) in runs.items():
        t0 = time.perf_counter()
        for x, y in bs[:warmup]:
            losses[name].append(step(x, y))
        t_warm[name] = time.perf_counter() - t0  # the compiled run compiles here
    for r in range(rounds):
        for name, (step, bs) in runs.items():
            chunk = bs[warmup + r * steps : warmup + (r + 1) * steps]
            t0 = time.perf_counter()
            for x, y in chunk:
                losses[name].append(step(x, y))
            rates[name].append(len(chunk) * batch * cfg.block_size / (time.perf_counter() - t0))
    same = abs(losses["ours"][-1] - losses["peer"][-1])
    print(
        f"first losses {losses['ours'][0]:.4f} / {losses['peer'][0]:.4f}; after {n_total} steps "
        f"{losses['ours'][-1]:.4f} / {losses['peer'][-1]:.4f} (|difference| {same:.2e})",
        flush=True,
    )
    out = {}
    for name in runs:
        out[name] = {
            "tokens_per_s": statistics.median(rates[name]),
            "tokens_per_s_all_rounds": rates[name],
            "final_train_loss": losses[name][-1],
            "params": count_parameters(ours),
            "warmup_s": t_warm[name],
        }
    if args.compile:
        print(
            f"compiled: final loss {losses['ours_compiled'][-1]:.4f} (|difference| from eager "
            f"{abs(losses['ours_compiled'][-1] - losses['ours'][-1]):.2e}); warm-up with compile "
            f"{t_warm['ours_compiled']:.1f} s",
            flush=True,
        )
    best = out["ours_compiled"] if args.compile else out["ours"]
    emit(
        "lm_vs_transformers",
        best,
        out["peer"],
        **({"ours_eager": out["ours"]} if args.compile else {}),
        compiled=args.compile,
        steps=n_total,
        batch=batch,
        block_size=cfg.block_size,
        shape=shape,
        quick=args.quick,
        attn_implementation=theirs.config._attn_implementation,
        note="same weights, batches, optimizer; median tokens/s over alternating timed rounds",
        save=args.save,
        headline=headline,
    )


if __name__ == "__main__":
    main()
