"""The ``veracity`` command line.

``veracity export VECTOR.json --format gguf|safetensors --out PATH`` converts a saved
:class:`~steering.vector.SteeringVector` (``NAME.json`` + ``NAME.safetensors``) for other tools.
Errors are one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

logger = logging.getLogger("veracity")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (sub-command ``export``)."""
    parser = argparse.ArgumentParser(prog="veracity", description="Read and steer what language models believe.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser(
        "export", help="convert a saved steering vector for llama.cpp (gguf) or as one safetensors file",
        description="Convert a steering vector saved as NAME.json + NAME.safetensors.")
    export.add_argument("vector", help="the vector's NAME.json (or NAME.safetensors / NAME)")
    export.add_argument("--format", required=True, help="output format: gguf (llama.cpp --control-vector) "
                        "or safetensors (one file, provenance in the header)")
    export.add_argument("--out", required=True, help="output file path")
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"veracity: error: {message}\n")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        Exit code: 0 on success, 2 on a usage or input error.

    Example:
        >>> main(["export", "artifacts/honesty.json", "--format", "gguf", "--out", "honesty.gguf"])
        0
    """
    from steering.export import FORMATS, export
    from steering.vector import SteeringVector

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    if args.format not in FORMATS:
        return _fail(f"unknown format {args.format!r}: use {' or '.join(FORMATS)}")
    stem = Path(args.vector)
    stem = stem.with_suffix("") if stem.suffix in (".json", ".safetensors") else stem
    for needed in (stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")):
        if not needed.is_file():
            return _fail(f"{needed} not found: pass a vector saved with SteeringVector.save (NAME.json)")
    try:
        vector = SteeringVector.load(stem)
        out = export(vector, args.format, args.out)
    except (ValueError, OSError) as err:
        return _fail(str(err))
    logger.info("wrote %s", out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
