"""How every benchmark table is timed: fixed threads, a warm-up per method, interleaved rounds, best of N.

Methods run in rounds: round 0 calls each method once as its warm-up (not timed), then every
round calls each method once, in turn, so a slow spell of the machine falls on all methods alike
rather than on whichever ran then. Each method keeps its best time. Every measurement is printed
(to stderr) as it is taken, so a long run never sits silent.

Example:
    >>> fix_threads(2)
    >>> best, outputs = interleaved({"ours": lambda: f(x), "theirs": lambda: g(x)}, repeats=3)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from threadpoolctl import threadpool_limits

__all__ = ["fix_threads", "interleaved"]


def fix_threads(threads: int) -> int:
    """Set torch's and the BLAS libraries' thread counts to ``threads`` for the whole run; returns it."""
    torch.set_num_threads(threads)
    threadpool_limits(threads)
    return threads


def interleaved(methods: dict[str, Callable[[], object]], repeats: int, label: str = "") -> tuple[dict, dict]:
    """Best-of-``repeats`` seconds of each method, with one untimed warm-up each, rounds interleaved.

    A method that raises ``ImportError`` (a peer not installed) is reported once and left out.

    Returns:
        ``(seconds, outputs)``: method name -> best seconds, and -> the value its last call returned.
    """
    best = dict.fromkeys(methods, float("inf"))
    outputs: dict[str, object] = {}
    skipped: set[str] = set()
    for round_ in range(repeats + 1):
        for name, fn in methods.items():
            if name in skipped:
                continue
            start = time.perf_counter()
            try:
                with torch.no_grad():
                    outputs[name] = fn()
            except ImportError as err:
                print(f"skipped {name}: {err} (make bench installs the peers)", file=sys.stderr, flush=True)
                skipped.add(name)
                continue
            seconds = time.perf_counter() - start
            if round_:
                best[name] = min(best[name], seconds)
            what = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
            print(f"  {label}{name}: {what} {seconds:.3f} s", file=sys.stderr, flush=True)
    return {name: s for name, s in best.items() if name not in skipped}, outputs
