"""Errors raised for bad dataset input, and a collector that lists every problem at once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ca_yolo.errors import CaYoloError


class DataError(CaYoloError):
    """Bad dataset input or a refused output. The message names the file (and value) at fault."""


class OutputExistsError(DataError):
    """The output folder already exists and ``force`` was not given."""


@dataclass
class Problems:
    """Problems found while converting, one ``(file, message)`` per bad item.

    Converters look at every source item before failing, so one run reports all the bad files
    instead of the first one only. With ``skip_bad`` the bad items are left out and reported as
    warnings; otherwise :meth:`raise_if_any` raises a :class:`DataError` listing them.
    """

    skip_bad: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)
    max_listed: int = 50

    def add(self, file: str | Path, message: str) -> None:
        """Record that ``file`` is bad because of ``message``."""
        self.items.append((str(file), message))

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        """``file: message`` lines, at most ``max_listed`` plus a count of the rest."""
        out = [f"  {f}: {m}" for f, m in self.items[: self.max_listed]]
        if len(self.items) > self.max_listed:
            out.append(f"  ... and {len(self.items) - self.max_listed} more")
        return out

    def raise_if_any(self, what: str) -> None:
        """Raise a :class:`DataError` about ``what`` unless there are no problems or ``skip_bad``."""
        if self.items and not self.skip_bad:
            head = f"{what}: {len(self.items)} problem(s); nothing was written (--skip-bad skips them)"
            raise DataError("\n".join([head, *self.lines()]))

    def settle(self, what: str, items: dict[str, list], where: Callable[[str], object]) -> None:
        """End a converter's checks: fail listing every problem (:meth:`raise_if_any`), or with ``skip_bad`` warn
        about the skipped ones; then refuse a split left without images, named by ``where(split)``."""
        self.raise_if_any(what)
        self.warn(what)
        for split, kept in items.items():
            if not kept:
                raise DataError(f"{where(split)}: the {split} split has no usable images")

    def warn(self, what: str, file=None) -> None:
        """Print the skipped problems as warnings (``skip_bad`` mode)."""
        if self.items:
            print(f"WARNING {what}: skipped {len(self.items)} bad item(s):", file=file or sys.stderr)
            print("\n".join(self.lines()), file=file or sys.stderr)
