"""Is this process the ``ca-yolo`` console script asked only for a help text?

``import ca_yolo`` registers the plugin, which imports torch and Ultralytics (seconds). The console
script imports ``ca_yolo.cli`` and so the package first; for a help request nothing of that is
needed, so the package skips it (see ``ca_yolo/__init__.py``). Any other process, and any other
command line, gets the full import.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP_FLAGS = ("-h", "--help")
# Commands whose help text is printed before anything heavy is imported.
LIGHT_HELP = ("data", "compare", "eval", "attn", "bench")


def help_only(argv: list[str] | None = None) -> bool:
    """True for ``ca-yolo``, ``ca-yolo --help`` and ``ca-yolo <light command> --help`` run as the console script."""
    argv = sys.argv if argv is None else argv
    if not argv or Path(argv[0]).name != "ca-yolo":
        return False
    rest = [a for a in argv[1:] if a != "--debug"]
    if not rest or rest == [HELP_FLAGS[0]] or rest == [HELP_FLAGS[1]]:
        return True
    return len(rest) == 2 and rest[0] in LIGHT_HELP and rest[1] in (*HELP_FLAGS, "help")
