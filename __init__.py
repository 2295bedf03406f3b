"""veracity: read and steer what language models internally believe.

The everyday API in one place (``import veracity as vc``):

- models: :func:`load_model` (embedded ``"smollm2-135m"``, a local folder or a hub name) and
  :func:`from_hf` (wrap a model already in memory; never touches the network);
- activations: :func:`extract` (residual stream after chosen blocks, optionally cached on disk)
  and :func:`load_activations` (read a cache folder written by ``veracity extract``);
- probes: :class:`LogisticProbe`, :class:`MassMeanProbe`, :class:`CCS`, :class:`CRCProbe`,
  :class:`PolarityAwareCCS`, :class:`PIKHead`, :func:`load_probe`;
- steering: :class:`SteeringVector`, :func:`steer`, :func:`honesty_vector`, :func:`east_vector`;
- lie monitors: :class:`Dialogue`, :func:`monitor` (score tokens while generating), :func:`load_monitor`.

The subpackages hold the rest: :mod:`veracity.hooks`, :mod:`veracity.data`,
:mod:`veracity.probes`, :mod:`veracity.steering`, :mod:`veracity.monitors`, :mod:`veracity.experiments`.

Example:
    >>> import veracity as vc
    >>> model = vc.load_model("smollm2-135m")
    >>> acts = vc.extract(model, ["The city of Paris is in France."], layers=[12])
    >>> acts.shape
    torch.Size([1, 1, 576])
"""

import importlib
import importlib.abc
import sys

_NOT_PARTS = frozenset({"tests", "benchmarks", "docs", "artifacts", "build"})
"""Folders of the repository root that are not parts of the package (the root is the package)."""


class _DeclaredPartsOnly(importlib.abc.MetaPathFinder):
    """An editable install maps ``veracity`` to the repository root, where every folder would import as a
    namespace package; this keeps the folders that are not parts of the package (``veracity.tests``,
    ``veracity.benchmarks``, ...) unimportable, as they are from the wheel."""

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if len(parts) > 1 and parts[0] == __name__ and parts[1] in _NOT_PARTS:
            raise ModuleNotFoundError(f"No module named {fullname!r}: {parts[1]}/ is not part of the veracity "
                                      "package", name=fullname)
        return None


if not any(isinstance(finder, _DeclaredPartsOnly) for finder in sys.meta_path):
    sys.meta_path.insert(0, _DeclaredPartsOnly())

# The names below are imported on first use (PEP 562), so ``veracity --help`` and the command-line
# parser start without importing torch; ``import veracity as vc; vc.extract`` works as usual.
_EXPORTS = {
    "LAYER_CONVENTION": "veracity.hooks",
    "SITE": "veracity.hooks",
    "VeracityModel": "veracity.hooks",
    "extract": "veracity.hooks",
    "extract_cached": "veracity.hooks",
    "from_hf": "veracity.hooks",
    "load_activations": "veracity.hooks",
    "load_model": "veracity.hooks",
    "CCS": "veracity.probes",
    "CRCProbe": "veracity.probes",
    "LogisticProbe": "veracity.probes",
    "MassMeanProbe": "veracity.probes",
    "PIKHead": "veracity.probes",
    "PolarityAwareCCS": "veracity.probes",
    "RandomDirectionProbe": "veracity.probes",
    "load_probe": "veracity.probes",
    "SteeringVector": "veracity.steering",
    "east_vector": "veracity.steering",
    "honesty_vector": "veracity.steering",
    "steer": "veracity.steering",
    "Dialogue": "veracity.monitors",
    "load_monitor": "veracity.monitors",
    "monitor": "veracity.monitors",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'veracity' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "CCS",
    "LAYER_CONVENTION",
    "SITE",
    "CRCProbe",
    "LogisticProbe",
    "MassMeanProbe",
    "PIKHead",
    "PolarityAwareCCS",
    "RandomDirectionProbe",
    "SteeringVector",
    "VeracityModel",
    "Dialogue",
    "__version__",
    "east_vector",
    "extract",
    "extract_cached",
    "from_hf",
    "honesty_vector",
    "load_activations",
    "load_model",
    "load_monitor",
    "load_probe",
    "monitor",
    "steer",
]
