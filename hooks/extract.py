"""``extract``: residual-stream activations for a list of texts, fast, exact, optionally cached.

Texts are tokenised once, grouped by length (longest first) into right-padded batches, run until
the deepest requested block, reduced to one vector per text and layer, and returned in the
caller's order as ``(n_texts, n_layers, d_model)``.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from veracity.atomic import check_writable_folder
from veracity.home import veracity_home
from veracity.hooks.cache import ActivationCache, texts_digest
from veracity.hooks.capture import StopForward, capture_residual, user_hooks
from veracity.hooks.convention import resolve_layers
from veracity.hooks.model import VeracityModel
from veracity.hooks.positions import apply_plan, check_position, pool_plan
from veracity.hooks.view import ActivationView

logger = logging.getLogger(__name__)


def apply_template(texts: Sequence[str], template: str | None) -> list[str]:
    """Fill ``template``'s ``{text}`` slot with each text (``None`` keeps texts as they are)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ValueError("texts must be a list of strings (wrap a single text in a list)")
    if len(texts) == 0:
        raise ValueError("no texts to extract: pass at least one string")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"text {i} is {t!r} ({type(t).__name__}), not a string: pass a list of strings")
    if template is None:
        return list(texts)
    if "{text}" not in template:
        raise ValueError("template must contain a '{text}' slot, e.g. 'Is this true? {text}'")
    unknown = sorted({name for name in re.findall(r"\{(\w+)\}", template) if name != "text"})
    if unknown:
        raise ValueError(f"template has the unknown field(s) {', '.join('{' + n + '}' for n in unknown)}: only "
                         "{text} is filled in; remove the others or write the text they stand for")
    return [template.replace("{text}", text) for text in texts]


TOKENIZE_SLICE = 1024
"""Texts tokenised per call: a fast tokenizer's per-text encodings (offsets, strings) for 50,000 texts at
once would cost about 0.15 GiB more than the ids kept (peak RSS of ``veracity extract``)."""


def tokenize(model: VeracityModel, prompts: list[str]) -> list[list[int]]:
    """Token ids per prompt, no padding; an empty tokenisation is an error."""
    ids = []
    for start in range(0, len(prompts), TOKENIZE_SLICE):
        ids += model.tokenizer(prompts[start:start + TOKENIZE_SLICE], add_special_tokens=True)["input_ids"]
    for i, row in enumerate(ids):
        if len(row) == 0:
            raise ValueError(f"text {i} tokenises to nothing: pass non-empty texts")
    return ids


def context_length(model: VeracityModel) -> int | None:
    """The model's context in tokens (``max_position_embeddings`` / ``n_positions``), if it states one."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def fit_context(model: VeracityModel, rows: list[list[int]], max_length: int | None) -> list[list[int]]:
    """Truncate rows to ``max_length`` tokens (warning how many were cut), or refuse rows beyond the context."""
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral) or max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        cut = sum(len(r) > max_length for r in rows)
        if cut:
            logger.warning("truncated %d of %d texts to their first %d tokens (max_length)", cut, len(rows), max_length)
        return [r[:max_length] for r in rows]
    limit = context_length(model)
    if limit is not None:
        for i, row in enumerate(rows):
            if len(row) > limit:
                raise ValueError(f"text {i} has {len(row)} tokens, more than {model.model_id}'s context of {limit}: "
                                 f"shorten it, or pass max_length={limit} to keep its first {limit} tokens")
    return rows


def right_pad(rows: list[list[int]], pad_id: int, device, left: bool = False
              ) -> tuple[Int[Tensor, "b pos"], Int[Tensor, "b pos"]]:
    """Stack token rows into right-padded ``input_ids`` and ``attention_mask`` (left-padded with ``left``: every row
    then ends on its last real token)."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return input_ids.to(device), mask.to(device)


