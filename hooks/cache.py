"""The on-disk activation cache: safetensors chunks + a JSON description, written atomically.

A job (model, texts, layers, position, dtype, template) gets one folder under
``<veracity_home>/cache/``. Its texts are split into fixed chunks; each finished chunk is written
to a temporary file and renamed into place, so an interrupted run leaves only whole chunks and
the next run resumes from them. Several processes (``shard=(i, n)``) can fill one folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from veracity.atomic import atomic_write, atomic_write_bytes
from veracity.hooks.convention import LAYER_CONVENTION, SITE

CACHE_FORMAT = 1


def job_key(description: dict) -> str:
    """A stable hash of a job description (sorted JSON)."""
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:20]


def texts_digest(texts: list[str]) -> str:
    """Hash of the exact prompt strings, in order."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


class ActivationCache:
    """One cached extraction job: a folder of chunk files and ``job.json``.

    Args:
        root: The cache folder (``<veracity_home>/cache``).
        description: What identifies the job (model, fingerprint, texts digest, layers, ...).
        chunk_size: Texts per chunk file.
    """

    def __init__(self, root: Path, description: dict, chunk_size: int, folder: Path | None = None):
        self.description = {**description, "chunk_size": chunk_size, "cache_format": CACHE_FORMAT}
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(description.get("model_id", "model")))[-40:]
        self.folder = Path(folder) if folder is not None else Path(root) / f"{slug}-{job_key(self.description)}"
        self.chunk_size = chunk_size

    def chunk_path(self, index: int) -> Path:
        """File of chunk ``index``."""
        return self.folder / f"chunk_{index:06d}.safetensors"

    def has_chunk(self, index: int) -> bool:
        """Whether chunk ``index`` was finished by this or an earlier run."""
        return self.chunk_path(index).is_file()

    def write_description(self) -> None:
        """Write ``job.json`` (what the chunks hold, the layer convention) if it is not there yet."""
        path = self.folder / "job.json"
        if path.is_file():
            if read_job(self.folder).get("job_key") != job_key(self.description):
                raise ValueError(f"{self.folder} already holds activations of another job (other texts, model, "
                                 "layers or options): choose a new output folder or delete that one")
        else:
            meta = {**self.description, "job_key": job_key(self.description), "site": SITE,
                    "layer_convention": LAYER_CONVENTION}
            atomic_write_bytes(path, json.dumps(meta, indent=2).encode())

    def save_chunk(self, index: int, activations: Tensor) -> None:
        """Atomically store one finished chunk."""
        tensors = {"activations": activations.contiguous()}
        atomic_write(self.chunk_path(index), lambda tmp: save_file(tensors, str(tmp)))

    def load_chunk(self, index: int) -> Tensor:
        """Read one chunk back."""
        return load_file(self.chunk_path(index))["activations"]

    def load_all(self, n_chunks: int) -> Tensor:
        """Concatenate every chunk; fails with a clear message if a shard has not finished."""
        missing = [i for i in range(n_chunks) if not self.has_chunk(i)]
        if missing:
            raise RuntimeError(
                f"cache {self.folder} is missing {len(missing)} of {n_chunks} chunks; "
                "run the remaining shards (or call extract without shard) to finish it"
            )
        return torch.cat([self.load_chunk(i) for i in range(n_chunks)], dim=0)


def read_job(folder: str | os.PathLike) -> dict:
    """The description (``job.json``) of a cache folder: model, layers, position, number of texts, ...

    Raises:
        FileNotFoundError: ``folder`` holds no ``job.json``.
        ValueError: ``job.json`` is not a JSON object.
    """
    path = Path(folder) / "job.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an activation folder (no job.json): pass the folder that "
                                "`veracity extract --out` or extract(..., out=...) wrote")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}): re-run the extraction into a new folder") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a JSON object: re-run the extraction into a new folder")
    return meta


def load_activations(folder: str | os.PathLike) -> Tensor:
    """Read the activations that ``veracity extract --out DIR`` (or ``extract(..., out=DIR)``) wrote.

    The layers, model, position and number of texts are recorded beside them in ``DIR/job.json``
    (read it with :func:`read_job`).

    Args:
        folder: The output folder of the extraction.

    Returns:
        Tensor ``(n_texts, n_layers, d_model)`` in input order.

    Raises:
        FileNotFoundError: Not an activation folder.
        RuntimeError: The extraction has not finished (rerun it: it resumes).

    Example:
        >>> acts = load_activations("runs/cities")
        >>> read_job("runs/cities")["layers"]
        [5, 20]
    """
    meta = read_job(folder)
    try:
        n_texts, chunk_size = int(meta["n_texts"]), int(meta["chunk_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{folder}/job.json lacks n_texts or chunk_size: re-run the extraction") from err
    store = ActivationCache(Path(folder).parent, {}, chunk_size, folder=Path(folder))
    return store.load_all(math.ceil(n_texts / chunk_size))
