"""Steering during generation, side by side: veracity ``steer``, repeng ``ControlModel``, steering-vectors.

    python -m benchmarks.steer_generate [--new-tokens 64] [--repeats 3]

The embedded model greedily generates ``--new-tokens`` tokens for batch 1 and batch 8 prompts
(right-padded is not supported by every peer, so every batch here holds prompts of equal length),
unsteered and with the same vector (a seeded random direction, norm 4, at layers 10-19, coefficient
1) added by each tool. Prints seconds per call, the overhead against unsteered generation and
whether each tool produced the same tokens as veracity. Peers as in ``benchmarks/extract.py``
(``make bench`` installs them; repeng 0.4.0 needs ``np.float_`` defined under numpy 2).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import veracity as vc

LAYERS = list(range(10, 20))


def timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    model = vc.load_model("smollm2-135m", device="cpu")
    gen = torch.Generator().manual_seed(0)
    directions = {layer: 4 * torch.nn.functional.normalize(torch.randn(model.d_model, generator=gen), dim=0)
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

    print(f"SmolLM2-135M-Instruct, greedy, {args.new_tokens} new tokens, vector at layers {LAYERS[0]}-{LAYERS[-1]}, "
          f"{torch.get_num_threads()} CPU threads, best of {args.repeats}\n")
    print("| batch | method | seconds | vs unsteered | same tokens as veracity |\n|---:|---|---:|---:|---|")
    for batch in (1, 8):
        plain, _ = timed(lambda b=batch: generate(model.hf_model, b), args.repeats)

        def ours(b=batch):
            with vc.steer(model, vector, coefficient=1.0):
                return generate(model.hf_model, b)

        def sv(b=batch):
            with sv_vector.apply(sv_model, multiplier=1.0):
                return generate(sv_model, b)

        ours_s, ours_tokens = timed(ours, args.repeats)
        rows = [("unsteered", plain, None), ("veracity steer", ours_s, ours_tokens)]
        for name, fn in (("repeng ControlModel", lambda b=batch: generate(repeng_model, b)), ("steering-vectors apply", sv)):
            seconds, tokens = timed(fn, args.repeats)
            rows.append((name, seconds, tokens))
        for name, seconds, tokens in rows:
            same = "-" if tokens is None else ("yes" if torch.equal(tokens, ours_tokens) else "no")
            print(f"| {batch} | {name} | {seconds:.3f} | {seconds / plain:.3f}x | {same} |")


if __name__ == "__main__":
    main()
