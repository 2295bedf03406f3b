"""One engine per backend: everything that differs between Hugging Face, TransformerLens and nnsight.

An engine knows where the residual stream after block ``L`` can be hooked, how to run a forward
pass (which capture hooks may end early with :class:`StopForward`), how to get next-token logits,
how to take one decoding step on a KV cache, and how to generate. Nothing outside this module
compares backend names or reaches past the backend to the Hugging Face model to compute something.

- :class:`HFBackend`: plain PyTorch forward hooks on the Hugging Face decoder blocks.
- :class:`TransformerLensBackend`: a ``TransformerBridge`` around the same model; hooks go on the
  bridge's ``blocks.L.hook_out`` (``hook_resid_post``); forward and logits run through the bridge;
  generation through the bridge's ``hf_generate``.
- :class:`NNsightBackend`: an nnsight ``LanguageModel`` around the same model; forward, logits,
  decoding steps and generation run inside nnsight traces. nnsight runs the real modules, so torch
  forward hooks (capture and steering) fire inside its traces. nnsight's own ``.output`` of a
  block is read *before* torch forward hooks run: inside :func:`veracity.steer`, read steered
  activations with :func:`veracity.extract` (or at the next block's input), not with ``.output``
  of the steered block.
"""

from __future__ import annotations

import copy
import functools
import inspect
import warnings
from typing import Any, ClassVar

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from veracity.hooks.remote import remote_errors

__all__ = ["BACKENDS", "Backend", "HFBackend", "NNsightBackend", "StopForward", "TransformerLensBackend", "keeps_logits",
           "make_backend"]


def keeps_logits(module: nn.Module) -> bool:
    """Whether the (PEFT-wrapped) causal LM's forward takes ``logits_to_keep`` (current Hugging Face causal LMs do)."""
    base = module.get_base_model() if hasattr(module, "get_base_model") else module
    return "logits_to_keep" in inspect.signature(base.forward).parameters


class StopForward(Exception):
    """Raised inside a hook to end the forward pass once the deepest wanted layer is stored."""


