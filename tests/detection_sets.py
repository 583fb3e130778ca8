"""A random COCO GT and noisy detections of it, for the evaluation and comparison tests."""

from __future__ import annotations

import numpy as np


def add_random_object(rng: np.random.Generator, image_id: int, anns: list[dict]) -> tuple[int, list[float]]:
    """Draw one GT object (class 1 or 2) in a 100 px image, append it to ``anns``; return its class and box.

    One object at a time, so that callers draw its detections from the same ``rng`` before the next object.
    """
    box = [float(v) for v in [*rng.uniform(0, 60, 2), *rng.uniform(8, 30, 2)]]
    cat = int(rng.integers(1, 3))
    anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "bbox": box,
                 "area": box[2] * box[3], "iscrowd": 0})  # fmt: skip
    return cat, box


def coco_gt(n_images: int, anns: list[dict]) -> dict:
    """A COCO GT dict of images 1..n_images (100 x 100 px) and categories 1 "a", 2 "b" holding ``anns``."""
    images = [{"id": i, "width": 100, "height": 100} for i in range(1, n_images + 1)]
    return {"images": images, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "annotations": anns}


def random_set(seed: int, n_images: int = 8, noise: float = 3.0):
    """GT of 3 objects per image (2 classes) and noisy detections of them plus a few stray boxes."""
    rng = np.random.default_rng(seed)
    anns, dets = [], []
    for i in range(1, n_images + 1):
        for _ in range(3):
            cat, box = add_random_object(rng, i, anns)
            noisy = [float(v) for v in np.maximum(np.asarray(box) + rng.normal(0, noise, 4), 1)]
            dets.append({"image_id": i, "category_id": cat, "bbox": noisy, "score": float(rng.random())})
        dets.append({"image_id": i, "category_id": int(rng.integers(1, 3)), "bbox": [70.0, 70.0, 10.0, 10.0],
                     "score": float(rng.random())})  # fmt: skip
    return coco_gt(n_images, anns), dets
