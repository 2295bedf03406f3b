"""Activations larger than memory: a finished extraction folder read chunk by chunk from disk.

``load_activations(DIR, mmap=True)`` (or ``extract_cached(..., out=DIR, assemble=False)``) returns an
:class:`ActivationView` instead of one tensor. It holds no activations itself: each chunk file is
verified (its checksum and its place in the job) the first time the view touches it, and again
whenever the file changed underneath (size, modification time or inode), then read through
safetensors' memory map, one chunk (or one layer of a chunk) at a time. ``view.layer(L)`` is the 2-D view of one
layer that ``LogisticProbe``, ``MassMeanProbe`` and ``PIKHead`` fit from in chunks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from torch import Tensor

from veracity.hooks.cache import ActivationCache, read_job

__all__ = ["ActivationView", "load_activations"]


class ActivationView:
    """A read-only, chunked view of ``(n_texts, n_layers, d_model)`` activations on disk.

    Args:
        folder: The output folder of a finished extraction.

    Attributes:
        layers: The model layers the job holds (layer ``L`` = after block ``L``).

    Example:
        >>> view = load_activations("runs/cities", mmap=True)
        >>> view.shape
        (80000, 30, 576)
        >>> probe = LogisticProbe().fit(view.layer(12), labels)   # streams over the chunks
        >>> first = view[:100]                                      # a tensor of 100 rows
    """

    def __init__(self, folder: str | os.PathLike, _layer: int | None = None):
        self.folder = Path(folder)
        meta = read_job(self.folder)
        try:
            self._n, self._chunk_size = int(meta["n_texts"]), int(meta["chunk_size"])
            self.layers = [int(layer) for layer in meta["layers"]]
            self._d = int(meta["d_model"])
            self._dtype = getattr(torch, str(meta["dtype"]).removeprefix("torch."))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"{self.folder}/job.json lacks n_texts, chunk_size, layers, d_model or dtype "
                             f"({err}): re-run the extraction") from None
        self._store = ActivationCache(self.folder.parent, meta, self._chunk_size, folder=self.folder)
        self.n_chunks = math.ceil(self._n / self._chunk_size)
        missing = [i for i in range(self.n_chunks) if not self._store.chunk_path(i).is_file()]
        if missing:
            raise RuntimeError(f"{self.folder} is missing {len(missing)} of {self.n_chunks} chunks: run the "
                               "extraction again (it computes only what is missing)")
        self._layer = _layer
        self._verified: dict[int, tuple[int, int, int]] = {}  # chunk -> (size, mtime_ns, inode) when verified

    # ---------------------------------------------------------------- shape
    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_texts, n_layers, d_model)``, or ``(n_texts, d_model)`` for a one-layer view."""
        return (self._n, self._d) if self._layer is not None else (self._n, len(self.layers), self._d)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def chunk_size(self) -> int:
        """Rows per chunk (the last chunk may hold fewer)."""
        return self._chunk_size

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        part = f", layer {self.layers[self._layer]}" if self._layer is not None else ""
        return f"ActivationView({str(self.folder)!r}, shape {self.shape}{part}, {self.n_chunks} chunks)"

    def layer(self, layer: int) -> ActivationView:
        """The 2-D ``(n_texts, d_model)`` view of model layer ``layer`` (one the job holds)."""
        if self._layer is not None:
            raise ValueError("this view already holds one layer")
        if isinstance(layer, bool) or not isinstance(layer, int) or layer not in self.layers:
            raise ValueError(f"layer {layer!r} is not in this extraction (it holds layers {self.layers})")
        view = ActivationView.__new__(ActivationView)
        view.__dict__.update(self.__dict__)
        view._layer = self.layers.index(layer)
        view._verified = self._verified  # shared: a chunk is verified once per folder view (until it changes)
        return view

    # --------------------------------------------------------------- reading
    def chunk(self, index: int) -> Tensor:
        """Rows of chunk ``index`` (all layers, or this view's layer), verified on first touch."""
        if not 0 <= index < self.n_chunks:
            raise IndexError(f"chunk {index} out of range (0..{self.n_chunks - 1})")
        path = self._store.chunk_path(index)
        if self._verified.get(index) != _identity(path):
            self._store.checked_chunk(index)  # a bad chunk is refused in one line, left on disk
            self._verified[index] = _identity(path)
        try:
            with safe_open(str(path), framework="pt") as handle:
                part = handle.get_slice("activations")
                values = part[:, self._layer] if self._layer is not None else part[:]
        except Exception as err:  # safetensors' own errors: the file changed while it was read
            raise ValueError(f"{path} changed while it was read ({type(err).__name__}): run the extraction into "
                             "this folder again (it recomputes that chunk)") from None
        if self._verified.get(index) != _identity(path):
            return self.chunk(index)  # replaced between the check and the read: verify the new file
        return values

    def chunks(self) -> Iterator[Tensor]:
        """Every chunk in row order (one chunk in memory at a time)."""
        for index in range(self.n_chunks):
            yield self.chunk(index)

    def __getitem__(self, rows) -> Tensor:
        """Rows (an int, a slice, or integer/boolean indices) as a tensor; further axes as for a tensor."""
        rest = ()
        if isinstance(rows, tuple):
            rows, rest = rows[0], rows[1:]
        wanted = np.arange(self._n)[rows]
        single = np.ndim(wanted) == 0
        wanted = np.atleast_1d(wanted)
        parts = []
        for index in np.unique(wanted // self._chunk_size):
            chunk = self.chunk(int(index))
            mask = wanted // self._chunk_size == index
            parts.append((np.flatnonzero(mask), chunk[torch.from_numpy(wanted[mask] - index * self._chunk_size)]))
        out = torch.empty((len(wanted), *self.shape[1:]), dtype=self._dtype)
        for where, values in parts:
            out[torch.from_numpy(where)] = values
        out = out[0] if single else out
        return out[(slice(None), *rest)] if rest and not single else (out[rest] if rest else out)

    def to_tensor(self) -> Tensor:
        """Everything in memory as one tensor (what ``load_activations(DIR)`` returns)."""
        return torch.cat(list(self.chunks()), dim=0)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self.to_tensor()
        array = (values.float() if values.dtype == torch.bfloat16 else values).numpy()
        return array if dtype is None else array.astype(dtype)


def _identity(path: Path) -> tuple[int, int, int] | None:
    """``(size, mtime_ns, inode)`` of a file, ``None`` if it is gone."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def load_activations(folder: str | os.PathLike, mmap: bool = False):
    """Read the activations that ``veracity extract --out DIR`` (or ``extract_cached(..., out=DIR)``) wrote.

    The layers, model, position and number of texts are recorded beside them in ``DIR/job.json``
    (read it with :func:`read_job`).

    Args:
        folder: The output folder of the extraction.
        mmap: Return a :class:`veracity.hooks.view.ActivationView` that reads the chunks from disk
            one at a time (memory-mapped, each verified on first touch) instead of one tensor:
            for activations larger than memory.

    Returns:
        Tensor ``(n_texts, n_layers, d_model)`` in input order (or the view).

    Raises:
        FileNotFoundError: Not an activation folder.
        RuntimeError: The extraction has not finished (rerun it: it resumes).
        ValueError: ``job.json`` was edited, or a chunk does not verify or belongs to another job or slot
            (refused in one line; nothing on disk is changed).

    Example:
        >>> acts = load_activations("runs/cities")
        >>> read_job("runs/cities")["layers"]
        [5, 20]
    """
    if mmap:
        return ActivationView(folder)
    meta = read_job(folder)
    try:
        n_texts, chunk_size = int(meta["n_texts"]), int(meta["chunk_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{folder}/job.json lacks n_texts or chunk_size: re-run the extraction") from err
    store = ActivationCache(Path(folder).parent, meta, chunk_size, folder=Path(folder))
    return store.load_all(math.ceil(n_texts / chunk_size))
