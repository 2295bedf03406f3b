"""Greedy answers kept batch by batch on disk, so an interrupted study answers only what it had not.

Inside :func:`resumable_answers`, every greedy :func:`veracity.hooks.generate` call writes each finished
batch of answers to its own JSON file (atomically), in a folder named by what determines them: the
model's weights as they are now (:attr:`VeracityModel.fingerprint`, adapters and edits included), its
compute dtype, its tokenizer, any active steering, the prompts and the generation options. Run again,
the same call reads the batches it finds and generates the rest; batches are the same slices of the
prompts as before, so the answers equal an uninterrupted run's. A file that does not verify (its
digest, its place in the job) is deleted with a warning and generated again: never read as data.
Every study's command line runs inside ``resumable_answers(<out>/.resume)`` and removes the folder
once its outputs are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from veracity.atomic import atomic_write_bytes
from veracity.hooks.cache import job_key, texts_digest

__all__ = ["AnswerStore", "answer_store", "resumable_answers"]

logger = logging.getLogger(__name__)

ANSWER_FORMAT = 1  # raise when what generate() returns for the same inputs changes
_FOLDER: ContextVar[Path | None] = ContextVar("veracity_resumable_answers", default=None)


@contextmanager
def resumable_answers(folder: str | Path) -> Iterator[Path]:
    """Inside the block, greedy generation keeps its finished batches under ``folder`` and reads them back.

    Example:
        >>> with resumable_answers("artifacts/my_study/.resume"):  # doctest: +SKIP
        ...     answers = generate(model, prompts)  # interrupted half-way? the rerun generates the other half
    """
    token = _FOLDER.set(Path(folder))
    try:
        yield Path(folder)
    finally:
        _FOLDER.reset(token)


class AnswerStore:
    """The answer files of one generation job (one folder, one file per batch)."""

    def __init__(self, root: Path, description: dict, n_prompts: int, batch_size: int):
        self.description = {"answer_format": ANSWER_FORMAT, **description, "n_prompts": n_prompts,
                            "batch_size": batch_size}
        self.key = job_key(self.description)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(description.get("model_id", "model")))[-40:]
        self.folder = Path(root) / "answers" / f"{slug}-{self.key[:24]}"
        self.n_prompts, self.batch_size = n_prompts, batch_size

    def path(self, index: int) -> Path:
        return self.folder / f"batch_{index:06d}.json"

    def rows(self, index: int) -> int:
        return min(self.batch_size, self.n_prompts - index * self.batch_size)

    def read(self, index: int) -> dict | None:
        """Batch ``index``'s record (``answers``, and ``state`` where one was kept) if its file is there and
        verifies; ``None`` (a bad file deleted) otherwise."""
        path = self.path(index)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_bytes())
            answers = record["answers"]
            problem = ("it belongs to another job" if record.get("job_key") != self.key
                       else "it sits in another slot" if record.get("index") != index
                       else "its digest does not match" if record.get("sha256") != _digest([answers, record.get("state")])
                       else f"it holds {len(answers)} answers, not {self.rows(index)}"
                       if len(answers) != self.rows(index) else None)
        except (ValueError, KeyError, TypeError, OSError) as err:
            problem = f"it cannot be read ({type(err).__name__})"
        if problem is None:
            return record
        logger.warning("answer file %s is corrupt (%s): generating that batch again", path, problem)
        path.unlink(missing_ok=True)
        return None

    def write(self, index: int, answers: list[list[str]], state: str | None = None) -> None:
        """Store batch ``index``'s answers (and the random state after it, for sampling) atomically, bound to this
        job and slot."""
        record = {"job_key": self.key, "index": index, "sha256": _digest([answers, state]), "answers": answers,
                  "state": state}
        atomic_write_bytes(self.path(index), json.dumps(record).encode())


def _digest(answers) -> str:
    return hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()


def _vocab_digest(tok) -> str:
    """A digest of the tokenizer's vocabulary, remembered on it while its size stays the same (0.4 s for Gemma's)."""
    memo = getattr(tok, "_veracity_vocab_digest", None)
    if memo is None or memo[0] != len(tok):
        memo = (len(tok), texts_digest(sorted(f"{t}\t{i}" for t, i in tok.get_vocab().items())))
        try:
            tok._veracity_vocab_digest = memo
        except AttributeError:  # a tokenizer that takes no attributes: computed each time
            pass
    return memo[1]


def answer_store(model, prompts: Sequence[str], options: dict, batch_size: int) -> AnswerStore | None:
    """The store for this greedy call inside :func:`resumable_answers`; ``None`` outside it."""
    root = _FOLDER.get()
    if root is None:
        return None
    tok = model.tokenizer
    description = {
        "model_id": model.model_id,
        "fingerprint": model.fingerprint,  # the weights as they are now: an adapter or edit changes it
        "compute_dtype": str(model.dtype),
        "tokenizer": [type(tok).__name__, getattr(tok, "name_or_path", ""), len(tok), tok.pad_token_id,
                      tok.eos_token_id, _vocab_digest(tok)],
        "steering": [dict(entry) for entry in model.engine.steering] or None,
        "prompts_sha256": texts_digest(list(prompts)),
        "options": options,
    }
    return AnswerStore(root, description, len(prompts), batch_size)
