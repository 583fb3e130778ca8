"""The package's error classes: one base, so every command reports them the same way.

A :class:`CaYoloError` is an expected failure (bad input, bad data, a refused output): the command
line prints its message as ``ca-yolo <cmd>: error: <message>`` without a traceback and exits with
its :attr:`~CaYoloError.exit_code` (2 for usage mistakes, 1 for data and model problems). Any other
exception is a bug or an environment problem: it is also printed as one line, and the traceback is
shown with ``--debug`` or ``CA_YOLO_DEBUG=1``.

This module imports nothing heavy, so ``ca-yolo --help`` stays fast.
"""

from __future__ import annotations

import os

DEBUG_ENV = "CA_YOLO_DEBUG"


class CaYoloError(Exception):
    """An expected failure whose message names what is wrong (file, row, key, value)."""

    exit_code = 1


class UsageError(CaYoloError):
    """The command line itself is wrong (unknown key, bad value, missing argument)."""

    exit_code = 2


def debug_enabled() -> bool:
    """True when ``CA_YOLO_DEBUG`` asks for tracebacks (set by ``--debug`` too)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def one_line(e: BaseException) -> str:
    """A one-line description of an unexpected exception: its type and the first non-empty line of its message.

    Many libraries put the useful sentence last (after a long preamble), so the last non-empty line
    is taken when the first one ends with a colon (an introduction, not the message).
    """
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    if not lines:
        return type(e).__name__
    text = lines[-1] if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return f"{type(e).__name__}: {text}"
