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
    """Prints progress lines; the ETA is the work left (epochs) times the seconds per epoch so far.

    Args:
        epochs_left: epochs each run still has to train (0 for finished runs), in run order.
        log: where lines go.
    """

    def __init__(self, epochs_left: list[int], log: Callable[[str], None] = print) -> None:
        self.left = list(epochs_left)
        self.log = log
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
        return fmt_duration(remaining * self.spent / self.trained)

    def skip(self, i: int, label: str) -> None:
        """A run that finished earlier."""
        self.log(f"ca-yolo compare [{i + 1}/{self.n}] {label}: finished earlier, skipped")

    def start(self, i: int, label: str, state: str, epochs: int) -> None:
        """A run begins: ``state`` is new, resume or evaluate."""
        what = {"new": f"training {epochs} epochs", "resume": f"resuming, {epochs} epochs left",
                "evaluate": "trained earlier, evaluating"}[state]  # fmt: skip
        self.log(f"ca-yolo compare [{i + 1}/{self.n}] {label}: {what} (ETA for the comparison: {self.eta()})")

    def finish(self, i: int, label: str, seconds: float, epochs: int, coco: dict, ultra: dict) -> None:
        """A run ends after ``seconds`` having trained ``epochs`` epochs."""
        if epochs:  # evaluation-only runs would skew the seconds-per-epoch rate
            self.spent += seconds
            self.trained += epochs
        self.left[i] = 0
        ap = coco.get("AP") or 0.0
        ap50 = coco.get("AP50") or 0.0
        self.log(
            f"ca-yolo compare [{i + 1}/{self.n}] {label}: done in {fmt_duration(seconds)}, "
            f"AP {ap:.3f} AP50 {ap50:.3f} (Ultralytics mAP50-95 {ultra.get('mAP50-95', 0.0):.3f}); "
            f"ETA for the comparison: {self.eta()}"
        )
