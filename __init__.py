"""veracity: read and steer what language models internally believe.

The everyday API in one place (``import veracity as vc``):

- models: :func:`load_model` (embedded ``"smollm2-135m"``, a local folder or a hub name) and
  :func:`from_hf` (wrap a model already in memory; never touches the network);
- activations: :func:`extract` (residual stream after chosen blocks, optionally cached on disk)
  and :func:`load_activations` (read a cache folder written by ``veracity extract``);
- probes: :class:`LogisticProbe`, :class:`MassMeanProbe`, :class:`CCS`, :class:`CRCProbe`,
  :class:`PolarityAwareCCS`, :class:`PIKHead`, :func:`load_probe`;
- steering: :class:`SteeringVector`, :func:`steer`, :func:`honesty_vector`, :func:`east_vector`.

The subpackages hold the rest: :mod:`veracity.hooks`, :mod:`veracity.data`,
:mod:`veracity.probes`, :mod:`veracity.steering`, :mod:`veracity.experiments`.

Example:
    >>> import veracity as vc
    >>> model = vc.load_model("smollm2-135m")
    >>> acts = vc.extract(model, ["The city of Paris is in France."], layers=[12])
    >>> acts.shape
    torch.Size([1, 1, 576])
"""

from veracity.hooks import (
    LAYER_CONVENTION,
    SITE,
    VeracityModel,
    extract,
    from_hf,
    load_activations,
    load_model,
)
from veracity.probes import (
    CCS,
    CRCProbe,
    LogisticProbe,
    MassMeanProbe,
    PIKHead,
    PolarityAwareCCS,
    RandomDirectionProbe,
    load_probe,
)
from veracity.steering import SteeringVector, east_vector, honesty_vector, steer

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
    "__version__",
    "east_vector",
    "extract",
    "from_hf",
    "honesty_vector",
    "load_activations",
    "load_model",
    "load_probe",
    "steer",
]
