"""The ``veracity`` command line (also ``python -m veracity``).

Subcommands:

- ``veracity extract``: residual-stream activations of a text file into a resumable folder;
- ``veracity run STUDY``: any study of :mod:`veracity.experiments` with its own options;
- ``veracity export``: a saved steering vector as GGUF (llama.cpp) or one safetensors file;
- ``veracity info MODEL``: backend, layers, d_model, the layer convention and where the weights came from.

Bad input ends in one line on stderr and exit code 2; ``VERACITY_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]

logger = logging.getLogger("veracity")


class UsageError(ValueError):
    """Bad command-line input (reported as one line, exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four subcommands."""
    from veracity.experiments import STUDIES
    from veracity.experiments.cli import OneLineParser

    parser = OneLineParser(prog="veracity", description="Read and steer what language models believe.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ex = commands.add_parser("extract", help="cache residual-stream activations of texts into a folder",
                             description="Residual-stream activations (layer L = after block L) of every text "
                                         "in FILE, written into DIR as resumable chunks; prints DIR. Read them "
                                         "with veracity.load_activations(DIR).")
    ex.add_argument("--model", default="smollm2-135m", help="model name, local folder or hub name "
                    "(default: the embedded smollm2-135m)")
    ex.add_argument("--input", required=True, help=".txt (one text per line) or .csv (see --column)")
    ex.add_argument("--column", default="statement", help="CSV column holding the texts (default: statement)")
    ex.add_argument("--layers", default="all", help="all, every:K, comma-separated layers such as 5,20 "
                    "(negatives count from the end) or ranges such as 10:20 (end excluded); default: all")
    ex.add_argument("--position", default="last", help="token per text: last, first, mean or an int "
                    "(negative counts back from the last token; default: last)")
    ex.add_argument("--out", required=True, help="output folder; rerunning after an interruption computes "
                    "only what is missing")
    ex.add_argument("--backend", default="hf", help="hf, transformer_lens or nnsight (default: hf)")
    ex.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (default: 16)")
    ex.add_argument("--template", default=None, help="prompt with a {text} slot, e.g. 'Is it true that {text}'")
    ex.add_argument("--dtype", default=None, help="compute dtype: float32, bfloat16 or float16 "
                    "(default: float32 on CPU, bfloat16 on GPU)")
    ex.add_argument("--chunk-size", type=int, default=256, help="texts per chunk file, the unit of resuming "
                    "(default: 256)")
    ex.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: cuda when present)")
    ex.add_argument("--remote", nargs="?", const=True, default=False, metavar="HOST",
                    help="run the model on NDIF (with --backend nnsight and a hub name; needs NDIF_API_KEY); "
                    "HOST: another NDIF URL")

    run = commands.add_parser("run", help="run a study (veracity run STUDY --help for its options)",
                              description="Run one study of veracity.experiments; the options after STUDY "
                                          "are the study's own.", add_help=True)
    run.add_argument("study", metavar="STUDY", help="one of: " + ", ".join(STUDIES))
    run.add_argument("options", nargs=argparse.REMAINDER, help="the study's options (see veracity run STUDY --help)")

    export = commands.add_parser(
        "export", help="convert a saved steering vector for llama.cpp (gguf) or as one safetensors file",
        description="Convert a steering vector saved as NAME.json + NAME.safetensors.")
    export.add_argument("vector", help="the vector's NAME.json (or NAME.safetensors / NAME)")
    export.add_argument("--format", required=True, help="output format: gguf (llama.cpp --control-vector) "
                        "or safetensors (one file, provenance in the header)")
    export.add_argument("--out", required=True, help="output file path")
    export.add_argument("--n-layers", type=int, default=None, help="the model's number of blocks; needed for gguf "
                        "only when the vector does not record it (e.g. one read from another tool)")

    info = commands.add_parser("info", help="what veracity sees in a model",
                               description="Load MODEL and print its backend, layers, d_model, the layer "
                                           "convention and where its weights came from.")
    info.add_argument("model", nargs="?", default="smollm2-135m", help="model name or folder "
                      "(default: the embedded smollm2-135m)")
    info.add_argument("--backend", default="hf", help="hf, transformer_lens or nnsight (default: hf)")
    return parser


def read_texts(path: str, column: str) -> list[str]:
    """Texts from a ``.txt`` file (one per non-empty line) or a ``.csv`` column."""
    from veracity.data.csvfile import read_csv_rows  # keeps ``veracity --help`` free of the data package

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--input {path}: no such file")
    try:
        if file.suffix.lower() == ".csv":
            try:
                header, rows = read_csv_rows(file)
            except ValueError as err:
                raise UsageError(f"--input {err}") from None
            if column not in header:
                raise UsageError(f"--input {path} has no column {column!r} (columns: "
                                 f"{', '.join(header)}): pass --column NAME")
            texts = [row[column] for row in rows]
        else:
            texts = [line.rstrip("\r\n") for line in file.read_text(encoding="utf-8").splitlines()]
            texts = [t for t in texts if t.strip()]
    except UnicodeDecodeError as err:
        raise UsageError(f"--input {path} is not UTF-8 text ({err.reason})") from err
    if not texts or any(t is None or not t.strip() for t in texts):
        raise UsageError(f"--input {path}: every row needs a non-empty text, and there must be at least one")
    return texts


def parse_position(spec: str) -> str | int:
    """``last``, ``first``, ``mean`` or an int."""
    try:
        return int(spec)
    except ValueError:
        return spec


def cmd_extract(args) -> int:
    """``veracity extract``."""
    from veracity.atomic import check_writable_folder
    from veracity.hooks import extract_cached, load_model
    from veracity.hooks.convention import check_layer_spec

    texts = read_texts(args.input, args.column)
    try:
        check_layer_spec(args.layers)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    out = check_writable_folder(args.out, "--out")  # before the model loads
    rank, world, local_rank = launcher_rank()
    device = args.device
    if world > 1 and device is None and torch_cuda_available():
        device = f"cuda:{local_rank}"
    model = load_model(args.model, backend=args.backend, device=device, dtype=args.dtype, remote=args.remote)
    # assemble=False: chunks stream to disk and are never held together, so memory stays bounded
    options = dict(layers=args.layers, position=parse_position(args.position), batch_size=args.batch_size,
                   template=args.template, chunk_size=args.chunk_size, out=out, assemble=False)
    if world == 1:
        acts = extract_cached(model, texts, **options)
        logger.info("%d texts x %d layers x %d -> %s", *acts.shape, out)
        print(out)
        return 0
    # Under torchrun: rank r computes chunks r, r + world, ... into the shared output folder; after
    # a barrier rank 0 reads the whole job back (every chunk verified) and reports it.
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")  # only barriers go through it: gloo serves CPU and GPU ranks
    try:
        mine = extract_cached(model, texts, shard=(rank, world), **{**options, "assemble": True})
        logger.info("rank %d of %d: computed %d of %d texts", rank, world, mine.shape[0], len(texts))
        del mine
        dist.barrier()
        if rank == 0:
            acts = extract_cached(model, texts, **options)
            logger.info("%d texts x %d layers x %d -> %s (%d processes)", *acts.shape, out, world)
            print(out)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def launcher_rank() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` as torchrun (or any launcher setting its variables) gives them."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise UsageError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world:
        raise UsageError(f"RANK={rank} does not fit WORLD_SIZE={world}: launch with torchrun --nproc-per-node N")
    return rank, world, local_rank


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cmd_run(args) -> int:
    """``veracity run STUDY ...``."""
    import importlib

    from veracity.experiments import STUDIES
    from veracity.experiments.cli import PROG

    if args.study not in STUDIES:
        raise UsageError(f"unknown study {args.study!r}: choose one of {', '.join(STUDIES)}")
    module = importlib.import_module(STUDIES[args.study])
    token = PROG.set(f"veracity run {args.study}")
    try:
        module.main(list(args.options))
    finally:
        PROG.reset(token)
    return 0


def cmd_export(args) -> int:
    """``veracity export``."""
    from veracity.steering.export import FORMATS, export
    from veracity.steering.vector import SteeringVector

    if args.format not in FORMATS:
        raise UsageError(f"unknown format {args.format!r}: use {' or '.join(FORMATS)}")
    stem = Path(args.vector)
    stem = stem.with_suffix("") if stem.suffix in (".json", ".safetensors") else stem
    for needed in (stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")):
        if not needed.is_file():
            raise UsageError(f"{needed} not found: pass a vector saved with SteeringVector.save (NAME.json)")
    vector = SteeringVector.load(stem)
    out = export(vector, args.format, args.out, n_layers=args.n_layers)
    logger.info("wrote %s", out)
    calibration = vector.extra.get("coefficient_calibration")
    if calibration:
        logger.info("suggested coefficient %.4g (neutral-text KL <= %g nats/token on %s)", vector.coefficient,
                    calibration["kl_bound"], vector.model_id)
        answers = calibration.get("answers")
        if answers:
            kept = answers["tries"][-1] if answers["coefficient"] else None
            logger.info("  the KL bound alone allows %.4g; at %.4g greedy answers to %d plain questions are %.0f%% "
                        "right (unsteered %.0f%%) and %.0f%% in the prompt's script (tolerance %g)",
                        calibration.get("coefficient_kl", vector.coefficient), vector.coefficient,
                        answers["n_questions"], 100 * (kept or answers["unsteered"])["accuracy"],
                        100 * answers["unsteered"]["accuracy"], 100 * (kept or answers["unsteered"])["same_script"],
                        answers["tolerance"])
    else:
        logger.info("this vector's coefficient (%g) was not calibrated on a model: run "
                    "veracity.steering.with_calibrated_coefficient(model, vector) before relying on it",
                    vector.coefficient)
    if args.format == "gguf":
        logger.info("llama.cpp: llama-cli -m MODEL.gguf --control-vector-scaled %s %.4g", out, vector.coefficient)
    return 0


def cmd_info(args) -> int:
    """``veracity info MODEL``."""
    from veracity.hooks import load_model

    model = load_model(args.model, backend=args.backend, device="cpu")
    for key, value in model.describe().items():
        print(f"{key:17s} {value}")
    return 0


COMMANDS = {"extract": cmd_extract, "run": cmd_run, "export": cmd_export, "info": cmd_info}


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
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, OSError) as err:
        if os.environ.get("VERACITY_DEBUG"):
            raise
        sys.stderr.write(f"veracity {args.command}: error: {err}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
