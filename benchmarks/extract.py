"""Extraction throughput on the embedded model: veracity vs Hugging Face, TransformerLens, nnsight.

Run: ``python -m benchmarks.extract [--n-texts 512] [--batch-size 32] [--repeats 3]``.
Prints a table of real (unpadded) tokens per second. Every method sees the same texts in the same
length-sorted, right-padded batches, and keeps the same thing: the last-token residual stream of
each requested layer. A script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from veracity.data import load_statements
from veracity.hooks import extract, load_model
from veracity.hooks.extract import right_pad, tokenize


def batches(model, texts, batch_size):
    rows = sorted(tokenize(model, texts), key=len, reverse=True)
    return [right_pad(rows[i : i + batch_size], model.tokenizer.pad_token_id, model.device)
            for i in range(0, len(rows), batch_size)]


def last_rows(hidden, mask):
    return hidden[torch.arange(hidden.shape[0]), mask.sum(1) - 1]


def bare_forward(model, prepared, layers):
    for ids, mask in prepared:
        model.hf_model(input_ids=ids, attention_mask=mask, use_cache=False)


def hf_hidden_states(model, prepared, layers):
    for ids, mask in prepared:
        hidden = model.hf_model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=True).hidden_states
        torch.stack([last_rows(hidden[layer + 1], mask) for layer in layers], 1)


def tl_run_with_cache(bridge_model, prepared, layers):
    names = {f"blocks.{layer}.hook_resid_post" for layer in layers}
    for ids, mask in prepared:
        _, cache = bridge_model.module.run_with_cache(ids, attention_mask=mask, names_filter=lambda n: n in names)
        torch.stack([last_rows(cache[f"blocks.{layer}.hook_resid_post"], mask) for layer in layers], 1)


def nnsight_save(nn_model, prepared, layers):
    blocks = nn_model.module.model.layers
    for ids, mask in prepared:
        saved = []  # filled inside the trace (nnsight runs the body itself)
        with nn_model.module.trace({"input_ids": ids, "attention_mask": mask}):
            for layer in layers:
                saved.append(blocks[layer].output.save())
        torch.stack([last_rows(s[0] if isinstance(s, tuple) else s, mask) for s in saved], 1)


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=512, help="city statements to run (default 512)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats; the best is kept (default 3)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    texts = load_statements("cities").statements[: args.n_texts]
    hf = load_model("smollm2-135m", backend="hf", device="cpu")
    tl = load_model("smollm2-135m", backend="transformer_lens", device="cpu")
    nn_model = load_model("smollm2-135m", backend="nnsight", device="cpu")
    prepared = batches(hf, texts, args.batch_size)
    n_tokens = sum(int(mask.sum()) for _, mask in prepared)
    every, half = list(range(hf.n_layers)), list(range(15))
    rows = [
        ("HF bare forward (logits, no hidden states)", lambda: bare_forward(hf, prepared, every)),
        ("HF output_hidden_states (all layers)", lambda: hf_hidden_states(hf, prepared, every)),
        ("veracity extract, all layers", lambda: extract(hf, texts, "all", batch_size=args.batch_size, progress=False)),
        ("veracity extract, layers 0-14", lambda: extract(hf, texts, half, batch_size=args.batch_size, progress=False)),
        ("veracity extract, layers 0-14, nnsight backend",
         lambda: extract(nn_model, texts, half, batch_size=args.batch_size, progress=False)),
        ("TransformerLens run_with_cache, resid_post 0-29", lambda: tl_run_with_cache(tl, prepared, every)),
        ("TransformerLens run_with_cache, resid_post 0-14", lambda: tl_run_with_cache(tl, prepared, half)),
        ("nnsight trace, save layers 0-29", lambda: nnsight_save(nn_model, prepared, every)),
        ("nnsight trace, save layers 0-14", lambda: nnsight_save(nn_model, prepared, half)),
    ]
    for _, fn in rows[:1]:
        timed(fn, 1)  # warm-up
    seconds = {name: timed(fn, args.repeats) for name, fn in rows}
    base = seconds["HF output_hidden_states (all layers)"]
    bare = seconds["HF bare forward (logits, no hidden states)"]
    print(f"SmolLM2-135M-Instruct, {len(texts)} texts, {n_tokens} tokens, batch {args.batch_size}, "
          f"{torch.get_num_threads()} CPU threads, best of {args.repeats}\n")
    print("| method | tokens/s | vs HF output_hidden_states | vs bare forward |\n|---|---:|---:|---:|")
    for name, secs in seconds.items():
        print(f"| {name} | {n_tokens / secs:,.0f} | {base / secs:.2f}x | {bare / secs:.2f}x |")


if __name__ == "__main__":
    main()
