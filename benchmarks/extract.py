"""Extraction side by side in one run: veracity vs Hugging Face, TransformerLens, nnsight, steering-vectors, repeng.

Run: ``make bench`` or ``python -m benchmarks.extract [--quick] [--n-texts 512] [--batch-size 32] [--repeats 3]``.

One table, measured in one run on the embedded model: every method sees the same texts in the
same length-sorted, right-padded batches (repeng batches the same length-sorted texts itself) and
keeps the same thing, the last-token residual stream of the requested layers. Timing
(``benchmarks.timing``): a fixed thread count (``--threads``), one untimed warm-up per method,
methods interleaved round by round, best of ``--repeats``; each measurement is printed as it is
taken. Reference rows: Hugging Face's bare forward (with the LM head) and ``model.model`` (the
decoder without the LM head, which most of the all-layer gain over a bare forward comes from).
"First half" rows (layers 0-14) stop after block 14 where the tool can (veracity on every backend,
TransformerLens ``stop_at_layer``, nnsight ``tracer.stop()``); the rows of tools that cannot stop
early say so and run every block. Columns: real
(unpadded) tokens per second; the ratio against a bare forward pass and against Hugging Face's
``output_hidden_states``; model FLOP/s (blocks actually run) as a share of this machine's rate for
the model's own largest matmul, measured in every round beside the methods (best kept); and the
largest difference from the blocks' own outputs (what veracity's
``extract`` returns, which ``tests/acceptance/hooks/test_embedded_models.py`` checks against forward hooks on
the blocks). Then the peak RSS of ``veracity extract`` (the command, in a fresh process) for 1k,
10k and 50k texts. ``--quick`` (under 5 minutes here): 128 texts, one repeat, peak RSS for 1k.

The peers are installed by ``make bench`` without their dependency pins (steering-vectors pins
transformers < 5, repeng numpy < 2); repeng 0.4.0 still uses ``np.float_`` at import, so this script
defines it as ``np.float64`` before importing repeng. A script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.timing import fix_threads, interleaved
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


def decoder_forward(model, prepared, layers):
    """Hugging Face's ``model.model``: every block and the final norm, no LM head."""
    for ids, mask in prepared:
        model.hf_model.model(input_ids=ids, attention_mask=mask, use_cache=False)


def hf_hidden_states(model, prepared, layers):
    out = []
    for ids, mask in prepared:
        hidden = model.hf_model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=True).hidden_states
        out.append(torch.stack([last_rows(hidden[layer + 1], mask) for layer in layers], 1))
    return torch.cat(out)


def tl_run_with_cache(bridge_model, prepared, layers, stop=False):
    """``run_with_cache`` keeping the requested ``hook_resid_post``s; ``stop``: ``stop_at_layer`` after the deepest."""
    names = {f"blocks.{layer}.hook_resid_post" for layer in layers}
    extra = {"stop_at_layer": max(layers) + 1} if stop else {}
    out = []
    for ids, mask in prepared:
        _, cache = bridge_model.module.run_with_cache(ids, attention_mask=mask, names_filter=lambda n: n in names,
                                                      **extra)
        out.append(torch.stack([last_rows(cache[f"blocks.{layer}.hook_resid_post"], mask) for layer in layers], 1))
    return torch.cat(out)


def nnsight_save(nn_model, prepared, layers, stop=False):
    """``.save()`` of each requested block's output in a trace; ``stop``: ``tracer.stop()`` after the deepest."""
    blocks = nn_model.module.model.layers
    out = []
    for ids, mask in prepared:
        saved = []  # filled inside the trace (nnsight runs the body itself)
        with nn_model.module.trace({"input_ids": ids, "attention_mask": mask}) as tracer:
            for layer in layers:
                saved.append(blocks[layer].output.save())
            if stop:
                tracer.stop()
        out.append(torch.stack([last_rows(s[0] if isinstance(s, tuple) else s, mask) for s in saved], 1))
    return torch.cat(out)