def run_layers(
    model: VeracityModel, input_ids: Tensor, attention_mask: Tensor, layers: list[int], plan: tuple | None = None
) -> dict[int, Float[Tensor, "batch pos d_model"]]:
    """One forward pass through the model's backend up to the deepest of ``layers``; the residual stream at each.

    With ``plan`` (:func:`veracity.hooks.positions.pool_plan`) each layer comes back reduced to one
    vector per row; a model run on NDIF reduces on the server, so only those vectors travel.
    """
    if model.engine.remote:
        with torch.no_grad():
            return model.engine.read_residual(input_ids, attention_mask, layers, plan)
    with torch.no_grad(), capture_residual(model, layers) as store:
        try:
            model.engine.forward(input_ids, attention_mask)
        except StopForward:
            pass
    return store if plan is None else {layer: apply_plan(hidden, plan) for layer, hidden in store.items()}


def compute(
    model: VeracityModel,
    token_rows: list[list[int]],
    layers: list[int],
    position,
    batch_size: int,
    out_dtype: torch.dtype,
    progress: tqdm | None = None,
) -> Float[Tensor, "n layer d_model"]:
    """Run every text (length-grouped batches) and pool; rows come back in input order."""
    per_text = position if isinstance(position, list) else None
    order = sorted(range(len(token_rows)), key=lambda i: -len(token_rows[i]))
    out = torch.empty((len(token_rows), len(layers), model.d_model), dtype=out_dtype)
    pad_id = model.tokenizer.pad_token_id
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        input_ids, mask = right_pad([token_rows[i] for i in batch], pad_id, model.device)
        batch_positions = [per_text[i] for i in batch] if per_text is not None else None
        store = run_layers(model, input_ids, mask, layers, pool_plan(mask, position, batch_positions))
        pooled = [store[layer] for layer in layers]
        out[batch] = torch.stack(pooled, dim=1).to("cpu", out_dtype)
        if progress is not None:
            progress.update(len(batch))
    return out


def extract(
    model: VeracityModel,
    texts: Sequence[str],
    layers="all",
    position="last",
    batch_size: int = 16,
    template: str | None = None,
    dtype: torch.dtype = torch.float32,
    max_length: int | None = None,
    progress: bool = True,
    cache: bool | str | os.PathLike = False,
) -> Float[Tensor, "n layer d_model"]:
    """Residual-stream activations after the requested blocks, one vector per text and layer.

    Args:
        model: From :func:`veracity.hooks.load_model` (any backend; results agree).
        texts: The texts (filled into ``template`` if given).
        layers: ``"all"``, an int, a list (layer ``L`` = after block ``L``; negatives count from the
            end) or a layer spec string (``"every:4"``, ``"5,20"``, ``"10:20"``).
        position: ``"last"`` (last real token), ``"first"``, ``"mean"`` (over real tokens), an int
            (negative counts back from the last real token), or one int per text.
        batch_size: Texts per forward pass.
        template: A prompt with a ``{text}`` slot, e.g. ``"Is it true that {text}"``.
        dtype: Dtype of the returned tensor (on CPU): a floating ``torch.dtype`` or its name
            (``"float32"``, ``"bfloat16"``, ``"float16"``, ``"float64"``).
        max_length: Keep at most this many tokens of each text (the first ones), with a warning
            naming how many texts were cut. Default ``None``: a text longer than the model's
            context (``max_position_embeddings``) is refused with an error saying so.
        progress: Show a tqdm progress bar.
        cache: Store and reuse the result on disk (atomic, verified, resumable): ``True`` for
            ``<veracity_home>/cache``, or the cache folder. Sharding across processes, writing into
            a folder of your own, the chunk size and out-of-core views are :func:`extract_cached`'s.

    Returns:
        Tensor ``(n_texts, len(layers), d_model)`` on CPU, rows in the order of ``texts``.

    Example:
        >>> model = load_model("smollm2-135m")
        >>> acts = extract(model, ["The city of Paris is in France."], layers=[10, 15])
        >>> acts.shape
        torch.Size([1, 2, 576])
    """
    hooks = user_hooks(model) if cache is not False else []
    if hooks:
        _warn_once(model, f"the model has forward hooks registered outside veracity ({', '.join(hooks)}): "
                          "they change what it computes, so extract computes afresh and neither reads nor writes the "
                          "cache while they are there")
        cache = False
    if isinstance(cache, bool):
        if cache:
            return extract_cached(model, texts, layers, position, batch_size, template, dtype, max_length, progress)
    elif isinstance(cache, str | os.PathLike) and str(cache):
        return extract_cached(model, texts, layers, position, batch_size, template, dtype, max_length, progress,
                              cache_dir=cache)
    else:
        raise ValueError(f"cache must be True, False or a cache folder, got {cache!r}")
    prompts = apply_template(texts, template)
    layer_list = resolve_layers(layers, model.n_layers, model.model_id)
    position = check_position(position, len(prompts))
    _check_counts(batch_size=batch_size)
    dtype = output_dtype(dtype)
    token_rows = fit_context(model, tokenize(model, prompts), max_length)
    with tqdm(total=len(prompts), desc="extract", unit="text", disable=not progress, leave=False) as bar:
        return compute(model, token_rows, layer_list, position, batch_size, dtype, bar)


