"""Studies that wire hooks, probes and steering together and write ``results.json`` + ``report.html``.

Each study is a config dataclass plus ``run(config, model=None)`` (importable) and a thin ``main(argv, model=None)``
(``model``: one already loaded, so a notebook or a test suite loads it once):
``veracity run NAME --help`` (or ``python -m veracity.experiments.NAME --help``) lists its options,
which are the config's fields. Pieces that several studies use live once in
:mod:`veracity.experiments.common` (splits, per-layer scoring, answering with a KV cache, chat
prompts, reports, option parsing); no study imports another study.
"""

STUDIES = {
    "demo": "veracity.experiments.demo",
    "abstention": "veracity.experiments.abstention",
    "truth_sweep": "veracity.experiments.truth_sweep",
    "pik": "veracity.experiments.pik",
    "pik_cross": "veracity.experiments.pik_cross",
    "calibration_gap": "veracity.experiments.calibration_gap",
    "polarity": "veracity.experiments.polarity",
    "transfer": "veracity.experiments.transfer",
    "token_view": "veracity.experiments.token_view",
    "truthfulqa": "veracity.experiments.truthfulqa",
    "deception_organism": "veracity.experiments.deception_organism",
    "honesty_pressure": "veracity.experiments.honesty_pressure",
    "organism_steering": "veracity.experiments.organism_steering",
    "belief_drift": "veracity.experiments.belief_drift",
    "poisoned_training": "veracity.experiments.poisoned_training",
    "honesty_steering": "veracity.experiments.honesty_steering",
    "east_bandit": "veracity.experiments.east_bandit",
}
"""Study name (``veracity run NAME``) -> module."""

__all__ = ["STUDIES", "load_results"]


def load_results(path):
    """The ``results.json`` a study wrote, checked: a JSON object, or a list of objects (one per record).

    Args:
        path: The study's output folder (``--out``) or its ``results.json``.

    Returns:
        The parsed results (undefined metrics are ``NaN``, as written).

    Raises:
        FileNotFoundError: No ``results.json`` there.
        ValueError: The file is not UTF-8 JSON, or not an object or a list of objects.

    Example:
        >>> records = load_results("artifacts/truth_sweep/cities")  # doctest: +SKIP
    """
    import json
    from pathlib import Path

    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no results.json at {path}: pass the --out folder of a finished study run")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}): run the study again") from None
    records = results if isinstance(results, list) else [results]
    if not all(isinstance(record, dict) for record in records):
        raise ValueError(f"{file} is not a JSON object or a list of objects: it was not written by a veracity study")
    return results