class Backend:
    """What every backend provides (the Hugging Face behaviour; subclasses override what differs).

    Args:
        hf_model: The Hugging Face causal LM that holds the weights.
        tokenizer: Its tokenizer.
        blocks: The decoder blocks inside ``hf_model``, block ``L`` at index ``L``.
        model_id: The name the model was loaded by.
    """

    name: ClassVar[str] = "hf"

    remote: ClassVar[bool | str] = False
    """Where the forward passes run: ``False`` here; an NDIF run (:class:`NNsightBackend`) otherwise."""

    @property
    def elsewhere(self) -> bool:
        """Whether the weights live on a server (NDIF), not here (a ``"local"`` dry run keeps them here)."""
        return self.remote not in (False, "local")

    def __init__(self, hf_model: nn.Module, tokenizer, blocks: nn.ModuleList, model_id: str):
        self.hf_model, self.tokenizer, self.blocks, self.model_id = hf_model, tokenizer, blocks, model_id
        self.module = self.wrap()
        self.steering: list[dict] = []  # what every active steer() context adds (part of cache keys)

    def wrap(self) -> Any:
        """The backend's own object (what a user of that library holds)."""
        return self.hf_model

    # ------------------------------------------------------------------ where the blocks are
    def resid_module(self, layer: int) -> nn.Module:
        """The module whose forward output is the residual stream after block ``layer``."""
        return self.blocks[layer]

    def call_module(self) -> nn.Module:
        """The module called once per forward pass with ``past_key_values``/``cache`` keyword arguments."""
        return self.hf_model

    def hook_roots(self) -> list[nn.Module]:
        """Modules whose trees hold every hook veracity can install."""
        return [self.hf_model]

    # ------------------------------------------------------------------ forward passes
    def forward(self, input_ids: Int[Tensor, "b pos"], attention_mask: Int[Tensor, "b pos"]) -> None:
        """Run the model for its hooks' sake (capture hooks may raise :class:`StopForward`)."""
        self.hf_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)

    def logits(self, input_ids: Int[Tensor, "b pos"], attention_mask: Int[Tensor, "b pos"]
               ) -> Float[Tensor, "b pos vocab"]:
        """Logits at every position."""
        return self.hf_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    def tail_logits(self, input_ids: Int[Tensor, "b pos"], attention_mask: Int[Tensor, "b pos"], start: int
                    ) -> Float[Tensor, "b tail vocab"]:
        """Logits at positions ``start`` to the end only: ``logits(...)[:, start:]``, with Hugging Face's
        ``logits_to_keep`` running the LM head on those positions alone (a fifth of a SmolLM2 forward at every position,
        more than half of Gemma 3's with its 262k-token vocabulary)."""
        if not keeps_logits(self.hf_model):
            return self.logits(input_ids, attention_mask)[:, start:]
        return self.hf_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                             logits_to_keep=input_ids.shape[1] - start).logits

    def last_logits(self, input_ids: Int[Tensor, "b pos"], attention_mask: Int[Tensor, "b pos"]
                    ) -> Float[Tensor, "b vocab"]:
        """Logits at each row's last real token (right padding). Hugging Face's ``logits_to_keep`` runs the
        LM head only at the rows' last positions, not at every position (a fifth of a SmolLM2 forward)."""
        last = attention_mask.sum(1) - 1
        keep = torch.unique(last)
        try:
            logits = self.hf_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                                   logits_to_keep=keep).logits
        except TypeError:  # a model class without logits_to_keep
            return Backend._every_then_last(self, input_ids, attention_mask)
        return logits[torch.arange(len(last), device=logits.device), torch.searchsorted(keep, last)]

    def _every_then_last(self, input_ids, attention_mask):
        logits = self.logits(input_ids, attention_mask)
        return logits[torch.arange(len(input_ids), device=logits.device), attention_mask.sum(1) - 1]

    def step(self, input_ids: Int[Tensor, "b pos"], attention_mask: Int[Tensor, "b past_and_pos"],
             position_ids: Int[Tensor, "b pos"], cache=None, all_logits: bool = False
             ) -> tuple[Float[Tensor, "b vocab"] | Float[Tensor, "b pos vocab"], Any]:
        """One step on a KV cache: the last position's logits (every new position's with
        ``all_logits``) and the updated cache."""
        # Only the last position's logits are needed (left-padded prompts end on a real token): the LM head
        # runs on one position per row, as Hugging Face's generate does (logits_to_keep=1).
        keep = {} if all_logits or not keeps_logits(self.hf_model) else {"logits_to_keep": 1}
        out = self.hf_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=True, **cache_kwarg(self.hf_model, cache), **keep)
        return (out.logits if all_logits else out.logits[:, -1]), cache_of(out)

    def generate(self, input_ids: Int[Tensor, "b pos"], attention_mask: Int[Tensor, "b pos"], **options
                 ) -> Int[Tensor, "b total"]:
        """Prompt plus generated tokens (Hugging Face ``generate`` options)."""
        return self.hf_model.generate(input_ids=input_ids, attention_mask=attention_mask, **options)

    @property
    def generation_config(self):
        """The model's default generation settings (EOS ids)."""
        return self.hf_model.generation_config


HFBackend = Backend


