"""Is a ``.pt`` file a whole checkpoint? Checked cheaply, before anything tries to unpickle it.

``torch.save`` writes a zip archive whose members carry CRC-32 checksums. A file cut short (a kill
or a full disk while Ultralytics writes ``last.pt``, which it does in place) loses the archive's
central directory or fails a checksum, and a file that is not a checkpoint at all is not a zip.
Reading the archive finds both without importing torch or running any pickle code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ca_yolo.errors import CheckpointError


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be a whole PyTorch checkpoint, or None when it looks whole.

    Returns a short reason: ``missing``, ``a folder, not a .pt file``, ``a model YAML, not a trained
    checkpoint (...)``, ``empty``, ``not a PyTorch checkpoint (...)`` or ``truncated or corrupt (...)``.
    """
    path = Path(path)
    if path.suffix.lower() in {".yaml", ".yml"}:
        return "a model YAML, not a trained checkpoint (a .pt file is needed)"
    if path.is_dir():
        return "a folder, not a .pt file"
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty"
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()  # reads every member and checks its CRC
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            head = f.read(4)
        if head != b"PK\x03\x04":
            return "not a PyTorch checkpoint (not a torch.save zip archive)"
        return "truncated or corrupt (its zip archive is incomplete)"
    except (OSError, EOFError, ValueError, zipfile.LargeZipFile) as e:
        return f"truncated or corrupt ({type(e).__name__}: {e})"
    if bad is not None:
        return f"truncated or corrupt (member {bad} fails its checksum)"
    return None


def require_checkpoint(path: str | Path, what: str = "checkpoint") -> Path:
    """``path`` as a Path when it is a whole checkpoint, else a :class:`CheckpointError` naming it as ``what``."""
    problem = checkpoint_problem(path)
    if problem == "missing":
        raise CheckpointError(f"{what} '{path}' not found")
    if problem:
        raise CheckpointError(f"{what} '{path}' is {problem}")
    return Path(path)
