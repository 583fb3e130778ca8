"""Run folders Ultralytics makes before a run can fail: recorded while a command runs, and removed
when the run failed before writing anything but its arguments."""

from __future__ import annotations

import shutil
from pathlib import Path


def remove_fresh_run_folder(save_dir: Path, parent: bool = False) -> None:
    """Delete ``save_dir`` if it holds only ``args.yaml`` and an empty ``weights/`` (or is gone already).

    With ``parent``, also remove its parent when that is left empty: the project folder a command made.
    """
    if save_dir.is_dir():
        weights = save_dir / "weights"
        if not {p.name for p in save_dir.iterdir()} <= {"args.yaml", "weights"} or (
            weights.is_dir() and any(weights.iterdir())
        ):
            return  # holds results: keep it
        shutil.rmtree(save_dir)
    if parent:
        try:
            save_dir.parent.rmdir()  # only succeeds when empty
        except OSError:
            pass


class RunFolders:
    """Context: remove the run folders Ultralytics made in it if the command then fails before any weights.

    A trainer makes ``<project>/<name>`` (``args.yaml``, empty ``weights/``) before it checks its
    dataset and loads weights; a failure there would leave that folder behind and make the next
    run's folder ``<name>2``. Only folders holding nothing else are removed, and a project folder
    this command created is removed when it is left empty.
    """

    def __enter__(self):
        from ultralytics.utils.callbacks.base import default_callbacks

        dirs: list[Path] = []

        def record(trainer) -> None:  # a plain function: Ultralytics deep-copies the callbacks dict
            if getattr(trainer, "save_dir", None) is not None:
                dirs.append(Path(trainer.save_dir))

        self.dirs, self.record = dirs, record
        self.callbacks = default_callbacks["on_pretrain_routine_start"]
        self.callbacks.insert(0, record)  # first: a later callback may refuse the run
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.callbacks.remove(self.record)
        if kind is None or (isinstance(value, SystemExit) and value.code in (0, None)):
            return
        for d in self.dirs:
            remove_fresh_run_folder(d, parent=True)

    def resume_hint(self, mode: str) -> str | None:
        """After an interrupted train: how to resume its run, or that nothing was kept; None for other modes."""
        if mode != "train":
            return None
        if not self.dirs:
            return "training had not started; nothing was written"
        last = [d / "weights" / "last.pt" for d in self.dirs if (d / "weights" / "last.pt").is_file()]
        if last:
            return f"resume with 'ca-yolo train resume=True model={last[-1]}'"
        return "no epoch had finished, so no run folder was kept"