def steering_vectors_record(model, prepared, layers):
    from steering_vectors import record_activations

    out = []
    for ids, mask in prepared:
        with record_activations(model.hf_model, layer_type="decoder_block", layer_nums=layers) as recorded:
            model.hf_model(input_ids=ids, attention_mask=mask, use_cache=False)
        out.append(torch.stack([last_rows(recorded[layer][0], mask) for layer in layers], 1))
    return torch.cat(out)


def repeng_hiddens(model, sorted_texts, layers, batch_size):
    np.float_ = np.float64  # repeng 0.4.0 references np.float_ (removed in numpy 2) at import
    from repeng.extract import batched_get_hiddens

    found = batched_get_hiddens(model.hf_model, model.tokenizer, sorted_texts, layers, batch_size)
    return torch.from_numpy(np.stack([found[layer] for layer in layers], axis=1))


def matmul(rows: int, hidden: int, intermediate: int):
    """The model's largest matmul (tokens x hidden -> intermediate) and its FLOPs, for the rate column."""
    a, w = torch.randn(rows, hidden), torch.randn(intermediate, hidden)
    return (lambda: torch.nn.functional.linear(a, w)), 2 * rows * hidden * intermediate


# VmHWM, not ru_maxrss: Linux carries a parent's peak RSS into ru_maxrss across fork and exec.
PEAK_RSS = """
import re, sys
from veracity.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print("peak_rss_kib", re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
sys.exit(code)
"""


