"""The options every study takes, declared once: model, device, dtype, seed, out, batch size, cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from veracity.constraints import Interval, check_constraints, declared

__all__ = ["DTYPES", "QuestionsConfig", "StudyConfig"]

DTYPES = ("", "float32", "bfloat16", "float16")


@dataclass(kw_only=True)
class StudyConfig:
    """Options common to every study.

    Attributes:
        model: Model name or folder (default: the embedded SmolLM2-135M-Instruct).
        device: cpu, cuda or cuda:N (default: cuda when present).
        dtype: Compute dtype: float32, bfloat16 or float16 (default: float32 on CPU, bfloat16 on GPU).
        seed: Seed for sampling, splits and restarts.
        out: Output folder (default: artifacts/<study>).
        batch_size: Texts per forward pass.
        cache: Activation cache folder (default: artifacts/cache).
    """

    model: str = "smollm2-135m"
    device: str = ""
    dtype: str = ""
    seed: int = 0
    out: str = ""
    batch_size: int = 16
    cache: str = ""

    study: ClassVar[str] = "study"
    """Folder name under artifacts/ when ``out`` is not given."""

    constraints: ClassVar[dict] = {"seed": [Interval(int)], "batch_size": [Interval(int, 1)]}
    """Setting -> what it may be (:mod:`veracity.constraints`); a subclass declares only its own, and
    every class's constraints are checked, with one wording, before the subclass's own checks run."""

    def __post_init__(self):
        check_constraints(self, declared(type(self), "constraints"), name=lambda field: "--" + field.replace("_", "-"))
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        if not self.out:
            from veracity.home import veracity_home

            self.out = str(veracity_home() / self.default_out())
        from veracity.atomic import check_writable_folder

        check_writable_folder(self.out, "--out")  # before any model is loaded
        if getattr(self, "adapter", ""):
            from veracity.hooks.adapters import check_adapter

            try:
                check_adapter(self.adapter)  # a missing or damaged adapter fails before any model work
            except (OSError, ValueError) as err:
                raise type(err)(f"--adapter: {err}") from None

    def default_out(self) -> str:
        """The output folder under artifacts/ (studies may add a sub-folder, e.g. the dataset)."""
        return self.study

    @property
    def activation_cache(self) -> str | bool:
        """``cache`` as :func:`~veracity.hooks.extract` takes it: the folder, or ``True`` for the default one."""
        return self.cache or True

    def load_model(self, backend: str = "hf", adapter=None):
        """Load ``model`` on ``device`` in ``dtype`` (with a LoRA ``adapter`` folder merged in, if given)."""
        from veracity.hooks import load_model

        return load_model(self.model, backend=backend, device=self.device or None, dtype=self.dtype or None,
                          adapter=adapter)


@dataclass(kw_only=True)
class QuestionsConfig(StudyConfig):
    """Options of a study over checkable questions.

    Attributes:
        questions: Your own questions instead of the built-in capitals: a CSV with columns question,answer
            (alternatives separated by |) and optional topic.
        n: Use a seeded sample of at most this many questions (0 = all).
    """

    questions: str = ""
    n: int = 0

    constraints: ClassVar[dict] = {"n": [Interval(int, 0, note="0 = all questions")]}

    def __post_init__(self):
        super().__post_init__()
        if self.questions:
            from veracity.data import load_questions_csv

            load_questions_csv(self.questions)  # a bad file is reported before any model loads

    def load_questions(self):
        """The ``--questions`` CSV or the built-in capitals, then a seeded sample of ``--n`` (a ``QADataset``)."""
        from veracity.data import capital_questions, load_questions_csv

        data = load_questions_csv(self.questions) if self.questions else capital_questions()
        return data.sample(self.n, self.seed) if self.n else data
