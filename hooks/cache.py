"""The on-disk activation cache: safetensors chunks + a JSON description, written atomically.

A job (model, texts, layers, position, dtype, template, active steering) gets one folder under
``<veracity_home>/cache/``. Its texts are split into fixed chunks; each finished chunk is written
to a temporary file and renamed into place, so an interrupted run leaves only whole chunks and
the next run resumes from them. Several processes (``shard=(i, n)``) can fill one folder.

Several processes on the same job split its chunks: each takes a chunk by creating
``claim_NNNNNN`` (holding its pid) before computing it, skips chunks another live process holds,
and waits for those at the end; a claim whose process was killed is taken over. Claims use
process ids, so the processes must share one machine.

Every chunk carries in its safetensors header a SHA-256 of its data, its shape and dtype, and
where it belongs: the job's key, its chunk index, its row range and its layers (and the job's
description). Every read checks all of them against the file and against what the job expects. A
chunk that fails (flipped bytes, truncated, wrong rows or width or dtype, a missing key, not
safetensors at all, a valid chunk of another job or of another slot of this one) is never returned
as data: :func:`~veracity.hooks.extract_cached` logs it with its path, deletes it and computes it
again; reading a finished folder (``load_activations``) refuses it in one line and leaves the
user's files alone. ``job.json`` carries its own key and is checked against it on every open: an
edited job is refused, naming the fields that differ from what the chunks were written for.
Temporary files left by killed writers (their process is gone) are removed when a job starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from veracity.atomic import atomic_write, atomic_write_bytes
from veracity.hooks.convention import LAYER_CONVENTION, SITE

CACHE_FORMAT = 3

ANNOTATIONS = ("job_key", "site", "layer_convention")
"""Fields ``job.json`` adds to the description it is keyed by."""

logger = logging.getLogger(__name__)


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
        description = {k: v for k, v in description.items() if k not in ANNOTATIONS}
        self.description = {"cache_format": CACHE_FORMAT, **description, "chunk_size": chunk_size}
        self.key = job_key(self.description)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(description.get("model_id", "model")))[-40:]
        self.folder = Path(folder) if folder is not None else Path(root) / f"{slug}-{self.key}"
        self.chunk_size = chunk_size

    def chunk_path(self, index: int) -> Path:
        """File of chunk ``index``."""
        return self.folder / f"chunk_{index:06d}.safetensors"

    def write_description(self) -> None:
        """Write ``job.json`` (what the chunks hold, the layer convention) if it is not there yet.

        A folder that holds another job is refused, unless that job never finished a chunk (a run
        that failed before writing anything): then its ``job.json`` is replaced.
        """
        path = self.folder / "job.json"
        if path.is_file() and read_job(self.folder).get("job_key") != self.key:
            if any(self.folder.glob("chunk_*.safetensors")):
                raise ValueError(f"{self.folder} already holds activations of another job (other texts, model, "
                                 "layers or options): choose a new output folder or delete that one")
            logger.info("%s held the description of a job that wrote no chunk: replacing it", path)
            path.unlink()
        if not path.is_file():
            meta = {**self.description, "job_key": self.key, "site": SITE, "layer_convention": LAYER_CONVENTION}
            atomic_write_bytes(path, json.dumps(meta, indent=2).encode())

    def save_chunk(self, index: int, activations: Tensor) -> None:
        """Atomically store one finished chunk, its header binding it to this job and this slot."""
        acts = activations.contiguous()
        header = {"sha256": _digest(acts), "shape": json.dumps(list(acts.shape)), "dtype": str(acts.dtype),
                  **self.slot(index), "job": json.dumps(self.description, sort_keys=True)}
        atomic_write(self.chunk_path(index), lambda tmp: save_file({"activations": acts}, str(tmp), metadata=header))

    def slot(self, index: int) -> dict[str, str]:
        """Where chunk ``index`` belongs, as its header records it: job key, index, row range, layers."""
        start = index * self.chunk_size
        return {"job_key": self.key, "index": str(index), "rows": json.dumps([start, start + self.expected_shape(index)[0]]),
                "layers": json.dumps(self.description["layers"])}

    def expected_shape(self, index: int) -> tuple[int, int, int]:
        """``(rows, layers, d_model)`` chunk ``index`` must have."""
        n, layers = int(self.description["n_texts"]), self.description["layers"]
        rows = min(self.chunk_size, n - index * self.chunk_size)
        return rows, len(layers), int(self.description["d_model"])

    def read_chunk(self, index: int) -> Tensor | None:
        """Chunk ``index`` if it exists and verifies; ``None`` (after deleting a bad file: it is recomputed) otherwise."""
        path = self.chunk_path(index)
        if not path.is_file():
            return None
        try:
            acts = self.verified_chunk(index)
        except _CorruptChunk as err:
            logger.warning("cache chunk %s is corrupt (%s): computing it again", path, err)
            path.unlink(missing_ok=True)
            return None
        return acts

    def verified_chunk(self, index: int) -> Tensor:
        """Chunk ``index`` checked against its header and its place in this job; :class:`_CorruptChunk` if not."""
        return _verified(self.chunk_path(index), self.expected_shape(index), self.description["dtype"],
                         self.slot(index))

    def checked_chunk(self, index: int) -> Tensor:
        """Chunk ``index`` of a finished folder, verified; a bad one is refused in one line and left on disk."""
        path = self.chunk_path(index)
        if not path.is_file():
            raise RuntimeError(f"{self.folder} is missing chunk {index}: run the extraction again (it computes "
                               "only what is missing), or the remaining shards")
        try:
            return self.verified_chunk(index)
        except _CorruptChunk as err:
            raise ValueError(f"{path} cannot be read as this job's chunk {index} ({err}): run the extraction "
                             "into this folder again (it recomputes that chunk); nothing was changed") from None

    def load_all(self, n_chunks: int) -> Tensor:
        """Concatenate every chunk, each verified; a missing or bad chunk is refused in one line (nothing deleted)."""
        return torch.cat([self.checked_chunk(i) for i in range(n_chunks)], dim=0)

    def claim(self, index: int) -> bool:
        """Try to take chunk ``index`` for this process (``claim_NNNNNN`` holding our pid).

        Returns ``False`` while another live process holds it. A claim whose process is gone (killed),
        or an empty claim older than a few seconds, is taken over.
        """
        path = self.folder / f"claim_{index:06d}"
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._stale(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return True
        return False

    def release(self, index: int) -> None:
        """Give chunk ``index``'s claim back."""
        (self.folder / f"claim_{index:06d}").unlink(missing_ok=True)

    @staticmethod
    def _stale(path: Path) -> bool:
        try:
            text, age = path.read_text().strip(), time.time() - path.stat().st_mtime
        except (FileNotFoundError, UnicodeDecodeError):
            return True
        if not text.isdigit():
            return age > 5.0  # a claimer killed between creating and writing its claim
        return not _alive(int(text))

    def remove_stray_temporaries(self) -> None:
        """Delete temporary files and claims of writers whose process no longer runs (killed mid-write)."""
        for claim in self.folder.glob("claim_*"):
            if self._stale(claim):
                claim.unlink(missing_ok=True)
        for tmp in self.folder.glob(".*.tmp"):
            pid = _writer_pid(tmp.name)
            if pid is not None and not _alive(pid):
                tmp.unlink(missing_ok=True)
                logger.info("removed %s, left by a killed writer", tmp)


