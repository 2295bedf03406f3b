"""Turn directions into steering vectors, add them during the forward pass, and export them.

- :class:`SteeringVector`: ``{layer: direction}`` with provenance, arithmetic, two-file save/load.
- :func:`honesty_vector` / :func:`reading_vector` (RepE reading vectors), :func:`from_probe`.
- :func:`east_vector` (entropic activation steering) with the text bandit in :mod:`veracity.steering.bandit`.
- :func:`steer`: a context manager that adds ``coefficient * direction`` after chosen blocks.
- :func:`to_gguf` / :func:`from_gguf` (llama.cpp control vectors), :func:`to_safetensors`.
- :func:`with_calibrated_coefficient`: the suggested coefficient, the largest that keeps the KL on
  neutral text under :data:`KL_BOUND` (the builders above set it).

Example:
    >>> from veracity.hooks import extract, load_model
    >>> from veracity.steering import honesty_vector, steer
    >>> model = load_model("smollm2-135m")
    >>> vector = honesty_vector(model, ["The city of Paris is in France.", "Water is wet."], layers=[12],
    ...                         normalization="resid")
    >>> with steer(model, vector, coefficient=0.25):  # a quarter of the mean residual norm
    ...     acts = extract(model, ["Hi"], layers=[12])  # steered
"""

from veracity.steering.apply import SCOPES, steer
from veracity.steering.bandit import Bandit, action_distribution, entropy, play
from veracity.steering.calibrate import KL_BOUND, calibrate_coefficient, with_calibrated_coefficient
from veracity.steering.east import east_vector
from veracity.steering.export import export, from_gguf, from_safetensors, to_gguf, to_safetensors
from veracity.steering.honesty import honesty_pairs, honesty_vector
from veracity.steering.reading import contrast_directions, from_probe, reading_vector
from veracity.steering.vector import SteeringVector

__all__ = [
    "KL_BOUND",
    "SCOPES",
    "Bandit",
    "SteeringVector",
    "action_distribution",
    "calibrate_coefficient",
    "contrast_directions",
    "east_vector",
    "entropy",
    "export",
    "from_gguf",
    "from_probe",
    "from_safetensors",
    "honesty_pairs",
    "honesty_vector",
    "play",
    "reading_vector",
    "steer",
    "to_gguf",
    "to_safetensors",
    "with_calibrated_coefficient",
]
