"""Running a model on NDIF, the National Deep Inference Fabric, through nnsight (``remote=``).

NDIF hosts the weights and runs nnsight traces sent to it; here only the config and tokenizer are
loaded (:func:`remote_module`), and :class:`veracity.hooks.backends.NNsightBackend` reads activations
with ``.save()`` inside each trace. A run that fails on the way (network, hub, service) ends in one
:class:`NDIFError` line.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from veracity.hooks.embedded import embedded_spec
from veracity.hooks.errors import ModelNotFoundError

__all__ = ["NDIFError", "remote_errors", "remote_module"]


class NDIFError(ConnectionError):
    """A remote (NDIF) run failed: the service could not be reached, or refused or failed the job."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its class name when it has none), cut to ``limit``."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:limit]


@contextlib.contextmanager
def remote_errors(remote: bool | str, model_id: str):
    """Turn a failed NDIF run into one :class:`NDIFError` line (a local run or dry run raises as it is)."""
    if not remote or remote == "local":
        yield
        return
    try:
        yield
    except Exception as err:  # the network, the hub (model key) or the server: one line, whichever
        from nnsight import CONFIG

        host = remote if isinstance(remote, str) else CONFIG.API.HOST
        raise NDIFError(f"the NDIF run of {model_id} at {host} failed ({type(err).__name__}: "
                        f"{first_line(err, 300)}): check the network, your NDIF_API_KEY and that NDIF hosts "
                        "this model") from None


def remote_module(name: str, remote: bool | str, device=None, dtype=None, adapter=None):
    """nnsight's ``LanguageModel`` of hub model ``name`` whose traces run on NDIF, and where it runs.

    What ``load_model(name, backend="nnsight", remote=...)`` wraps: the ``LanguageModel`` built from
    the hub config and tokenizer alone (a weightless skeleton), after checking, in this order, the
    ``remote`` value, options that NDIF decides, that ``name`` is no local model, and the API key;
    so bad settings fail in one line before anything touches the network.

    Returns:
        ``(module, source)``: the ``LanguageModel`` and a description of where it runs.

    Raises:
        ValueError: A setting that cannot run remotely, or no API key.
        ModelNotFoundError: The config or tokenizer could not be loaded from the hub.
    """
    if remote == "local" or not (remote is True or (isinstance(remote, str) and remote.startswith("http"))):
        raise ValueError(f"remote must be True or an NDIF host URL (https://...), got {remote!r}")
    for option, value in (("device", device), ("dtype", dtype), ("adapter", adapter)):
        if value is not None:
            raise ValueError(f"{option}= does not apply to a remote model (NDIF decides where and how it runs): "
                             f"leave it out, or load the model here without remote")
    if embedded_spec(name) or Path(name).expanduser().exists():
        raise ValueError(f"NDIF runs models it hosts, named as on the Hugging Face hub: {name!r} is "
                         "an embedded model or a local folder; load it without remote")
    from nnsight import CONFIG, LanguageModel

    if not CONFIG.API.APIKEY:
        raise ValueError("remote=True sends the work to NDIF, which needs an API key (free at ndif.us): set "
                         "NDIF_API_KEY, or call nnsight.CONFIG.set_default_api_key(KEY) once")
    from transformers import AutoTokenizer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = AutoTokenizer.from_pretrained(name)
            module = LanguageModel(name, tokenizer=tokenizer)  # config and tokenizer only: the weights stay on NDIF
    except Exception as err:  # the hub, transformers or nnsight: one line, whichever
        raise ModelNotFoundError(f"remote model {name!r} needs its config and tokenizer from the Hugging Face hub "
                                 f"(the weights stay on NDIF), and they could not be loaded ({first_line(err)}): "
                                 "check the name and the network") from None
    return module, f"NDIF ({remote if isinstance(remote, str) else CONFIG.API.HOST}): {name}"
