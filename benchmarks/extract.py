"""Extraction side by side in one run: veracity vs Hugging Face, TransformerLens, nnsight, steering-vectors, repeng.

Run: ``make bench`` or ``python -m benchmarks.extract [--quick] [--n-texts 512] [--batch-size 32] [--repeats 3]``.

One table, measured in one run on the embedded model: every method sees the same texts in the
same length-sorted, right-padded batches (repeng batches the same length-sorted texts itself) and
keeps the same thing, the last-token residual stream of the requested layers. Columns: real
(unpadded) tokens per second; the ratio against a bare forward pass and against Hugging Face's
``output_hidden_states``; model FLOP/s as a share of this machine's measured rate for the model's
own largest matmul; and the largest difference from the blocks' own outputs (what veracity's
``extract`` returns, which ``tests/acceptance/hooks/test_embedded_models.py`` checks against forward hooks on
the blocks). Then the peak RSS of ``veracity extract`` (the command, in a fresh process) for 1k,
10k and 50k texts. ``--quick`` (under 5 minutes here): 128 texts, one repeat, peak RSS for 1k.

The peers are installed by ``make bench`` without their dependency pins (steering-vectors pins
transformers < 5, repeng numpy < 2); repeng 0.4.0 still uses ``np.float_`` at import, so this script
defines it as ``np.float64`` before importing repeng. A script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
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
    out = []
    for ids, mask in prepared:
        hidden = model.hf_model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=True).hidden_states
        out.append(torch.stack([last_rows(hidden[layer + 1], mask) for layer in layers], 1))
    return torch.cat(out)


def tl_run_with_cache(bridge_model, prepared, layers):
    names = {f"blocks.{layer}.hook_resid_post" for layer in layers}
    out = []
    for ids, mask in prepared:
        _, cache = bridge_model.module.run_with_cache(ids, attention_mask=mask, names_filter=lambda n: n in names)
        out.append(torch.stack([last_rows(cache[f"blocks.{layer}.hook_resid_post"], mask) for layer in layers], 1))
    return torch.cat(out)


def nnsight_save(nn_model, prepared, layers):
    blocks = nn_model.module.model.layers
    out = []
    for ids, mask in prepared:
        saved = []  # filled inside the trace (nnsight runs the body itself)
        with nn_model.module.trace({"input_ids": ids, "attention_mask": mask}):
            for layer in layers:
                saved.append(blocks[layer].output.save())
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


def timed(fn, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def matmul_rate(rows: int, hidden: int, intermediate: int) -> float:
    """float32 FLOP/s of the model's largest matmul (tokens x hidden -> intermediate), best of 5."""
    a, w = torch.randn(rows, hidden), torch.randn(intermediate, hidden)
    torch.nn.functional.linear(a, w)
    seconds, _ = timed(lambda: torch.nn.functional.linear(a, w), 5)
    return 2 * rows * hidden * intermediate / seconds


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
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats, best kept (default 3; quick 1)")
    parser.add_argument("--rss-sizes", default=None, help="comma-separated text counts for peak RSS "
                        "(default 1000,10000,50000; quick 1000; 0 to skip)")
    args = parser.parse_args(argv)
    n_texts = args.n_texts or (128 if args.quick else 512)
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = [int(s) for s in (args.rss_sizes or ("1000" if args.quick else "1000,10000,50000")).split(",") if int(s)]
    torch.set_grad_enabled(False)
    texts = load_statements("cities").statements[:n_texts]
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
        acts = extract(model, sorted_texts, layers, batch_size=args.batch_size, progress=False)
        return acts

    methods = [
        ("HF bare forward (logits, no hidden states)", every, lambda: bare_forward(hf, prepared, every)),
        ("HF output_hidden_states (all layers)", every, lambda: hf_hidden_states(hf, prepared, every)),
        ("veracity extract, all layers", every, lambda: ours(hf, every)),
        ("veracity extract, first half", half, lambda: ours(hf, half)),
        ("veracity extract, first half, nnsight backend", half, lambda: ours(nn_model, half)),
        ("veracity extract, first half, TransformerLens backend", half, lambda: ours(tl, half)),
        ("TransformerLens run_with_cache, all layers", every, lambda: tl_run_with_cache(tl, prepared, every)),
        ("TransformerLens run_with_cache, first half", half, lambda: tl_run_with_cache(tl, prepared, half)),
        ("nnsight trace .save(), all layers", every, lambda: nnsight_save(nn_model, prepared, every)),
        ("nnsight trace .save(), first half", half, lambda: nnsight_save(nn_model, prepared, half)),
        ("steering-vectors record_activations, all layers", every,
         lambda: steering_vectors_record(peer, prepared, every)),
        ("repeng batched_get_hiddens, all layers", every,
         lambda: repeng_hiddens(peer, sorted_texts, every, args.batch_size)),
    ]
    timed(methods[0][2], 1)  # warm-up
    reference = ours(hf, every)  # the blocks' own outputs (tested), rows in length-sorted order
    rate = matmul_rate(n_tokens // len(prepared), config.hidden_size, config.intermediate_size)
    results = []
    for name, layers, fn in methods:
        try:
            seconds, got = timed(fn, repeats)
        except ImportError as err:
            print(f"skipped {name}: {err} (make bench installs the peers)")
            continue
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
        depth = len(layers) / hf.n_layers if "first half" in name else 1.0
        results.append((name, seconds, depth, diff))
    seconds = {name: s for name, s, _, _ in results}
    base, bare = seconds["HF output_hidden_states (all layers)"], seconds["HF bare forward (logits, no hidden states)"]
    print(f"SmolLM2-135M-Instruct, {len(texts)} texts, {n_tokens} tokens, batch {args.batch_size}, "
          f"{torch.get_num_threads()} CPU threads, best of {repeats}; measured float32 matmul rate "
          f"{rate / 1e9:.1f} GFLOP/s\n")
    print("| method | tokens/s | vs bare forward | vs HF output_hidden_states | share of matmul rate "
          "| max difference from the blocks' outputs |\n|---|---:|---:|---:|---:|---|")
    for name, secs, depth, diff in results:
        share = flops_per_token * depth * n_tokens / secs / rate
        print(f"| {name} | {n_tokens / secs:,.0f} | {bare / secs:.2f}x | {base / secs:.2f}x | {share:.0%} | {diff} |")
    if sizes:
        print("\n| texts | veracity extract peak RSS (GiB) | wall (s) |\n|---:|---:|---:|")
        for n in sizes:
            rss, wall = peak_rss(n, args.batch_size)
            print(f"| {n:,} | {rss:.2f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
