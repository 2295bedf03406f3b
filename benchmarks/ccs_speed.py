"""CCS: veracity's batched restarts against Burns et al.'s one-try-at-a-time loop.

Run: ``python -m benchmarks.ccs_speed [--n 900] [--d-model 256 576] [--restarts 10]
[--epochs 1000] [--repeats 3] [--threads 1]``.

Three fits of the same contrast pairs, each with the same tries and full-batch AdamW epochs:
``burns`` is CCS as Burns et al. released it (a fresh sigmoid ``nn.Linear`` per try, mean
normalisation; ``tests/reference_ccs.fit_burns_ccs``), ``plain loop`` is the leaner
one-restart-at-a-time reference that the unit tests compare against (``fit_reference_ccs``),
and ``veracity`` is :class:`veracity.probes.CCS` (all restarts in one batch, the linear layer's
gradient and the AdamW step written out). The data are synthetic pairs with a planted truth
direction; the held-out accuracy of each fit is printed as a check. A script, not a test.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from tests.reference_ccs import fit_burns_ccs, fit_reference_ccs
from veracity.probes import CCS


def planted_pairs(n: int, d_model: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Contrast pairs ``(n, 2, d_model)`` (truth along one direction, noise, a token offset) and labels."""
    gen = torch.Generator().manual_seed(seed)
    truth = torch.nn.functional.normalize(torch.randn(d_model, generator=gen), dim=0)
    labels = torch.randint(0, 2, (n,), generator=gen)
    sign = (2 * labels - 1).float()[:, None]
    statement = torch.randn(n, d_model, generator=gen)
    offset = 3.0 * torch.randn(2, d_model, generator=gen)
    no = statement + offset[0] - 1.5 * sign * truth
    yes = statement + offset[1] + 1.5 * sign * truth
    return torch.stack([no, yes], dim=1) + torch.randn(n, 2, d_model, generator=gen), labels.numpy()


def best_of(fn, repeats: int):
    """Fastest wall time over ``repeats`` runs, and what ``fn`` returned."""
    best_time, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best_time = min(best_time, time.perf_counter() - start)
    return best_time, result


def either_sign_accuracy(p_true: np.ndarray, labels: np.ndarray) -> float:
    """Held-out accuracy of the better sign (an unsupervised probe's sign is arbitrary)."""
    accuracy = float(((p_true > 0.5) == labels).mean())
    return max(accuracy, 1 - accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=900, help="training pairs (as many again are held out)")
    parser.add_argument("--d-model", type=int, nargs="+", default=[256, 576], help="widths to try")
    parser.add_argument("--restarts", type=int, default=10, help="tries (random restarts)")
    parser.add_argument("--epochs", type=int, default=1000, help="AdamW steps per try")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"CCS, n={args.n} training pairs, {args.restarts} tries x {args.epochs} AdamW epochs, "
          f"{torch.get_num_threads()} torch thread(s); time in s (held-out accuracy)")
    print(f"{'d_model':>8} {'burns':>14} {'plain loop':>14} {'veracity':>14} {'vs burns':>9} {'vs loop':>8}")
    for d_model in args.d_model:
        x, labels = planted_pairs(2 * args.n, d_model)
        train, test = x[:args.n], x[args.n:]
        fits = {
            "burns": lambda t=train: fit_burns_ccs(t, seed=0, n_tries=args.restarts, n_epochs=args.epochs),
            "plain loop": lambda t=train: fit_reference_ccs(t, args.restarts, seed=0,
                                                            n_epochs=args.epochs).predict_proba,
            "veracity": lambda t=train: CCS(n_restarts=args.restarts, n_epochs=args.epochs, seed=0,
                                            normalize="mean").fit(t).predict_true,
        }
        times, cells = {}, []
        for name, fit in fits.items():
            times[name], predict = best_of(fit, args.repeats)
            p_true = np.asarray(predict(test), dtype=np.float64).reshape(-1)
            cells.append(f"{times[name]:6.2f} ({either_sign_accuracy(p_true, labels[args.n:]):.3f})")
        print(f"{d_model:>8} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} "
              f"{times['burns'] / times['veracity']:>8.1f}x {times['plain loop'] / times['veracity']:>7.1f}x")


if __name__ == "__main__":
    main()
