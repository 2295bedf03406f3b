"""Real-size extraction without downloads: random-weight models with real shapes, in bfloat16.

    python -m benchmarks.real_size [--shape llama-3.2-1b|llama-3.1-8b] [--batch 32] [--tokens 512]

Builds a Llama with the shapes of Llama-3.2-1B or Llama-3.1-8B from its config (random weights,
bfloat16, on CUDA when present), then times on the same right-padded batches: a bare forward pass,
veracity's ``extract`` of every layer, ``extract`` of the first half of the layers, and Hugging
Face's ``output_hidden_states``. It prints seconds, tokens/s, model FLOP/s as a share of the
device's measured bfloat16 rate for the model's largest matmul, and checks that the extracted activations equal the
blocks' own outputs. Defaults: 8B shape, batch 32 x 512 tokens on a GPU; 1B shape, batch 2 x 128
on a CPU (an 8B forward on 2 CPU cores takes minutes per batch).
"""

from __future__ import annotations

import argparse
import time

import torch

SHAPES = {
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=64, tie_word_embeddings=True),
    "llama-3.1-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(device: str, rows: int, hidden: int, intermediate: int) -> float:
    """Measured bfloat16 FLOP/s of the model's own largest matmul (``F.linear``, tokens x hidden -> intermediate)."""
    a = torch.randn(rows, hidden, device=device, dtype=torch.bfloat16)
    w = torch.randn(intermediate, hidden, device=device, dtype=torch.bfloat16)
    seconds = timed(lambda: torch.nn.functional.linear(a, w), device)
    return 2 * rows * hidden * intermediate / seconds


def main() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    import veracity as vc
    from veracity.hooks.extract import right_pad

    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, default="llama-3.1-8b" if gpu else "llama-3.2-1b")
    parser.add_argument("--batch", type=int, default=32 if gpu else 2)
    parser.add_argument("--tokens", type=int, default=512 if gpu else 128)
    args = parser.parse_args()
    device = "cuda" if gpu else "cpu"
    name = torch.cuda.get_device_name(0) if gpu else f"CPU, {torch.get_num_threads()} threads"

    config = LlamaConfig(vocab_size=128256, max_position_embeddings=8192, **SHAPES[args.shape])
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.device(device):
        hf_model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    built = time.perf_counter() - start
    tokenizer = _tokenizer()
    model = vc.from_hf(hf_model, tokenizer, model_id=args.shape)
    n_params = sum(p.numel() for p in hf_model.parameters())
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 20000, (args.batch, args.tokens), generator=gen)
    rows = [row.tolist() for row in ids]
    input_ids, mask = right_pad(rows, 0, model.device)
    texts_tokens = args.batch * args.tokens
    per_token = 2 * (n_params - config.vocab_size * config.hidden_size)  # matmul FLOPs per token, no LM head
    per_token += 4 * config.num_hidden_layers * args.tokens * config.hidden_size  # attention scores and values

    def bare():
        with torch.no_grad():
            hf_model.model(input_ids=input_ids, attention_mask=mask, use_cache=False)

    def hidden_states():
        with torch.no_grad():
            hf_model.model(input_ids=input_ids, attention_mask=mask, use_cache=False, output_hidden_states=True)

    half = list(range(config.num_hidden_layers // 2))

    def ours(layers):
        from veracity.hooks.extract import compute
        from veracity.hooks.positions import check_position

        return compute(model, rows, layers, check_position("last", len(rows)), args.batch, torch.bfloat16, None)

    peak = matmul_rate(device, texts_tokens, config.hidden_size, config.intermediate_size)
    print(f"{args.shape} shape, random weights, bfloat16, {n_params / 1e9:.2f}B parameters (built in {built:.0f} s) "
          f"on {name}; batch {args.batch} x {args.tokens} tokens; measured bf16 matmul rate {peak / 1e12:.3f} TFLOP/s")
    print(f"{'method':>34} {'seconds':>8} {'tokens/s':>9} {'share of matmul rate':>21}")
    for label, fn in (("bare forward (no LM head)", bare), ("HF output_hidden_states", hidden_states),
                      ("veracity extract, all layers", lambda: ours(list(range(config.num_hidden_layers)))),
                      ("veracity extract, first half", lambda: ours(half))):
        seconds = timed(fn, device, repeats=2 if not gpu else 5)
        flops = per_token * texts_tokens * (0.5 if "half" in label else 1.0)
        print(f"{label:>34} {seconds:>8.3f} {texts_tokens / seconds:>9.0f} {flops / seconds / peak:>20.1%}")
    got = ours([1, config.num_hidden_layers - 2])
    with torch.no_grad():
        hidden = hf_model.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
    want = torch.stack([hidden[2][:, -1], hidden[config.num_hidden_layers - 1][:, -1]], dim=1).cpu()
    print("extracted activations equal the blocks' outputs:", bool(torch.equal(got, want)))


def _tokenizer():
    """A tokenizer only for its pad id: the benchmark feeds token ids directly."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab={"[PAD]": 0, "[UNK]": 1}, unk_token="[UNK]"))
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", name_or_path="ids")


if __name__ == "__main__":
    main()
