"""Write one file so that it is either complete or absent: never half-written.

A crash, Ctrl-C or full disk in the middle of a plain ``open(path, "w")`` leaves a truncated file
that later readers (a resumed comparison, a data YAML, a report) would take as real. Here the
content goes to a temporary file in the same folder (so the final rename stays on one filesystem,
where ``os.replace`` is atomic), and only a finished file is renamed over ``path``. The temporary
file is deleted on any error. ``mkstemp`` creates files readable by the owner only; the result is
given the mode a normal new file gets under the current umask, since these outputs are meant to
be shared.

Whole output *folders* are handled by :mod:`ca_yolo.data.atomic`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def new_file_mode() -> int:
    """Permission bits a plainly created file gets under the current umask (e.g. 0o644 for umask 022)."""
    mask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
    os.umask(mask)
    return 0o666 & ~mask


def _write_temp(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a new temporary binary file beside ``path`` (normal file mode); return its path.

    The temporary file is deleted if ``write`` fails.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, new_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a temporary binary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created); return ``path``."""
    return _write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically, newlines unchanged (no platform translation)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: object, indent: int | None = None) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; return ``path``."""
    return write_text_atomic(path, json.dumps(obj, indent=indent))


def write_json_files_atomic(folder: str | Path, files: dict[str, tuple[object, int | None]]) -> list[Path]:
    """Write each ``name: (object, indent)`` as JSON into ``folder``: all of them or none.

    Every file goes to a temporary name first; only when all are written are they renamed into
    place. On any failure the temporary files and the files already renamed are removed, and so are
    the folders this call made; the error is raised again.
    """
    folder = Path(folder)
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    staged: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (obj, indent) in files.items():
            text = json.dumps(obj, indent=indent).encode("utf-8")
            staged.append((_write_temp(folder / name, lambda f, text=text: f.write(text)), folder / name))
        for tmp, path in staged:
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        for path in (*(tmp for tmp, _ in staged), *placed):
            path.unlink(missing_ok=True)
        for made_folder in made:
            try:
                made_folder.rmdir()
            except OSError:
                break
        raise
    return placed


def save_figure_atomic(fig, path: str | Path, **savefig_kwargs) -> Path:
    """Save a matplotlib figure as PNG at ``path`` atomically; ``savefig_kwargs`` go to ``fig.savefig``.

    The figure is left open: closing it is the caller's business (pyplot figures need
    ``plt.close``, object-API figures do not).
    """
    kwargs = {"format": "png", **savefig_kwargs}  # the temp name ends in .tmp, so the format must be explicit
    return _write_atomic(path, lambda f: fig.savefig(f, **kwargs))
