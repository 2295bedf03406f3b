"""CCS restarts: one batched optimisation vs a Python loop of single-restart fits.

Run: ``python -m benchmarks.ccs_speed [--n 400] [--d-model 64 576] [--restarts 10]
[--epochs 1000] [--repeats 3] [--threads 1]``.

Both sides use :class:`veracity.probes.CCS` with Adam: the loop fits ``CCS(n_restarts=1, seed=seed + r)``
for each restart ``r``, which starts from exactly the weights restart ``r`` gets in the batched
fit, so both find the same best loss (printed, as a check). The data are synthetic contrast pairs
with a planted truth direction. A script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from veracity.probes import CCS


def planted_pairs(n: int, d_model: int, seed: int = 0) -> torch.Tensor:
    """Contrast pairs ``(n, 2, d_model)``: truth along one direction, noise, a token offset."""
    gen = torch.Generator().manual_seed(seed)
    truth = torch.nn.functional.normalize(torch.randn(d_model, generator=gen), dim=0)
    sign = (2 * torch.randint(0, 2, (n,), generator=gen) - 1).float()[:, None]
    statement = torch.randn(n, d_model, generator=gen)
    offset = 3.0 * torch.randn(2, d_model, generator=gen)
    no = statement + offset[0] - 1.5 * sign * truth
    yes = statement + offset[1] + 1.5 * sign * truth
    return torch.stack([no, yes], dim=1) + torch.randn(n, 2, d_model, generator=gen)


def best_of(fn, repeats: int) -> tuple[float, float]:
    """Fastest wall time over ``repeats`` runs, and the best loss ``fn`` returned."""
    best_time, loss = float("inf"), float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        loss = fn()
        best_time = min(best_time, time.perf_counter() - start)
    return best_time, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="contrast pairs")
    parser.add_argument("--d-model", type=int, nargs="+", default=[64, 576], help="widths to try")
    parser.add_argument("--restarts", type=int, default=10, help="random restarts")
    parser.add_argument("--epochs", type=int, default=1000, help="Adam steps per restart")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"CCS, n={args.n} pairs, {args.restarts} restarts x {args.epochs} Adam epochs, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(f"{'d_model':>8} {'loop s':>8} {'batched s':>10} {'speed-up':>9} "
          f"{'loop loss':>10} {'batched loss':>13}")
    for d_model in args.d_model:
        x = planted_pairs(args.n, d_model)
        kwargs = dict(n_epochs=args.epochs)

        def loop(x=x, kwargs=kwargs) -> float:
            fits = [CCS(n_restarts=1, seed=r, **kwargs).fit(x) for r in range(args.restarts)]
            return min(f.loss_ for f in fits)

        def batched(x=x, kwargs=kwargs) -> float:
            return CCS(n_restarts=args.restarts, seed=0, **kwargs).fit(x).loss_

        t_loop, loss_loop = best_of(loop, args.repeats)
        t_batch, loss_batch = best_of(batched, args.repeats)
        print(f"{d_model:>8} {t_loop:>8.2f} {t_batch:>10.2f} {t_loop / t_batch:>8.1f}x "
              f"{loss_loop:>10.5f} {loss_batch:>13.5f}")


if __name__ == "__main__":
    main()
