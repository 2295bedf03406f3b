"""Steering during generation, side by side: veracity ``steer``, repeng ``ControlModel``, steering-vectors.

    python -m benchmarks.steer_generate [--new-tokens 64] [--repeats 3] [--threads N] [--norm 16]

The embedded model greedily generates ``--new-tokens`` tokens for batch 1 and batch 8 prompts
(right-padded is not supported by every peer, so every batch here holds prompts of equal length),
unsteered and with the same vector (a seeded random direction of norm ``--norm`` at layers 10-19,
coefficient 1) added by each tool. The vector is large enough to change the greedy tokens (checked
and printed: a steering benchmark whose output equals the unsteered one measures nothing). Timing
as in ``benchmarks.timing``: fixed threads, a warm-up per method, interleaved rounds, best of N.
Prints seconds per call, the overhead against unsteered generation and whether each tool produced
the same tokens as veracity. Peers as in ``benchmarks/extract.py``
(``make bench`` installs them; repeng 0.4.0 needs ``np.float_`` defined under numpy 2).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import veracity as vc
from benchmarks.timing import fix_threads, interleaved

LAYERS = list(range(10, 20))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and BLAS threads (default: all cores)")
    parser.add_argument("--norm", type=float, default=16.0, help="norm of the vector at each layer (default 16)")
    args = parser.parse_args(argv)
    fix_threads(args.threads)
    model = vc.load_model("smollm2-135m", device="cpu")
    gen = torch.Generator().manual_seed(0)
    directions = {layer: args.norm * torch.nn.functional.normalize(torch.randn(model.d_model, generator=gen), dim=0)
                  for layer in LAYERS}
    vector = vc.SteeringVector(directions, model_id=model.model_id, n_layers=model.n_layers)
    prompt = "The capital of France is"
    options = dict(max_new_tokens=args.new_tokens, do_sample=False, min_new_tokens=args.new_tokens,
                   pad_token_id=model.tokenizer.pad_token_id)

    def generate(hf_model, batch):
        enc = model.tokenizer([prompt] * batch, return_tensors="pt")
        return hf_model.generate(**enc, **options)[:, enc["input_ids"].shape[1]:]

    np.float_ = np.float64  # repeng 0.4.0 references np.float_ at import
    from repeng import ControlModel, ControlVector
    from steering_vectors import SteeringVector as SVVector

    repeng_model = ControlModel(vc.load_model("smollm2-135m", device="cpu").hf_model, LAYERS)
    repeng_model.set_control(ControlVector(model_type="llama", directions={k: v.numpy() for k, v in directions.items()}))
    sv_model = vc.load_model("smollm2-135m", device="cpu").hf_model
    sv_vector = SVVector(layer_activations=directions, layer_type="decoder_block")

    rows = []
    for batch in (1, 8):
        def ours(b=batch):
            with vc.steer(model, vector, coefficient=1.0):
                return generate(model.hf_model, b)

        def sv(b=batch):
            with sv_vector.apply(sv_model, multiplier=1.0):
                return generate(sv_model, b)

        seconds, tokens = interleaved({"unsteered": lambda b=batch: generate(model.hf_model, b),
                                       "veracity steer": ours,
                                       "repeng ControlModel": lambda b=batch: generate(repeng_model, b),
                                       "steering-vectors apply": sv}, args.repeats, label=f"batch {batch}: ")
        changed = not torch.equal(tokens["veracity steer"], tokens["unsteered"])
        rows.append((batch, seconds, tokens, changed))
    print(f"SmolLM2-135M-Instruct, greedy, {args.new_tokens} new tokens, vector of norm {args.norm:g} at layers "
          f"{LAYERS[0]}-{LAYERS[-1]}, {args.threads} CPU threads, one warm-up each, best of {args.repeats} "
          "interleaved rounds\n")
    print("| batch | method | seconds | vs unsteered | same tokens as veracity |\n|---:|---|---:|---:|---|")
    for batch, seconds, tokens, _ in rows:
        for name, secs in seconds.items():
            same = "-" if name == "unsteered" else ("yes" if torch.equal(tokens[name], tokens["veracity steer"]) else "no")
            print(f"| {batch} | {name} | {secs:.3f} | {secs / seconds['unsteered']:.3f}x | {same} |")
    for batch, _, tokens, changed in rows:
        print(f"\nbatch {batch}: steering {'changes' if changed else 'does NOT change'} the greedy tokens "
              f"({int((tokens['veracity steer'] != tokens['unsteered']).sum())} of {tokens['unsteered'].numel()} differ)")


if __name__ == "__main__":
    main()
