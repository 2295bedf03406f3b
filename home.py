"""Where veracity keeps its files: caches, converted models, outputs.

The library packages, the studies and the command line all ask :func:`veracity_home`; nothing
else decides a default folder.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["veracity_home"]


def veracity_home() -> Path:
    """Return the folder for caches and outputs.

    ``$VERACITY_HOME`` if set; else ``artifacts/`` of the source checkout this package runs from
    (an editable install); else, for an installed wheel, the user cache folder by the XDG rule:
    ``$XDG_CACHE_HOME/veracity``, or ``~/.cache/veracity`` when that is unset.

    Returns:
        The folder (not created).
    """
    if env := os.environ.get("VERACITY_HOME"):
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "artifacts"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "veracity"
