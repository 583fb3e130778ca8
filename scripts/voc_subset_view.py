"""Make a thinned, read-only *view* of a VOCdevkit: symlinks to its images and XMLs, filtered id lists.

Used by voc_cpu_study.sh to train on a fixed, documented fraction of VOC2007 on a CPU. Nothing is
copied: JPEGImages/ and Annotations/ are symlinks into the source, and only ImageSets/Main/train.txt
and val.txt are rewritten (every k-th id, in the official order), so the view is deterministic.

    python scripts/voc_subset_view.py SRC/VOCdevkit DST/VOCdevkit --train-every 2 --val-every 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path


def make_view(src: Path, dst: Path, train_every: int, val_every: int) -> dict[str, int]:
    """Write the view of ``src/VOC2007`` at ``dst/VOC2007`` (atomically); return ids per split."""
    voc = src / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main/train.txt", "ImageSets/Main/val.txt"):
        if not (voc / sub).exists():
            raise FileNotFoundError(f"{voc / sub} does not exist: is {src} a VOCdevkit folder?")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    out = tmp / "VOC2007"
    (out / "ImageSets" / "Main").mkdir(parents=True)
    for sub in ("JPEGImages", "Annotations"):
        os.symlink((voc / sub).resolve(), out / sub)
    counts = {}
    for split, every in (("train", train_every), ("val", val_every)):
        ids = (voc / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        kept = ids[::every]
        (out / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(kept) + "\n")
        counts[split] = len(kept)
    (out / "ImageSets" / "Main" / "trainval.txt").write_text(
        "\n".join(
            sorted(
                set((out / "ImageSets/Main/train.txt").read_text().split())
                | set((out / "ImageSets/Main/val.txt").read_text().split())
            )
        )
        + "\n"
    )
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, help="source VOCdevkit folder")
    p.add_argument("dst", type=Path, help="where to write the view (replaced if it exists)")
    p.add_argument("--train-every", type=int, default=1, help="keep every k-th id of train.txt")
    p.add_argument("--val-every", type=int, default=1, help="keep every k-th id of val.txt")
    a = p.parse_args()
    counts = make_view(a.src, a.dst, a.train_every, a.val_every)
    print(f"VOC view at {a.dst}: train {counts['train']} ids, val {counts['val']} ids")


if __name__ == "__main__":
    main()