def extract_cached(
    model: VeracityModel,
    texts: Sequence[str],
    layers="all",
    position="last",
    batch_size: int = 16,
    template: str | None = None,
    dtype: torch.dtype = torch.float32,
    max_length: int | None = None,
    progress: bool = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    shard: tuple[int, int] | None = None,
    chunk_size: int = 256,
    assemble: bool = True,
):
    """:func:`extract` through the verified chunk cache: the cache's own entry point.

    The first nine arguments are :func:`extract`'s. The job (model fingerprint, texts, layers,
    position, template, dtype, active steering) is keyed; its chunks are written atomically with
    checksums, verified on every read, and a rerun computes only the chunks that are missing.

    Args:
        cache_dir: Where the cache lives; default ``<veracity_home>/cache``.
        out: Write the activations into this folder instead (the same resumable chunks and
            ``job.json``, read back with :func:`veracity.hooks.load_activations`). A folder that
            holds another job is refused.
        shard: ``(i, n)``: compute only chunks ``i, i+n, ...`` and return those rows; a later call
            without ``shard`` assembles the whole result from the chunks (several processes, one folder).
        chunk_size: Texts per chunk (the unit of resuming and of sharding).
        assemble: ``False``: keep no chunk in memory and return an
            :class:`veracity.hooks.view.ActivationView` of the folder, so peak memory is the model,
            a few batches and one chunk whatever the number of texts (no ``shard``).

    Returns:
        Tensor ``(n_texts, len(layers), d_model)`` on CPU (with ``shard``: only that shard's rows, in
        order), or the view (``assemble=False``).

    Example:
        >>> view = extract_cached(model, texts, layers="every:4", out="acts/cities", assemble=False)
    """
    hooks = user_hooks(model)
    if hooks:
        raise ValueError(f"the model has forward hooks registered outside veracity ({', '.join(hooks)}): a cached "
                         "result would not say what they changed; remove them (handle.remove()) or call extract "
                         "without a cache")
    prompts = apply_template(texts, template)
    layer_list = resolve_layers(layers, model.n_layers, model.model_id)
    position = check_position(position, len(prompts))
    _check_counts(batch_size=batch_size, chunk_size=chunk_size)
    dtype = output_dtype(dtype)
    if out is not None:
        check_writable_folder(out, "out")
    if not assemble and shard is not None:
        raise ValueError("assemble=False takes no shard: the view reads the whole folder")
    token_rows = fit_context(model, tokenize(model, prompts), max_length)
    root = Path(cache_dir) if cache_dir else veracity_home() / "cache"
    with tqdm(total=len(prompts), desc="extract", unit="text", disable=not progress, leave=False) as bar:
        return _extract_cached(model, prompts, token_rows, layer_list, position, batch_size, template,
                               dtype, chunk_size, shard, bar, root, out, assemble)


