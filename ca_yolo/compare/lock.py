"""One ``ca-yolo compare`` per comparison folder at a time, and a clean stop on SIGTERM.

Two runs into one folder would train the same runs at once, append each other's epochs to
``results.csv`` and overwrite each other's checkpoints. The lock is an ``flock`` on
``<folder>/.compare.lock``: the kernel releases it when its holder exits, however it exits, so a
lock file left by a dead process is simply taken over. The file holds the holder's pid, for the
message a second run gives.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from ca_yolo.errors import CaYoloError

LOCK_FILE = ".compare.lock"


class FolderInUse(CaYoloError):
    """Another process holds the comparison folder's lock (the message names the folder and its pid)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process was, so it unwinds like Ctrl-C (every cleanup path runs)."""

    signum = signal.SIGTERM


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s compare lock for the block; folders made for it are removed again if left empty.

    Raises:
        FolderInUse: another live process holds it.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked rather than not at all
        yield
        return
    folder = Path(folder)
    made = _missing_parents(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = _acquire(path, fcntl)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # while still locked: a waiting process then opens a new file, never this one
        os.close(fd)
        for d in made:  # innermost first; only folders this run made and left empty
            with contextlib.suppress(OSError):
                d.rmdir()


def _acquire(path: Path, fcntl) -> int:
    """An open descriptor of ``path`` holding its exclusive lock, or :class:`FolderInUse`."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise FolderInUse(
                f"comparison folder '{path.parent}' is in use by another 'ca-yolo compare' ({who}); "
                "wait for it to finish or stop it, or give another name="
            ) from None
        # The holder we waited on may have removed the file after we opened it: then our lock is on a
        # file nobody else will open, and the lock must be taken on the path's current file instead.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The pid written in an open lock file, or None when it holds none."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _missing_parents(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    missing = []
    for d in (folder, *folder.absolute().parents):
        if d.exists():
            break
        missing.append(d)
    return missing


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` in the main thread (then the old handler is back)."""

    def raise_terminated(signum, frame):
        raise Terminated

    try:
        old = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
