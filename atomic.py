"""The one atomic writer: every artifact veracity writes goes through a temporary file, fsync and rename.

A reader never sees a half-written file: the data goes to a temporary file in the same folder,
is flushed to disk (``fsync``), gets the usual ``0644`` permissions, and is renamed over the
target; the folder is fsynced too so the rename survives a crash. If writing fails, the
temporary file is removed and the old file (if any) is left as it was, and the failure is one
``OSError`` line naming the file the caller asked for and what to do (no space left, a read-only
folder, a quota, a file where a folder should be), whatever library did the writing. Used by the
activation cache, probes, steering vectors, GGUF/safetensors export and reports.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "check_writable_folder", "WriteFailed", "write_error"]


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Let ``write(tmp_path)`` fill a temporary file, then move it to ``path`` atomically.

    Args:
        path: The target file (its folder is created).
        write: Writes the complete content to the path it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> atomic_write("out/x.safetensors", lambda tmp: save_file(tensors, str(tmp)))
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # .TARGET.PID.RANDOM.tmp: a reader can tell a killed writer's leftover from a live one's file.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    except Exception as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) or _looks_like_io(err):
            raise write_error(path, err) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _looks_like_io(err: Exception) -> bool:
    """A library's own error type that wraps an I/O failure (safetensors' ``SafetensorError: IoError``)."""
    text = str(err)
    return any(word in text for word in ("IoError", "No space left", "Read-only file system", "Disk quota",
                                         "Permission denied"))


def write_error(path: Path, err: Exception) -> OSError:
    """One ``OSError`` line for a failed write of ``path``: what happened and what to do."""
    code = err.errno if isinstance(err, OSError) else None
    text = str(err)
    if code == errno.ENOSPC or "No space left" in text:
        code, what = errno.ENOSPC, "no space left on the device: free some space or write to another disk"
    elif code == errno.EDQUOT or "Disk quota" in text:
        code, what = errno.EDQUOT, "the disk quota is exceeded: free some space or write elsewhere"
    elif code == errno.EROFS or "Read-only file system" in text:
        code, what = errno.EROFS, "the file system is read-only: pass a folder you can write"
    elif code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        code, what = code or errno.EACCES, "no permission to write there: pass a folder you can write"
    elif isinstance(err, (FileExistsError, NotADirectoryError)):
        what = "a file stands where a folder should be: pass another path"
    else:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else " ".join(text.split())[:200]
        what = f"{reason}: check the path and the disk"
    return WriteFailed(code or 0, f"cannot write {path}: {what}", str(path))


class WriteFailed(OSError):
    """A failed write: an ``OSError`` (``errno`` and ``filename`` set) whose text is the one line that says what to do."""

    def __str__(self) -> str:
        return self.strerror


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Check, before any work, that ``folder`` is (or can become) a folder this process can write in.

    Raises:
        OSError: A path component is a regular file, or the nearest existing folder is read-only.
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder} is a file: pass a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{what} {folder} lies under {existing}, which is a file: pass another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {folder}: no permission to write in {existing}: pass a folder you can write")
    return folder


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
