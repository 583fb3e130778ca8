"""Map an array on the letterboxed network input back onto the original image.

Ultralytics' predictor resizes an image by one ratio r (longest side to ``imgsz``) and pads it
symmetrically to the network input size (to ``imgsz`` square, or only to a stride multiple in
``rect`` mode). Both cases are undone from the two shapes alone: the limiting side is never padded,
so ``r = min(H_in / h0, W_in / w0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Where the original image lies inside the network input."""

    orig: tuple[int, int]  # original image (h0, w0)
    input: tuple[int, int]  # network input (H_in, W_in)
    ratio: float  # resize factor original -> input
    top: int
    left: int
    inner: tuple[int, int]  # resized image (h, w) before padding

    @classmethod
    def from_shapes(cls, orig: tuple[int, int], input: tuple[int, int]) -> Letterbox:
        """Geometry of an ``orig`` (h0, w0) image letterboxed into an ``input`` (H_in, W_in) tensor."""
        (h0, w0), (hi, wi) = orig, input
        r = min(hi / h0, wi / w0)
        h, w = min(hi, max(round(h0 * r), 1)), min(wi, max(round(w0 * r), 1))
        # the padding is split like Ultralytics' LetterBox: the odd pixel goes to the bottom / right
        return cls(orig, input, r, round((hi - h) / 2 - 0.1), round((wi - w) / 2 - 0.1), (h, w))

    def to_image(self, grid: np.ndarray) -> np.ndarray:
        """Resample a (h, w) array covering the network input onto the original image: (h0, w0) float32.

        The array's cells are taken to tile the input evenly (a feature map of stride s has cell i over
        input pixels [i*s, (i+1)*s)); bilinear resampling keeps cell centres in place.
        """
        up = cv2.resize(np.ascontiguousarray(grid, np.float32), self.input[::-1], interpolation=cv2.INTER_LINEAR)
        crop = up[self.top : self.top + self.inner[0], self.left : self.left + self.inner[1]]
        return cv2.resize(crop, self.orig[::-1], interpolation=cv2.INTER_LINEAR)

    def profile_to_image(self, values: np.ndarray, axis: int) -> np.ndarray:
        """Resample a 1-D profile along the input's rows (axis 0, -> (h0,)) or columns (axis 1, -> (w0,))."""
        grid = values[:, None] if axis == 0 else values[None, :]
        img = self.to_image(np.repeat(grid, 2, axis=1 - axis))  # cv2 needs >= 1 cell; 2 keeps it 2-D
        return img[:, 0] if axis == 0 else img[0, :]
