"""Studies that wire hooks, probes and steering together and write ``results.json`` + ``report.html``.

Each study is a config dataclass plus ``run(config)`` (importable) and a thin ``main(argv)``:
``veracity run NAME --help`` (or ``python -m veracity.experiments.NAME --help``) lists its options,
which are the config's fields. Pieces that several studies use live once in
:mod:`veracity.experiments.common` (splits, per-layer scoring, answering with a KV cache, chat
prompts, reports, option parsing); no study imports another study.
"""

STUDIES = {
    "demo": "veracity.experiments.demo",
    "truth_sweep": "veracity.experiments.truth_sweep",
    "pik": "veracity.experiments.pik",
    "calibration_gap": "veracity.experiments.calibration_gap",
    "polarity": "veracity.experiments.polarity",
    "transfer": "veracity.experiments.transfer",
    "token_view": "veracity.experiments.token_view",
    "honesty_steering": "veracity.experiments.honesty_steering",
    "east_bandit": "veracity.experiments.east_bandit",
}
"""Study name (``veracity run NAME``) -> module."""

__all__ = ["STUDIES"]