class TransformerLensBackend(Backend):
    """TransformerLens's ``TransformerBridge`` around the loaded Hugging Face model."""

    name = "transformer_lens"

    def wrap(self) -> Any:
        from transformer_lens.model_bridge import TransformerBridge

        # The bridge reloads a tokenizer by name when the one it gets does not prepend BOS; it gets
        # a copy that claims to, so wrapping a model already in memory never reaches the hub. veracity
        # tokenises with its own tokenizer and hands the bridge token ids.
        tokenizer = copy.deepcopy(self.tokenizer)
        tokenizer.init_kwargs["add_bos_token"] = True
        # The bridge picks its adapter from config.architectures, which a model built from a config
        # (not loaded from a folder) leaves empty: name the class it is.
        if not getattr(self.hf_model.config, "architectures", None):
            self.hf_model.config.architectures = [type(self.hf_model).__name__]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return TransformerBridge.boot_transformers(self.model_id, hf_model=self.hf_model, tokenizer=tokenizer,
                                                           device=self.hf_model.device, dtype=self.hf_model.dtype)
            except ValueError as err:
                if "supported architecture" not in str(err):
                    raise
                raise ValueError(
                    f"TransformerLens's bridge does not support {type(self.hf_model).__name__} "
                    f"({self.hf_model.config.model_type}): use backend='hf' or backend='nnsight', which work with "
                    "any Hugging Face causal LM (docs/guide.md lists the families)") from None

    def resid_module(self, layer: int) -> nn.Module:
        return self.module.blocks[layer].hook_out

    def hook_roots(self) -> list[nn.Module]:
        return [self.module]

    def forward(self, input_ids, attention_mask) -> None:
        self.module(input_ids, attention_mask=attention_mask, return_type=None)

    def logits(self, input_ids, attention_mask):
        return self.module(input_ids, attention_mask=attention_mask, return_type="logits")

    def tail_logits(self, input_ids, attention_mask, start):
        return self.logits(input_ids, attention_mask)[:, start:]

    def last_logits(self, input_ids, attention_mask):
        return self._every_then_last(input_ids, attention_mask)

    # TransformerLens 4.3's bridge decodes wrongly on a KV cache under transformers 5 (tiny Llama and
    # GPT-2: other tokens than the same model without a cache; tests/unit/hooks/test_backends.py), so this
    # backend recomputes the whole sequence at every step: exact, and slower for long answers.
    def step(self, input_ids, attention_mask, position_ids, cache=None, all_logits=False):
        ids = input_ids if cache is None else torch.cat([cache.ids, input_ids], dim=1)
        positions = (attention_mask.cumsum(1) - 1).clamp(min=0)
        out = self.module.original_model(input_ids=ids, attention_mask=attention_mask, position_ids=positions,
                                         use_cache=False)
        logits = out.logits[:, -input_ids.shape[1]:] if all_logits else out.logits[:, -1]
        return logits, TokenHistory(ids)

    def generate(self, input_ids, attention_mask, **options):
        options = dict(options)
        do_sample = options.pop("do_sample", False)
        temperature = options.pop("temperature", 1.0)
        max_new_tokens = options.pop("max_new_tokens", 16)
        options.pop("pad_token_id", None)  # the bridge pads with EOS
        return self.module.hf_generate(input_ids, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                       temperature=temperature, return_type="tokens", use_past_kv_cache=False,
                                       use_cache=False,
                                       attention_mask=attention_mask, **options)


