"""The package's error classes: one base, so every command reports them the same way.

A :class:`CaYoloError` is an expected failure (bad input, bad data, a refused output): the command
line prints its message as ``ca-yolo <cmd>: error: <message>`` without a traceback and exits with
its :attr:`~CaYoloError.exit_code` (2 for usage mistakes, 1 for data and model problems). Any other
exception is a bug or an environment problem: it is also printed as one line, and the traceback is
shown with ``--debug`` or ``CA_YOLO_DEBUG=1``.

This module imports nothing heavy, so ``ca-yolo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

DEBUG_ENV = "CA_YOLO_DEBUG"


class CaYoloError(Exception):
    """An expected failure whose message names what is wrong (file, row, key, value)."""

    exit_code = 1


class CheckpointError(CaYoloError):
    """A checkpoint file that is missing, cut short, unsafe or not a checkpoint; the message names it.

    Defined here (not beside the checkpoint checks) so the plugin can raise it while ``import ca_yolo``
    runs without importing the evaluation package.
    """


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


def yaml_problem(e: Exception) -> str:
    """One line for a YAML parse error: ``at line N: <problem>`` (PyYAML's message spans several lines)."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or next(
        (s.strip() for s in str(e).splitlines() if s.strip()), type(e).__name__
    )
    return f"{where}: {problem}" if where else f": {problem}"


def not_found(e: FileNotFoundError) -> str:
    """``'<file>' not found`` for an OS error, else its message on one line (Ultralytics writes its own)."""
    if e.filename:
        return f"'{e.filename}' not found"
    return " ".join(str(e).split()) or "file not found"


def report(cmd: str, e: BaseException) -> int:
    """Print ``e`` as command ``cmd``'s one error line (its traceback first under ``--debug``); return the exit code.

    For commands that catch their own errors (so a direct call of their ``main`` returns a code):
    a :class:`CaYoloError` prints its message and exits with its code, anything else is reported
    as unexpected (type and first line, exit 1).
    """
    if debug_enabled():
        traceback.print_exception(e)
    if isinstance(e, CaYoloError):
        print(f"ca-yolo {cmd}: error: {e}", file=sys.stderr)
        return e.exit_code
    tail = "" if debug_enabled() else " (add --debug for the traceback)"
    print(f"ca-yolo {cmd}: error: {one_line(e)}{tail}", file=sys.stderr)
    return 1


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` in the package's error style: a usage mistake is one line, exit code 2.

    ``<prog>: error: <message> (see '<prog> --help')`` instead of argparse's usage block followed by
    the message. Sub-parsers made with ``add_subparsers`` inherit the class.
    """

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def command_parser(name: str, description: str, **kwargs) -> ArgumentParser:
    """The :class:`ArgumentParser` of command ``ca-yolo <name>`` (``kwargs``: epilog, formatter_class, ...)."""
    return ArgumentParser(prog=f"ca-yolo {name}", description=description, **kwargs)


def check_output(path, what: str, folder: bool = False) -> None:
    """Raise :class:`CaYoloError` unless ``path`` (a file or folder still to be written) can be created.

    Run before the work, so a long conversion or benchmark does not end in a write error: the
    deepest folder of ``path`` that exists must be a folder (not a file in the way) in which a file
    can be created, which is tried (and the file removed at once). ``what`` names the option, e.g.
    ``--out`` or ``out=``; ``folder`` says whether ``path`` is to be a folder (else an existing folder is refused).
    """
    import tempfile
    from pathlib import Path

    path = Path(path)
    label = f"{what}{path}" if what.endswith("=") else f"{what} {path}"  # out=DIR, --out DIR
    if path.is_dir() and not folder:
        raise UsageError(f"{label} is a folder; give a file name")
    if path.exists() and not path.is_dir() and folder:
        raise CaYoloError(f"{label} is a file, not a folder")
    where = path.absolute().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise CaYoloError(f"cannot write {label}: '{where}' is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=where, prefix=".ca-yolo-write-test-")
    except OSError as e:
        raise CaYoloError(f"cannot write {label}: {e.strerror or e} in '{where}'") from None
    os.close(fd)
    os.unlink(probe)
