"""LoRA adapter folders: checked before a model loads, bound to the base model they were trained on, merged.

Each problem with an adapter has its own one-line error: no folder, no ``adapter_config.json``, a
config that is not JSON or not LoRA, no weights, or an adapter trained on another model (refused
by the base model's weight fingerprint that :func:`~veracity.hooks.train_lora` records in
``veracity_base.json``, or, for an adapter from elsewhere, by every tensor name and shape).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from torch import nn

__all__ = ["BASE_RECORD", "check_adapter", "check_adapter_fits", "merge_adapter"]


BASE_RECORD = "veracity_base.json"
"""The file :func:`~veracity.hooks.train_lora` writes beside an adapter: the base model it was trained on."""


def check_adapter(adapter: str | os.PathLike) -> Path:
    """The adapter folder, checked before any model loads; each problem is its own one-line error.

    Raises:
        FileNotFoundError: No folder there, no ``adapter_config.json`` in it, or no adapter weights.
        ValueError: ``adapter_config.json`` is not a JSON object, or it is not a LoRA adapter.
    """
    folder = Path(adapter).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"no adapter folder at {folder}: pass the folder that train_lora (or "
                                "PeftModel.save_pretrained) wrote")
    config = folder / "adapter_config.json"
    if not config.is_file():
        raise FileNotFoundError(f"no peft adapter at {folder} (no adapter_config.json): pass the folder that "
                                "PeftModel.save_pretrained wrote")
    try:
        fields = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{config} is not valid JSON ({err}): the adapter folder is damaged; train or copy "
                         "it again") from None
    if not isinstance(fields, dict) or fields.get("peft_type") != "LORA":
        raise ValueError(f"{config} does not describe a LoRA adapter (peft_type "
                         f"{fields.get('peft_type') if isinstance(fields, dict) else None!r}): pass a LoRA adapter folder")
    if not (folder / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"no adapter weights in {folder} (adapter_model.safetensors): the folder holds "
                                "only the config; train or copy the adapter again")
    return folder


def check_adapter_fits(hf_model: nn.Module, folder: Path, fingerprint: str) -> None:
    """Refuse an adapter trained on another model, in one line.

    With the record :func:`~veracity.hooks.train_lora` writes (``veracity_base.json``), the base
    model's weight fingerprint must equal this model's. Without it (an adapter from elsewhere), every
    tensor must name a module of this model with the shapes it has, and every module the config
    targets must have its tensors: no missing and no extra key.
    """
    record = folder / BASE_RECORD
    if record.is_file():
        try:
            base = json.loads(record.read_text(encoding="utf-8"))
            recorded = base["fingerprint"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{record} is damaged ({type(err).__name__}: {err}): train the adapter again") from None
        if recorded != fingerprint:
            raise ValueError(f"the adapter at {folder} was trained on {base.get('model_id')!r} (weights "
                             f"{recorded[:12]}), not on this model (weights {fingerprint[:12]}): pass the adapter "
                             "trained on this model, or load the model it was trained on")
        return
    from safetensors import safe_open

    fields = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    targets = fields.get("target_modules") or []
    modules = dict(hf_model.named_modules())
    with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as handle:
        shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    found: dict[str, dict[str, tuple]] = {}
    for name, shape in shapes.items():
        match = re.fullmatch(r"base_model\.model\.(.+)\.(lora_[AB])(?:\.\w+)?\.weight", name)
        if match is None or match.group(1) not in modules:
            raise ValueError(f"the adapter at {folder} holds {name}, which names no module of this model: pass an "
                             "adapter trained on this model")
        found.setdefault(match.group(1), {})[match.group(2)] = shape
    if isinstance(targets, str):
        wanted = {n for n in modules if re.fullmatch(targets, n)}
    else:
        wanted = {n for n in modules if n.rsplit(".", 1)[-1] in targets and hasattr(modules[n], "weight")}
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"the adapter at {folder} has no weights for {len(missing)} module(s) its config targets in "
                         f"this model (first: {missing[0]}): pass an adapter trained on this model")
    for name, pair in found.items():
        weight = getattr(modules[name], "weight", None)
        if weight is None or set(pair) != {"lora_A", "lora_B"}:
            raise ValueError(f"the adapter at {folder} holds an incomplete LoRA pair for {name}: pass an adapter "
                             "trained on this model")
        out_features, in_features = weight.shape[:2]
        if pair["lora_A"][1] != in_features or pair["lora_B"][0] != out_features:
            raise ValueError(f"the adapter at {folder} does not fit {name} (its LoRA maps {pair['lora_A'][1]} -> "
                             f"{pair['lora_B'][0]} features, the module {in_features} -> {out_features}): pass an "
                             "adapter trained on this model")


def merge_adapter(hf_model: nn.Module, folder: Path) -> nn.Module:
    """``hf_model`` with the LoRA adapter in ``folder`` merged into its weights (a plain model again)."""
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(hf_model, str(folder), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"the adapter at {folder} does not fit this model ({first[:200]}): pass an adapter "
                         "trained on the same base model") from None
    return peft_model.merge_and_unload().eval()
