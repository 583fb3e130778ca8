"""Write a whole output folder so that it appears complete or not at all.

Converters build their output in a hidden sibling folder and rename it into place at the end:
the rename is atomic on one filesystem, so a crash, Ctrl-C or error never leaves a half-written
dataset at the output path, and an existing output is only replaced with ``force``. Single files
are written the same way by :mod:`ca_yolo.atomic_io`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from .problems import DataError, OutputExistsError

_PARTIAL = ".partial-"  # marks our temporary folders: ".<name>.partial-<pid>-<random>"


def check_output_dir(out: Path, force: bool, sources: tuple[Path, ...] = ()) -> None:
    """Refuse an output path that exists (without ``force``) or that holds or is inside a source.

    Called before any work so a refused run fails fast. An existing empty folder is accepted.
    """
    out = Path(out).resolve()
    for src in sources:
        src = Path(src).resolve()
        if out == src or out in src.parents or src in out.parents:
            raise DataError(f"output folder {out} overlaps the source {src}; choose another --out")
    if out.exists():
        if not out.is_dir():
            raise OutputExistsError(f"output path {out} exists and is not a folder")
        if any(out.iterdir()) and not force:
            raise OutputExistsError(f"output folder {out} already exists; pass --force to replace it")


def _remove_stale_partials(out: Path) -> None:
    """Delete temporary folders left by killed runs (their process no longer exists)."""
    for p in out.parent.glob(f".{out.name}{_PARTIAL}*"):
        try:
            pid = int(p.name[len(f".{out.name}{_PARTIAL}") :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue  # not ours to judge, or the owner is alive


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while inside, so cleanup code runs when the run is killed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def atomic_output_dir(out: str | Path, force: bool = False, sources: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``out`` in one rename.

    Args:
        out: the final output folder.
        force: replace an existing non-empty ``out`` (the old one is deleted only after the new
            one is in place).
        sources: input folders ``out`` must not overlap (so ``force`` can never delete the input).

    On any exception (Ctrl-C and SIGTERM included) the temporary folder is deleted and ``out``
    is left exactly as it was. A failed write (full disk, read-only folder) becomes one
    :class:`DataError` ``cannot write <out>: <reason>; nothing was written``; a failed read of a
    source file is raised as it is.
    """
    out = Path(out).resolve()
    check_output_dir(out, force, sources)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_PARTIAL}{os.getpid()}-", dir=out.parent))
    except OSError as e:  # a file in the way, a read-only folder
        raise DataError(f"cannot write {out}: {e.strerror or e}; nothing was written") from None
    try:
        with _sigterm_as_exit():
            try:
                yield tmp
                # Checked again: another process may have created `out` while we worked.
                check_output_dir(out, force)
                old = None
                if out.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                    os.replace(out, old / out.name)
                os.replace(tmp, out)
            except OSError as e:
                if not _write_failure(e, (tmp, out)):
                    raise  # reading a source failed: its own message names it
                raise DataError(f"cannot write {out}: {e.strerror or e}; nothing was written") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# Errors only a write gives. shutil's copy names the *source* file in a full disk's error, so
# the file name alone cannot tell a failed write from a failed read.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _write_failure(e: OSError, folders: tuple[Path, ...]) -> bool:
    """True when ``e`` is a failed write into one of ``folders`` (where the output is made), not a failed read."""
    if e.errno in _WRITE_ERRNOS or not e.filename:
        return True
    path = Path(os.path.abspath(os.fsdecode(e.filename)))
    return any(path == f or f in path.parents for f in folders)
