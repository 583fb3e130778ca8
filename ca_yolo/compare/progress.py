"""One line per run start and finish, with an ETA for the whole comparison."""

from __future__ import annotations

from collections.abc import Callable


def fmt_duration(seconds: float) -> str:
    """``1h02m``, ``3m07s`` or ``12s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """Prints progress lines; the ETA is the work left (epochs) times the seconds per epoch so far,
    shared among the runs that train at once.

    Args:
        epochs_left: epochs each run still has to train (0 for finished runs), in run order.
        log: where lines go.
        slots: how many runs train at the same time (1 locally; a Ray cluster's room for runs).
    """

    def __init__(self, epochs_left: list[int], log: Callable[[str], None] = print, slots: int = 1) -> None:
        self.left = list(epochs_left)
        self.log = log
        self.slots = max(1, slots)
        self.n = len(epochs_left)
        self.spent = 0.0  # seconds of runs finished in this process
        self.trained = 0  # epochs those runs trained

    def eta(self) -> str:
        """Time left for the comparison, or why it is not known yet."""
        remaining = sum(self.left)
        if remaining == 0:
            return "0s"
        if self.trained == 0:
            return "known after the first run"
        # runs in parallel: at most as many slots as runs are left share the remaining epochs
        parallel = min(self.slots, sum(1 for k in self.left if k > 0))
        return fmt_duration(remaining * self.spent / self.trained / parallel)

    def skip(self, i: int, label: str) -> None:
        """A run that finished earlier."""
        self.log(f"ca-yolo compare [{i + 1}/{self.n}] {label}: finished earlier, skipped")

    def start(self, i: int, label: str, state: str, epochs: int, where: str = "") -> None:
        """A run begins: ``state`` is new, resume or evaluate; ``where`` names the machine when not this one."""
        what = {"new": f"training {epochs} epochs", "resume": f"resuming, {epochs} epochs left",
                "evaluate": "trained earlier, evaluating"}[state]  # fmt: skip
        on = f" on {where}" if where else ""
        self.log(f"ca-yolo compare [{i + 1}/{self.n}] {label}: {what}{on} (ETA for the comparison: {self.eta()})")

    def finish(self, i: int, label: str, seconds: float, epochs: int, coco: dict, ultra: dict, where: str = "") -> None:
        """A run ends after ``seconds`` having trained ``epochs`` epochs (on ``where``, when not this machine)."""
        if epochs:  # evaluation-only runs would skew the seconds-per-epoch rate
            self.spent += seconds
            self.trained += epochs
        self.left[i] = 0
        ap = coco.get("AP") or 0.0
        ap50 = coco.get("AP50") or 0.0
        on = f" on {where}" if where else ""
        self.log(
            f"ca-yolo compare [{i + 1}/{self.n}] {label}: done{on} in {fmt_duration(seconds)}, "
            f"AP {ap:.3f} AP50 {ap50:.3f} (Ultralytics mAP50-95 {ultra.get('mAP50-95', 0.0):.3f}); "
            f"ETA for the comparison: {self.eta()}"
        )
