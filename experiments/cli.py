"""Command-line options from a config dataclass: one field, one option, help from the docstring.

A config is a dataclass whose Google-style ``Attributes:`` section gives a one-line description
of each field; :func:`parse_config` turns the fields into ``--field-name`` options (with that
text as ``--help``), parses ``argv`` and builds the config, so validation stays in
``__post_init__`` and the script, the docstring and ``--help`` cannot drift apart.

Example:
    >>> config = parse_config(SweepConfig, ["--dataset", "cities", "--out", "runs/x"])
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import inspect
import logging
import os
import re
import sys
import types
import typing

__all__ = ["OneLineParser", "attribute_docs", "build_parser", "one_line_errors", "parse_config",
           "script_logging", "study_main"]


def attribute_docs(cls) -> dict[str, str]:
    """Field name to its description from the ``Attributes:`` sections of ``cls`` and its bases.

    A subclass documents only the fields it adds or changes; the rest come from its bases.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_attribute_docs(klass))
    return docs


def _own_attribute_docs(cls) -> dict[str, str]:
    """The ``Attributes:`` section of ``cls``'s own docstring (not inherited)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    docs: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^\s{4}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith(" " * 8) and line.strip():
            docs[current] += " " + line.strip()
        elif line.strip() and not line.startswith(" "):
            break
    return docs


def _base_type(annotation):
    """``int | None`` -> ``int``; plain types pass through."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    return next(a for a in typing.get_args(annotation) if a is not type(None))


PROG: contextvars.ContextVar[str | None] = contextvars.ContextVar("veracity_prog", default=None)
"""The program name errors and ``--help`` show (``veracity run NAME`` sets it; else ``python -m MODULE``)."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit code 2), naming ``--help``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _prog(cls) -> str:
    """``python -m veracity.experiments.x`` for the module that defines ``cls`` (also when run as ``__main__``)."""
    if PROG.get():
        return PROG.get()
    module = cls.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec else None
    return f"python -m {module}" if module else None


def build_parser(cls, description: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one option per field of dataclass ``cls``.

    Fields without a default are required; booleans become ``--flag / --no-flag``; ``list[int]``
    and ``list[float]`` fields take one or more values (``--layers 8 12 16``).

    Args:
        cls: The config dataclass (annotations resolved with ``typing.get_type_hints``).
        description: Parser description (default: the first line of the class docstring).

    Returns:
        The parser.
    """
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    parser = OneLineParser(prog=_prog(cls), description=description or (inspect.getdoc(cls) or "").splitlines()[0])
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = _base_type(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        help_text = docs.get(f.name, "")
        if default not in (None, "") and "default" not in help_text.lower():
            help_text += f" (default: {default})"
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, dest=f.name, type=typing.get_args(kind)[0], nargs="+", default=default,
                                required=required, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=kind if kind in (int, float, str) else str,
                                default=default, required=required, help=help_text)
    return parser


def parse_config(cls, argv=None, description: str | None = None):
    """Parse ``argv`` (default ``sys.argv[1:]``) into an instance of config dataclass ``cls``.

    Invalid values are reported as a one-line command-line error (``parser.error``).
    """
    parser = build_parser(cls, description)
    args = parser.parse_args(argv)
    try:
        return cls(**vars(args))
    except (ValueError, OSError) as err:
        if os.environ.get("VERACITY_DEBUG"):
            raise
        parser.error(str(err))


def script_logging() -> None:
    """Log an experiment script's progress: INFO from ``experiments`` (and the script run as
    ``__main__``), warnings only from the libraries underneath."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in ("veracity.experiments", "__main__"):
        logging.getLogger(name).setLevel(logging.INFO)


@contextlib.contextmanager
def one_line_errors(module: str):
    """Turn bad-input errors inside the block into a one-line ``python -m MODULE: error: ...`` exit.

    ``ValueError`` (an unknown layer, a one-class dataset, a malformed CSV ...), ``TypeError`` (a
    value of the wrong kind) and ``OSError`` (a missing file, an unknown model) end the script with their message and no traceback. Set
    ``VERACITY_DEBUG=1`` to see the traceback instead. The exit code is 2, as for a usage error.

    Example:
        >>> with one_line_errors("veracity.experiments.truth.truth_sweep"):
        ...     run(config)
    """
    try:
        yield
    except (ValueError, TypeError, OSError) as err:
        if os.environ.get("VERACITY_DEBUG"):
            raise
        sys.stderr.write(f"{PROG.get() or 'python -m ' + module}: error: {err}\n")
        raise SystemExit(2) from None


def study_main(config_cls, run, argv=None, **models):
    """The command line of every study: parse ``argv`` into ``config_cls``, run with one-line errors, log the headline.

    Args:
        config_cls: The study's config dataclass.
        run: ``run(config, **models) -> Results``; its module's docstring describes the command
            (first line) and names it in error messages.
        argv: Command-line arguments (``None``: ``sys.argv``).
        **models: Models already loaded (``model=``, and ``other=`` for two-model studies), passed to ``run``.

    Returns:
        The :class:`~veracity.experiments.results.Results`.

    Example:
        >>> def main(argv=None, model=None):
        ...     return study_main(Config, run, argv, model=model)
    """
    import shutil
    from pathlib import Path

    from veracity.hooks.answer_store import resumable_answers
    from veracity.probes.evaluation import ci_text

    module = run.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec else module
    doc = sys.modules[run.__module__].__doc__ or config_cls.__doc__ or ""
    config = parse_config(config_cls, argv, description=doc.strip().splitlines()[0])
    script_logging()
    resume = Path(config.out) / ".resume"  # greedy answers kept batch by batch until the outputs are written
    with one_line_errors(module), resumable_answers(resume):
        results = run(config, **models)
    shutil.rmtree(resume, ignore_errors=True)
    log = logging.getLogger(module)
    width = max(map(len, results.headline), default=0)
    for name, entry in results.headline.items():
        log.info("%-*s %s", width, name, ci_text(entry))
    written = " and ".join(name for name in ("results.json", results.report) if name)
    log.info("wrote %s in %s", written, config.out)
    return results