class TokenHistory:
    """The "cache" of a backend that recomputes every step: the token ids so far.

    Args:
        ids: ``(batch, pos)`` token ids.
    """

    def __init__(self, ids: Int[Tensor, "b pos"]):
        self.ids = ids

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat each row ``repeats`` times (as Hugging Face caches do)."""
        self.ids = self.ids.repeat_interleave(repeats, dim=0)

    def get_seq_length(self) -> int:
        """Number of positions so far."""
        return int(self.ids.shape[1])


class NNsightBackend(Backend):
    """An nnsight ``LanguageModel`` around the loaded Hugging Face model.

    Args:
        remote: ``True`` (or an NDIF host URL): every forward pass runs on NDIF, where the weights
            live; ``hf_model`` is nnsight's weightless skeleton and ``module`` the ``LanguageModel``
            loaded by hub name. ``"local"``: nnsight's own dry run of that path (the work is
            serialised and run here with veracity's modules hidden, as the server would run it).
            Remotely veracity reads activations with ``.save()`` inside the trace, reduced to the
            asked-for positions there; PyTorch hooks cannot reach the server, so what needs them
            (steering, decoding on a KV cache) is refused with a one-line error.
        module: A ``LanguageModel`` already built (the remote one); default: wrap ``hf_model``.
    """

    name = "nnsight"

    def __init__(self, hf_model, tokenizer, blocks, model_id, remote: bool | str = False, module: Any = None):
        if remote not in (False, "local") and module is None:
            raise ValueError("a model already in memory cannot run on NDIF, which runs models by hub name: "
                             "load_model(NAME, backend='nnsight', remote=True)")
        self.remote, self._given = remote, module
        super().__init__(hf_model, tokenizer, blocks, model_id)

    def wrap(self) -> Any:
        from nnsight import LanguageModel

        module = self._given
        if module is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = LanguageModel(self.hf_model, tokenizer=self.tokenizer)
        self.tokenizer.padding_side = "right"  # nnsight switches causal LMs to left padding; veracity pads right
        return module

    def resid_module(self, layer: int) -> nn.Module:
        self._refuse_hooks()
        return self.blocks[layer]

    def call_module(self) -> nn.Module:
        self._refuse_hooks()
        return self.hf_model

    def _refuse_hooks(self) -> None:
        if self.remote:
            raise ValueError(f"{self.model_id} runs on NDIF (remote={self.remote!r}), where PyTorch hooks cannot "
                             "reach it: extract, logits and generate work remotely; for steering load the model "
                             "here (load_model without remote)")

    def _trace(self, **kwargs):
        """``module.trace`` here, or on NDIF when ``remote``."""
        return self.module.trace(**kwargs, remote=self.remote)

    def forward(self, input_ids, attention_mask) -> None:
        with self._trace(input_ids=input_ids, attention_mask=attention_mask):
            pass

    def logits(self, input_ids, attention_mask):
        with (remote_errors(self.remote, self.model_id),
              self._trace(input_ids=input_ids, attention_mask=attention_mask)):
            out = self.module.output.save()
        return out.logits.detach()

    def tail_logits(self, input_ids, attention_mask, start):
        return self.logits(input_ids, attention_mask)[:, start:]

    def last_logits(self, input_ids, attention_mask):
        return self._every_then_last(input_ids, attention_mask)

    def read_residual(self, input_ids, attention_mask, layers: list[int], pick: tuple | None = None
                      ) -> dict[int, Tensor]:
        """The residual stream after each block in ``layers``, read with ``.save()`` inside one trace.

        This is how a remote model is read: the trace runs where the weights are, stops after the
        deepest block, and reduces on that side when ``pick`` (from
        :func:`veracity.hooks.positions.pool_plan`) says how, so only one vector per text and layer
        travels back.

        Returns:
            ``{layer: hidden}``: ``(batch, pos, d_model)``, or ``(batch, d_model)`` with ``pick``.
        """
        import nnsight  # only the nnsight backend needs it, and it is slow to import

        envoys, wanted = self.module.get(self.blocks_path), sorted(set(layers))
        with (remote_errors(self.remote, self.model_id),
              self._trace(input_ids=input_ids, attention_mask=attention_mask) as tracer):
            saved = nnsight.save([])
            for layer in wanted:
                out = envoys[layer].output
                hidden = out[0] if isinstance(out, tuple) else out
                # positions.apply_plan, written out: the server has torch, not veracity.
                if pick is not None and pick[0] == "mean":
                    hidden = (hidden.float() * pick[1]).sum(dim=1) / pick[2]
                elif pick is not None:
                    hidden = hidden[pick[1], pick[2]]
                saved.append(hidden)
            tracer.stop()
        return {layer: hidden.detach() for layer, hidden in zip(wanted, saved)}

    def step(self, input_ids, attention_mask, position_ids, cache=None, all_logits=False):
        self._refuse_hooks()  # a KV cache cannot stay on the server between calls
        with self.module.trace(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               use_cache=True, **cache_kwarg(self.hf_model, cache)):
            out = self.module.output.save()
        return (out.logits if all_logits else out.logits[:, -1]).detach(), cache_of(out)

    def generate(self, input_ids, attention_mask, **options):
        remote = {"remote": self.remote} if self.remote else {}  # generate hands other keywords to the model
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        with remote_errors(self.remote, self.model_id), self.module.generate(inputs, **options, **remote) as tracer:
            result = tracer.result.save()
        return result

    @functools.cached_property
    def blocks_path(self) -> str:
        """Dotted path of the decoder blocks inside the Hugging Face model (``model.layers``)."""
        return next(name for name, module in self.hf_model.named_modules() if module is self.blocks)


def cache_kwarg(hf_model: nn.Module, cache) -> dict[str, Any]:
    """The KV cache as the model's forward takes it: ``cache=`` (transformers 5) or ``past_key_values=``."""
    name = "cache" if "cache" in inspect.signature(hf_model.forward).parameters else "past_key_values"
    return {name: cache}


def cache_of(output) -> Any:
    """The updated KV cache of a forward pass's output (``cache`` or ``past_key_values``)."""
    return output["cache"] if "cache" in output else output.past_key_values


BACKENDS = {"hf": HFBackend, "transformer_lens": TransformerLensBackend, "nnsight": NNsightBackend}
"""Backend name -> engine class."""


def make_backend(name: str, hf_model: nn.Module, tokenizer, blocks: nn.ModuleList, model_id: str,
                 **options) -> Backend:
    """The engine for ``name`` around ``hf_model`` (``options``: the backend's own, e.g. nnsight's ``remote``).

    Raises:
        ValueError: Unknown backend name.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    unknown = set(options) - set(inspect.signature(BACKENDS[name].__init__).parameters)
    if unknown:
        raise ValueError(f"backend {name!r} takes no option {', '.join(sorted(unknown))}")
    with torch.no_grad():
        return BACKENDS[name](hf_model, tokenizer, blocks, model_id, **options)
