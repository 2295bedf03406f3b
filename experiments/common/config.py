"""The options every study takes, declared once: model, device, dtype, seed, out, batch size, cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["DTYPES", "StudyConfig"]

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

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"--batch-size must be a positive integer, got {self.batch_size!r}")
        if not self.out:
            from veracity.hooks.convention import veracity_home

            self.out = str(veracity_home() / self.default_out())
        from veracity.atomic import check_writable_folder

        check_writable_folder(self.out, "--out")  # before any model is loaded

    def default_out(self) -> str:
        """The output folder under artifacts/ (studies may add a sub-folder, e.g. the dataset)."""
        return self.study

    @property
    def cache_dir(self) -> str | None:
        """``cache`` as extract() takes it (``None``: the default folder)."""
        return self.cache or None

    def load_model(self, backend: str = "hf", adapter=None):
        """Load ``model`` on ``device`` in ``dtype`` (with a LoRA ``adapter`` folder merged in, if given)."""
        from veracity.hooks import load_model

        return load_model(self.model, backend=backend, device=self.device or None, dtype=self.dtype or None,
                          adapter=adapter)
