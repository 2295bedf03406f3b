"""What the full-weights fingerprint costs next to the extract calls it keys.

    python -m benchmarks.fingerprint

Prints a table: the time to hash every weight of the embedded model (best of 9), and the time of
uncached extract calls of several sizes (all 30 layers, last token, batch 16), with the
fingerprint as a share of each.
"""

from __future__ import annotations

import time

import torch

from veracity.data import load_statements
from veracity.hooks import extract, load_model
from veracity.hooks.model import weights_fingerprint


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    model = load_model("smollm2-135m", device="cpu")
    texts = load_statements("cities").statements
    fp = best_of(lambda: weights_fingerprint(model.hf_model), 9)
    print(f"torch threads {torch.get_num_threads()}; full-weights fingerprint (134.5M params): {fp * 1000:.0f} ms")
    print(f"{'texts':>6} {'extract s':>10} {'fingerprint share':>18}")
    for n in (16, 64, 256, 800):
        seconds = best_of(lambda n=n: extract(model, texts[:n], layers="all", progress=False), 2)
        print(f"{n:>6} {seconds:>10.2f} {100 * fp / seconds:>17.1f}%")


if __name__ == "__main__":
    main()