class _CorruptChunk(Exception):
    """A chunk file that must not be read as data."""


def _digest(t: Tensor) -> str:
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def _verified(path: Path, shape: tuple[int, int, int], dtype: str, slot: dict[str, str]) -> Tensor:
    """Read a chunk and check it against its header, the job and its slot; :class:`_CorruptChunk` if anything differs."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta, keys = handle.metadata() or {}, list(handle.keys())
            if keys != ["activations"]:
                raise _CorruptChunk(f"holds tensors {keys}, not 'activations'")
            acts = handle.get_tensor("activations")
    except _CorruptChunk:
        raise
    except Exception as err:  # safetensors raises its own error types for truncated / foreign files
        raise _CorruptChunk(f"unreadable: {type(err).__name__}: {str(err)[:120]}") from None
    if tuple(acts.shape) != tuple(shape):
        raise _CorruptChunk(f"shape {tuple(acts.shape)}, expected {tuple(shape)}")
    if str(acts.dtype) != dtype or meta.get("dtype") != dtype:
        raise _CorruptChunk(f"dtype {acts.dtype} (header {meta.get('dtype')}), expected {dtype}")
    if meta.get("shape") != json.dumps(list(shape)):
        raise _CorruptChunk(f"header shape {meta.get('shape')}, expected {list(shape)}")
    if meta.get("job_key") != slot["job_key"]:
        raise _CorruptChunk(f"written for another job (key {meta.get('job_key')}, this job is {slot['job_key']})")
    for field in ("index", "rows", "layers"):
        if meta.get(field) != slot[field]:
            raise _CorruptChunk(f"written for {field} {meta.get(field)}, this slot is {field} {slot[field]}")
    if meta.get("sha256") != _digest(acts):
        raise _CorruptChunk("checksum mismatch")
    return acts


def _writer_pid(name: str) -> int | None:
    """The writer's process id in a temporary name ``.TARGET.PID.RANDOM.tmp`` (see veracity.atomic)."""
    parts = name.split(".")
    return int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_job(folder: str | os.PathLike) -> dict:
    """The description (``job.json``) of a cache folder: model, layers, position, number of texts, ...

    Raises:
        FileNotFoundError: ``folder`` holds no ``job.json``.
        ValueError: ``job.json`` is not a JSON object.
    """
    path = Path(folder) / "job.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an activation folder (no job.json): pass the folder that "
                                "`veracity extract --out` or extract_cached(..., out=...) wrote")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}): re-run the extraction into a new folder") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a JSON object: re-run the extraction into a new folder")
    description = {k: v for k, v in meta.items() if k not in ANNOTATIONS}
    if meta.get("job_key") != job_key(description):
        raise ValueError(f"{path} was edited: {_edited_fields(Path(folder), description)} no longer match what its "
                         "chunks were written for (its key); restore it or re-run the extraction into a new folder")
    return meta


def _edited_fields(folder: Path, description: dict) -> str:
    """Which fields of ``job.json`` differ from the description a chunk recorded (``"its fields"`` without one)."""
    for chunk in sorted(folder.glob("chunk_*.safetensors")):
        try:
            with safe_open(str(chunk), framework="pt") as handle:
                written = json.loads((handle.metadata() or {})["job"])
        except Exception:  # an unreadable chunk says nothing about the job; try the next
            continue
        fields = sorted(k for k in {*written, *description} if written.get(k) != description.get(k))
        if fields:
            return ", ".join(f"{k} ({description.get(k)!r}, written {written.get(k)!r})" for k in fields)
    return "its fields"
