"""What every ``ca-yolo`` command line shares: Ultralytics-style ``key=value`` arguments, their usage
errors, and Ultralytics' own checks of device and settings run before any work.

Imports nothing heavy at module level (Ultralytics only inside the checks), so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Collection, Iterator

from ca_yolo.errors import UsageError


class ArgError(UsageError, ValueError):
    """A command-line argument that cannot be used; the message says which and why."""


def int_at_least(minimum: int, multiple: int | None = None):
    """An argparse ``type``: an integer >= ``minimum`` (and a multiple of ``multiple``), else a usage error
    naming the value (exit 2), e.g. ``expected an integer >= 1, got '0'``."""
    also = f" and a multiple of {multiple}" if multiple else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (multiple and value % multiple):
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}{also}, got {text!r}")
        return value

    return parse


def parse_value(text: str) -> object:
    """Turn an argument string into None, bool, int, float, or leave it a string (as ``yolo`` does)."""
    low = text.lower()
    if low == "none":
        return None
    if low in {"true", "false"}:
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_kv(argv: list[str]) -> dict[str, object]:
    """Parse ``key=value`` tokens into a dict, values typed by :func:`parse_value`.

    Raises:
        ArgError: a token without ``=``, an empty key, or a key given twice.
    """
    out: dict[str, object] = {}
    for token in argv:
        key, eq, value = token.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ArgError(f"argument '{token}' is not key=value")
        if key in out:
            raise ArgError(f"argument '{key}' given twice")
        out[key] = parse_value(value.strip())
    return out


def split_list(value: object) -> list[str]:
    """Split a comma-separated argument (``a.yaml,b.yaml``) into its non-empty items."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [s.strip() for s in str(value).split(",") if s.strip()]


HELP_WORDS = frozenset({"-h", "--help", "help"})


def suggested_command(word: str, ours: Collection[str], theirs: Collection[str]) -> str | None:
    """The command of ``ours`` that a mistyped ``word`` most likely meant, or None.

    None as well when ``word`` is close to one of ``theirs`` (Ultralytics' modes and tasks): its own
    'similar arguments' hint then applies. Ultralytics alone compares a word with its setting names
    too, so ``compar`` would get 'did you mean compile=False' instead of ``compare``.
    """
    import difflib

    if "=" in word or word in ours or word in theirs:
        return None
    if difflib.get_close_matches(word, list(theirs), n=1, cutoff=0.6):
        return None
    match = difflib.get_close_matches(word, list(ours), n=1, cutoff=0.6)
    return match[0] if match else None


def empty_value(argv: list[str]) -> ArgError | None:
    """The usage error for the first ``key=`` without a value in ``argv`` (None when every key has one).

    Ultralytics answers ``model=`` with its whole 40-line help text; the key is named instead.
    """
    for token in argv:
        key, eq, value = token.partition("=")
        if eq and key and not value.strip():
            hint = {
                "model": ": give a checkpoint (.pt) or a model YAML",
                "data": ": give a data YAML",
                "source": ": give an image, a folder, a video or a URL",
            }.get(key, "")
            return ArgError(f"{key}= has no value{hint}")
    return None


def usage_exit_code(argv: list[str], usage: str) -> int | None:
    """Print ``usage`` and return the exit code when ``argv`` is empty or asks for help, else None.

    Asking for help is a success (0); no arguments at all, for a command that needs some, is a
    usage error (2).
    """
    if argv and argv[0] not in HELP_WORDS:
        return None
    print(usage)
    return 0 if argv else 2


def parse_command(argv: list[str], allowed: Collection[str], required: tuple[str, ...] = ()) -> dict[str, object]:
    """Parse ``key=value`` arguments of a command that takes a fixed set of keys.

    Returns:
        the typed values by key (see :func:`parse_kv`).

    Raises:
        ArgError: a malformed token, a key not in ``allowed``, or a ``required`` key missing or empty.
    """
    args = parse_kv(argv)
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ArgError(f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    for key in required:
        if not args.get(key):
            raise ArgError(f"'{key}=' is required")
    return args


def typed(args: dict[str, object], key: str, kind: type, default: object = None) -> object:
    """``args[key]`` as an ``int`` or ``float`` (``default`` when absent or None), or an ArgError naming the key.

    Ultralytics-style parsing leaves a value that is not a number as a string (``conf=abc``); this
    turns that into a message instead of a ``ValueError`` from deep inside the command.
    """
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        what = "an integer" if kind is int else "a number"
        raise ArgError(f"{key}={value} must be {what}")
    return kind(value)


def check_counts(settings: dict[str, object], training: bool = False) -> None:
    """Range checks of the sizes and counts Ultralytics' ``get_cfg`` lets through.

    ``imgsz=-64`` would be raised to the model's stride and evaluated at 32 px, ``batch=0`` fails
    deep inside the data loader, ``workers=-1`` in the worker pool; each is a usage mistake.
    (``max_det`` and ``epochs`` are checked by ``get_cfg`` itself.)
    ``batch=-1`` (AutoBatch) and a fraction in (0, 1) (AutoBatch's share of GPU memory) are
    training settings only.

    Raises:
        ArgError: ``<key>=<value> must be ...``.
    """
    sizes = settings.get("imgsz")
    for size in sizes if isinstance(sizes, (list, tuple)) else [sizes]:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ArgError(f"imgsz={_shown(sizes)} must be a positive integer (pixels) or two of them")
    batch = settings.get("batch")
    if batch is not None:
        autobatch = training and (batch == -1 or (isinstance(batch, float) and 0 < batch < 1))
        if not autobatch and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            hint = " (or -1, or a fraction in (0, 1), for AutoBatch)" if training else ""
            raise ArgError(f"batch={batch} must be an integer >= 1{hint}")
    workers = settings.get("workers")  # (max_det and epochs get_cfg checks itself)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ArgError(f"workers={workers} must be an integer >= 0")


def _shown(value: object) -> str:
    """A value as the user typed it: a list without spaces (``640,480``)."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def check_ultralytics_settings(settings: dict[str, object], training: bool = False) -> None:
    """Ultralytics' own type and range checks (``get_cfg``) of ``settings``, now rather than after the model loads,
    and :func:`check_counts` (``training``: AutoBatch values of ``batch`` are allowed).

    Raises:
        ArgError: ``bad Ultralytics setting: <Ultralytics' message>`` (e.g. ``'iou=2' is an invalid value. ...``),
            or ``<key>=<value> must be ...`` for a size or count out of range.
    """
    from ultralytics.cfg import get_cfg

    check_counts(settings, training)

    try:
        get_cfg(overrides=dict(settings))
    except (TypeError, ValueError, SyntaxError) as e:
        raise ArgError(f"bad Ultralytics setting: {e}") from None


def check_device(device: str | None) -> None:
    """Ultralytics' own device selection (``select_device``) of ``device``, before any work (e.g. device=cuda:7
    without that GPU).

    Raises:
        ArgError: ``device=<value>: <the first line of Ultralytics' message>``.
    """
    if device is None:
        return
    from ultralytics.utils.torch_utils import select_device

    try:
        with quiet_ultralytics():
            select_device(device, verbose=False)
    except Exception as e:  # noqa: BLE001  (Ultralytics raises ValueError; its first line says why)
        raise ArgError(f"device={device}: {str(e).strip().splitlines()[0]}") from None


@contextlib.contextmanager
def quiet_ultralytics() -> Iterator[None]:
    """Only warnings from Ultralytics' logger in the block (its info lines would bury what we print); the level
    is put back afterwards."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)
