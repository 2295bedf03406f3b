"""Experiments: scripts that wire hooks, probes and steering into a study and write artifacts/.

Each script is ``python -m experiments.NAME --help``; its options are the fields of a config
dataclass (:mod:`experiments.cli`) and ``main(argv)`` is callable from tests.

- :mod:`experiments.truth_sweep`: logistic, mass-mean, CCS, CRC and random probes at every layer.
- :mod:`experiments.pik`: P(IK) head versus the model's own P(True) on graded QA sets.
- :mod:`experiments.report`: self-contained plotly HTML reports shared by all experiments.
"""
