"""Errors of loading a model, shared by the local and the remote loader."""

from __future__ import annotations

__all__ = ["ModelNotFoundError"]


class ModelNotFoundError(OSError):
    """The model name is neither an embedded model, a local folder, nor reachable on the hub."""