_WARNED: set[tuple[int, str]] = set()


def _warn_once(model, message: str) -> None:
    """Log ``message`` as a warning the first time for this model."""
    if (id(model), message) not in _WARNED:
        _WARNED.add((id(model), message))
        logger.warning(message)


def _check_counts(**counts) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def output_dtype(dtype) -> torch.dtype:
    """A floating ``torch.dtype`` from a dtype or its name; anything else is a one-line ``ValueError``."""
    names = ("float32", "bfloat16", "float16", "float64")
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in names:
        dtype = getattr(torch, dtype.removeprefix("torch."))
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype or one of {', '.join(names)}, got {dtype!r}")
    return dtype


def _extract_cached(model, prompts, token_rows, layers, position, batch_size, template, dtype,
                    chunk_size, shard, bar, root: Path, out=None, assemble: bool = True):
    description = {
        "model_id": model.model_id,
        "fingerprint": model.fingerprint,  # taken now, not at load: any weight edit changes it
        "compute_dtype": str(model.dtype),
        "texts_sha256": texts_digest(prompts),
        "n_texts": len(prompts),
        "layers": layers,
        "position": position if not isinstance(position, list) else texts_digest([str(p) for p in position]),
        "template": template,
        "dtype": str(dtype),
        "d_model": model.d_model,
        # Activations read inside steer(...) are steered: the active shifts are part of the key.
        "steering": [dict(entry) for entry in model.engine.steering] or None,
    }
    store = ActivationCache(root, description, chunk_size, folder=None if out is None else Path(out))
    store.write_description()
    store.remove_stray_temporaries()
    n_chunks = math.ceil(len(prompts) / chunk_size)
    mine = range(n_chunks) if shard is None else range(_check_shard(shard), n_chunks, shard[1])

    def compute_chunk(index: int) -> Tensor:
        rows = slice(index * chunk_size, (index + 1) * chunk_size)
        chunk_position = position[rows] if isinstance(position, list) else position
        logger.debug("computing chunk %d of %s", index, store.folder)
        return compute(model, token_rows[rows], layers, chunk_position, batch_size, dtype, bar)

    chunks = _fill(store, list(mine), compute_chunk, lambda i: bar.update(len(token_rows[i * chunk_size:
                                                                                         (i + 1) * chunk_size])),
                   keep=assemble)
    if not assemble:
        return ActivationView(store.folder)
    return torch.cat(chunks, dim=0) if chunks else torch.empty(0, len(layers), model.d_model, dtype=dtype)


def _fill(store: ActivationCache, indices: list[int], compute_chunk, done, keep: bool = True) -> list[Tensor]:
    """Every chunk in ``indices``: verified from disk, or claimed and computed here, or awaited from the
    process that claimed it (taken over if that process dies). ``keep=False`` returns nothing and holds
    at most one chunk in memory."""
    results: dict[int, Tensor] = {}
    pending = indices
    while pending:
        waiting = []
        for index in pending:
            acts = store.read_chunk(index)
            if acts is None:
                if not store.claim(index):
                    waiting.append(index)  # another live process is computing it
                    continue
                try:
                    acts = store.read_chunk(index)  # finished by someone between our read and our claim?
                    if acts is None:
                        acts = compute_chunk(index)
                        store.save_chunk(index, acts)
                finally:
                    store.release(index)
            else:
                done(index)
            if keep:
                results[index] = acts
            del acts
        if waiting and len(waiting) == len(pending):
            time.sleep(0.05)
        pending = waiting
    return [results[i] for i in indices] if keep else []


def _check_shard(shard) -> int:
    index, count = shard
    if not (isinstance(index, int) and isinstance(count, int) and count >= 1 and 0 <= index < count):
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    return index
