"""How the plugin marks the Ultralytics functions it wraps, so that wrapping twice is a no-op."""

from __future__ import annotations

from collections.abc import Callable

_MARK = "_ca_yolo_wrapper"


def mark_wrapper(wrapper: Callable, original: Callable) -> Callable:
    """Give ``wrapper`` the docstring of ``original``, ``__wrapped__`` = ``original`` and our mark; returns it."""
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original
    setattr(wrapper, _MARK, True)
    return wrapper


def is_wrapped(fn: object) -> bool:
    """Whether ``fn`` is one of our wrappers (made by :func:`mark_wrapper` or carrying its mark)."""
    return bool(getattr(fn, _MARK, False))
