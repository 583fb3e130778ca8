"""Ultralytics-style ``key=value`` command-line arguments."""

from __future__ import annotations


class ArgError(ValueError):
    """A command-line argument that cannot be used; the message says which and why."""


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
