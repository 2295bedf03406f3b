"""Greedy answers kept batch by batch: an interrupted run generates only the rest, and the same answers."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from veracity.hooks.answer_store import resumable_answers
from veracity.hooks.generation import generate


class Interrupted(Exception):
    pass


PROMPTS = [f"the city of {w} is in" for w in "paris rome tokyo lima cairo berlin paris rome tokyo".split()]


def _counting(model, stop_after: int | None = None) -> list[int]:
    """Count the model's generate calls (batches actually generated); optionally interrupt after some."""
    calls = []
    real = getattr(model.engine.generate, "__wrapped__", model.engine.generate)  # never count through a counter

    def counted(*args, **kwargs):
        if stop_after is not None and len(calls) == stop_after:
            raise Interrupted  # the run stops here, as Ctrl-C or a killed job would
        calls.append(1)
        return real(*args, **kwargs)

    counted.__wrapped__ = real
    model.engine.generate = counted
    return calls


def _batches(folder: Path) -> list[Path]:
    return sorted(folder.rglob("batch_*.json"))


def test_an_interrupted_run_generates_only_the_missing_batches_and_equals_an_uninterrupted_one(tiny, tmp_path):
    model = tiny("llama")
    whole = generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)  # no store: nothing written
    assert not list(tmp_path.iterdir())
    calls = _counting(model, stop_after=3)
    with resumable_answers(tmp_path), pytest.raises(Interrupted):
        generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)
    assert len(_batches(tmp_path)) == 3  # three of five batches finished before the interruption
    calls = _counting(model)
    with resumable_answers(tmp_path):
        resumed = generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)
    assert resumed == whole and len(calls) == 2 and len(_batches(tmp_path)) == 5
    with resumable_answers(tmp_path):  # everything kept: nothing generated
        again = generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)
    assert again == whole and len(calls) == 2


def test_other_weights_options_or_prompts_never_read_the_kept_answers(tiny, tmp_path):
    model = tiny("llama")
    with resumable_answers(tmp_path):
        generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)
        jobs = {p.parent for p in _batches(tmp_path)}
        generate(model, PROMPTS, max_new_tokens=5, batch_size=2, progress=False)
        generate(model, PROMPTS[:-1], max_new_tokens=4, batch_size=2, progress=False)
        generate(model, PROMPTS, max_new_tokens=4, batch_size=3, progress=False)
        with torch.no_grad():
            next(model.hf_model.parameters()).add_(0.01)  # an edit, as an adapter or a fine-tune would make
        calls = _counting(model)
        generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)
    assert len({p.parent for p in _batches(tmp_path)}) == 5 and len(jobs) == 1 and len(calls) == 5
    with resumable_answers(tmp_path):  # sampling is never kept (its random state runs across batches)
        generate(model, PROMPTS, max_new_tokens=4, num_samples=2, batch_size=2, progress=False)
    assert len({p.parent for p in _batches(tmp_path)}) == 5


@pytest.mark.parametrize("damage", ["truncate", "tamper", "move"])
def test_a_damaged_answer_file_is_generated_again_never_read(tiny, tmp_path, caplog, damage):
    model = tiny("llama")
    with resumable_answers(tmp_path):
        whole = generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False)
    first, second = _batches(tmp_path)[:2]
    if damage == "truncate":
        first.write_bytes(first.read_bytes()[:40])
    elif damage == "tamper":  # valid JSON, another answer: the digest no longer matches
        record = json.loads(first.read_text())
        record["answers"][0] = ["Lisbon"]
        first.write_text(json.dumps(record))
    else:  # a batch's file copied into another slot
        second.write_bytes(first.read_bytes())
        first = second
    calls = _counting(model)
    with resumable_answers(tmp_path), caplog.at_level(logging.WARNING):
        assert generate(model, PROMPTS, max_new_tokens=4, batch_size=2, progress=False) == whole
    assert len(calls) == 1 and f"answer file {first} is corrupt" in caplog.text


def test_a_study_keeps_its_answers_until_its_outputs_are_written(tiny, tmp_path):
    from veracity.experiments.cli import study_main
    from veracity.experiments.config import StudyConfig
    from veracity.experiments.results import Results

    @dataclass
    class Config(StudyConfig):
        """A study that answers the prompts and fails while --seed is 1."""

        study = "answers"

    def run(config, model):
        generate(model, PROMPTS, max_new_tokens=3, batch_size=4, progress=False)
        if config.seed == 1:
            raise ValueError("stopped after answering: rerun with --seed 0")
        return Results("answers", {"id": model.model_id}, {}, {})

    model, out = tiny("llama"), tmp_path / "out"
    with pytest.raises(SystemExit):
        study_main(Config, run, ["--seed", "1", "--out", str(out)], model=model)
    assert len(_batches(out / ".resume")) == 3
    calls = _counting(model)
    study_main(Config, run, ["--out", str(out)], model=model)
    assert not calls and not (out / ".resume").exists()  # read back, then removed with the outputs written


def test_greedy_and_samples_resume_from_the_samplers_state_after_each_kept_batch(tiny, tmp_path, monkeypatch):
    from veracity.hooks import generation

    model = tiny("llama")
    options = {"k": 3, "max_new_tokens": 4, "batch_size": 2, "seed": 5, "progress": False}
    whole = generation.greedy_and_samples(model, PROMPTS, **options)
    real, calls = generation._greedy_and_samples, []

    def counted(*args, stop_after=None):
        if stop_after is not None and len(calls) == stop_after:
            raise Interrupted
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(generation, "_greedy_and_samples", lambda *a: counted(*a, stop_after=2))
    with resumable_answers(tmp_path), pytest.raises(Interrupted):
        generation.greedy_and_samples(model, PROMPTS, **options)
    calls.clear()
    monkeypatch.setattr(generation, "_greedy_and_samples", counted)
    with resumable_answers(tmp_path):
        resumed = generation.greedy_and_samples(model, PROMPTS, **options)
    assert len(calls) == 3 and resumed == whole  # the samples too: the sampler went on from batch 2's state
    assert len({row for rows in whole[1] for row in rows}) > len(PROMPTS)  # they are samples, not one answer
