"""Ultralytics' own failures of a run, as the one line every ca-yolo error is.

Ultralytics raises its dataset failures (``No labels found``, ``No valid images found``) as plain
``ValueError``/``RuntimeError`` whose text carries terminal colour codes, a documentation link and,
for the second, one indented line per bad file. Printed as an unexpected error they would show
``ValueError: \\x1b[34m\\x1b[1mtrain: \\x1b[0mNo labels found ...``; these are data problems, so they
are reported as such.
"""

from __future__ import annotations

import errno
import os
import re

from ca_yolo.errors import CaYoloError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HELP = re.compile(r"\s*See https://docs\.ultralytics\.com/\S+ for [^.]*\.")
# Message starts of Ultralytics' dataset failures (ultralytics/data/dataset.py and base.py).
_DATASET_FAILURES = ("No labels found in ", "No valid images found in ", "No images found in ")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes."""
    return _ANSI.sub("", text)


def dataset_failure(e: BaseException) -> CaYoloError | None:
    """A :class:`CaYoloError` with Ultralytics' dataset failure ``e`` in one clean line, or None for any other error.

    ``No labels found`` gets the likely cause (label files not in the ``labels/`` twin of the
    ``images/`` folder) and the command that lists what is wrong.
    """
    text = strip_ansi(str(e))
    if not any(m in text for m in _DATASET_FAILURES):
        return None
    lines = [s.strip() for s in _HELP.sub("", text).splitlines() if s.strip()]
    first, details = lines[0], lines[1:]
    if details:  # one line per bad file: the first, and how many more
        more = f"; and {len(details) - 1} more" if len(details) > 1 else ""
        first = f"{first.rstrip('.')}: {details[0]}{more}"
    if "No labels found in " in first:
        first += (
            " (Ultralytics reads each image's labels from the 'labels' folder beside its 'images' folder; "
            "'ca-yolo data check <data.yaml>' lists what is wrong)"
        )
    return CaYoloError(first)


# Errors a write gives: a full disk or quota, a read-only filesystem or folder, a file in the way.
_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST}
)


def write_failure(e: BaseException) -> CaYoloError | None:
    """``cannot write <path>: <reason>`` for an OS error of writing a run's files, or None for any other error.

    A training run writes its folder, ``results.csv``, plots and checkpoints; a full disk or a
    read-only folder otherwise ends as ``OSError: [Errno 28] ...`` or a torch ``RuntimeError``
    about a zip archive writer.
    """
    if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
        path = os.fsdecode(e.filename) if e.filename else "a file of the run"
        return CaYoloError(f"cannot write {path}: {e.strerror or e}")
    text = str(e)
    if isinstance(e, RuntimeError) and "PytorchStreamWriter failed" in text:  # torch.save on a full disk
        return CaYoloError(f"cannot write a checkpoint: {text.splitlines()[0]} (is the disk full?)")
    return None