def peak_rss(n_texts: int, batch_size: int) -> tuple[float, float]:
    """Peak RSS (GiB) and wall seconds of ``veracity extract`` over ``n_texts`` texts, all layers, in a fresh process."""
    statements = load_statements("cities").statements
    texts = [f"{statements[i % len(statements)]} ({i})" for i in range(n_texts)]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "texts.txt").write_text("\n".join(texts) + "\n")
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", PEAK_RSS, "extract", "--input", f"{tmp}/texts.txt", "--out",
                              f"{tmp}/out", "--device", "cpu", "--batch-size", str(batch_size)], check=True,
                             capture_output=True, text=True)
        seconds = time.perf_counter() - start
    kib = int(run.stdout.strip().splitlines()[-1].split()[-1])
    return kib / 2**20, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 texts, one repeat, peak RSS for 1k texts only")
    parser.add_argument("--n-texts", type=int, default=None, help="city statements to run (default 512; quick 128)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds, best kept (default 3; quick 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and BLAS threads (default: all cores)")
    parser.add_argument("--rss-sizes", default=None, help="comma-separated text counts for peak RSS "
                        "(default 1000,10000,50000; quick 1000; 0 to skip)")
    args = parser.parse_args(argv)
    n_texts = args.n_texts or (128 if args.quick else 512)
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = [int(s) for s in (args.rss_sizes or ("1000" if args.quick else "1000,10000,50000")).split(",") if int(s)]
    fix_threads(args.threads)
    torch.set_grad_enabled(False)
    texts = load_statements("cities").statements[:n_texts]
    print(f"loading the embedded model on three backends and a plain copy for the peers ({args.threads} threads)",
          file=sys.stderr, flush=True)
    hf = load_model("smollm2-135m", backend="hf", device="cpu")
    tl = load_model("smollm2-135m", backend="transformer_lens", device="cpu")
    nn_model = load_model("smollm2-135m", backend="nnsight", device="cpu")
    peer = load_model("smollm2-135m", backend="hf", device="cpu")  # peers hook the plain HF model
    prepared = batches(hf, texts, args.batch_size)
    sorted_texts = sorted(texts, key=lambda t: len(tokenize(hf, [t])[0]), reverse=True)
    n_tokens = sum(int(mask.sum()) for _, mask in prepared)
    every, half = list(range(hf.n_layers)), list(range(hf.n_layers // 2))
    config = hf.hf_model.config
    flops_per_token = 2 * (sum(p.numel() for p in hf.hf_model.model.layers.parameters()))

    def ours(model, layers):
        return extract(model, sorted_texts, layers, batch_size=args.batch_size, progress=False)

    # name -> (layers kept, blocks run as a share of all, the call)
    methods = {
        "HF bare forward (logits, no hidden states)": (every, 1.0, lambda: bare_forward(hf, prepared, every)),
        "HF model.model forward (no LM head)": (every, 1.0, lambda: decoder_forward(hf, prepared, every)),
        "HF output_hidden_states (all layers)": (every, 1.0, lambda: hf_hidden_states(hf, prepared, every)),
        "veracity extract, all layers": (every, 1.0, lambda: ours(hf, every)),
        "veracity extract, first half (stops after block 14)": (half, 0.5, lambda: ours(hf, half)),
        "veracity extract, first half, nnsight backend (stops)": (half, 0.5, lambda: ours(nn_model, half)),
        "veracity extract, first half, TransformerLens backend (stops)": (half, 0.5, lambda: ours(tl, half)),
        "TransformerLens run_with_cache, all layers": (every, 1.0, lambda: tl_run_with_cache(tl, prepared, every)),
        "TransformerLens run_with_cache, first half (stop_at_layer=15)":
            (half, 0.5, lambda: tl_run_with_cache(tl, prepared, half, stop=True)),
        "nnsight trace .save(), all layers": (every, 1.0, lambda: nnsight_save(nn_model, prepared, every)),
        "nnsight trace .save(), first half (tracer.stop())":
            (half, 0.5, lambda: nnsight_save(nn_model, prepared, half, stop=True)),
        "steering-vectors record_activations, first half (cannot stop: runs every block)":
            (half, 1.0, lambda: steering_vectors_record(peer, prepared, half)),
        "repeng batched_get_hiddens, first half (cannot stop: runs every block)":
            (half, 1.0, lambda: repeng_hiddens(peer, sorted_texts, half, args.batch_size)),
        "steering-vectors record_activations, all layers":
            (every, 1.0, lambda: steering_vectors_record(peer, prepared, every)),
        "repeng batched_get_hiddens, all layers":
            (every, 1.0, lambda: repeng_hiddens(peer, sorted_texts, every, args.batch_size)),
    }
    reference = ours(hf, every)  # the blocks' own outputs (tested), rows in length-sorted order
    rate_call, rate_flops = matmul(n_tokens // len(prepared), config.hidden_size, config.intermediate_size)
    calls = {name: fn for name, (_, _, fn) in methods.items()}
    calls["(matmul rate)"] = rate_call
    seconds, outputs = interleaved(calls, repeats)
    rate = rate_flops / seconds.pop("(matmul rate)")
    base, bare = seconds["HF output_hidden_states (all layers)"], seconds["HF bare forward (logits, no hidden states)"]
    print(f"SmolLM2-135M-Instruct, {len(texts)} texts, {n_tokens} tokens, batch {args.batch_size}, "
          f"{args.threads} CPU threads, one warm-up each, best of {repeats} interleaved rounds; float32 matmul rate "
          f"{rate / 1e9:.1f} GFLOP/s (best of the same rounds)\n")
    print("| method | tokens/s | vs bare forward | vs HF output_hidden_states | share of matmul rate "
          "| max difference from the blocks' outputs |\n|---|---:|---:|---:|---:|---|")
    for name, secs in seconds.items():
        layers, depth, _ = methods[name]
        got = outputs.get(name)
        if got is None:
            diff = "-"
        else:
            want = reference[:, layers]
            # Hugging Face's hidden_states (and so repeng's) give the last layer after the final norm
            after_norm = ("repeng" in name or "output_hidden_states" in name) and layers[-1] == hf.n_layers - 1
            cut = got.shape[1] - 1 if after_norm else got.shape[1]
            diff = f"{(got[:, :cut].float() - want[:, :cut]).abs().max().item():.1e}"
            if cut < got.shape[1]:
                diff += " (last layer: after the final norm)"
        share = flops_per_token * depth * n_tokens / secs / rate
        print(f"| {name} | {n_tokens / secs:,.0f} | {bare / secs:.2f}x | {base / secs:.2f}x | {share:.0%} | {diff} |",
              flush=True)
    if sizes:
        print("\n| texts | veracity extract peak RSS (GiB) | wall (s) |\n|---:|---:|---:|")
        for n in sizes:
            rss, wall = peak_rss(n, args.batch_size)
            print(f"| {n:,} | {rss:.2f} | {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
