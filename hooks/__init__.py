"""Load a model, run it, capture the residual stream, and cache it on disk.

Layer convention (written once, used everywhere): layer ``L`` is the residual stream after
block ``L`` — TransformerLens ``blocks.L.hook_resid_post``, Hugging Face ``hidden_states[L + 1]``
(except the last layer, where Hugging Face applies the final norm and we do not).
"""

from veracity.hooks.cache import read_job
from veracity.hooks.capture import StopForward, capture_residual, count_hooks, observer, user_hooks
from veracity.hooks.checkpoints import extract_checkpoints
from veracity.hooks.convention import LAYER_CONVENTION, SITE
from veracity.hooks.errors import ModelNotFoundError
from veracity.hooks.extract import extract, extract_cached
from veracity.hooks.finetune import train_full
from veracity.hooks.logprobs import continuation_logprobs, next_token_logprobs, token_probability
from veracity.hooks.lora import train_lora
from veracity.hooks.model import BACKENDS, VeracityModel, from_hf, load_model
from veracity.hooks.remote import NDIFError
from veracity.hooks.view import load_activations

__all__ = [
    "ModelNotFoundError",
    "BACKENDS",
    "LAYER_CONVENTION",
    "NDIFError",
    "SITE",
    "StopForward",
    "VeracityModel",
    "capture_residual",
    "count_hooks",
    "extract",
    "extract_cached",
    "extract_checkpoints",
    "from_hf",
    "load_activations",
    "load_model",
    "continuation_logprobs",
    "next_token_logprobs",
    "observer",
    "read_job",
    "token_probability",
    "train_full",
    "train_lora",
    "user_hooks",
]
