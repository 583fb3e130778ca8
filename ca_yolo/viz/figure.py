"""Draw one figure per image: its detections, and each attention layer's map over the image.

Each attention panel overlays the map (channel mean, or one of the k channels with the largest
spread) as a heat map of its deviation from its own mean, on its own colour scale (the title gives
the mean), with the 1-D gates drawn along the image's edges: g_h on the left (one value per image
row), g_w along the bottom (one value per column), each over its own range. Matplotlib's object API with the Agg
canvas is used, so no display and no global pyplot state are involved.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter
from mpl_toolkits.axes_grid1 import make_axes_locatable

from ca_yolo.viz.capture import AttentionMap
from ca_yolo.viz.predict import ImageAttention

CHANNEL_MODES = ("mean", "topk")
_PANEL_IN = 3.4  # inches of the longer image side in one panel
# Narrowest deviation drawn with full contrast: float32 gates carry rounding noise near 1e-7.
NOISE_FLOOR = 1e-6


def _panels(m: AttentionMap, channels: str, k: int) -> list[tuple[np.ndarray, int | None]]:
    """(map (H, W), channel or None for the mean) for each panel of layer ``m``."""
    if channels == "mean":
        return [(m.mean(), None)]
    idx, maps = m.topk(k)
    return [(maps[j], int(c)) for j, c in enumerate(idx)]


def _title(m: AttentionMap, channel: int | None, grid: np.ndarray) -> str:
    what = "mean of channels" if channel is None else f"channel {channel}"
    centre = float(grid.mean())
    return f"layer {m.layer} {m.type} · stride {m.stride:g} · C={m.channels}\n{what}: {centre:.4g} + deviation"


def deviation(grid: np.ndarray) -> tuple[np.ndarray, float]:
    """``grid`` minus its mean, and the symmetric colour limit of that deviation (its own largest magnitude).

    Layers that start near the identity have gates of about sigmoid(4) = 0.982 everywhere: on a
    common or absolute colour scale every panel is one flat colour. Each panel therefore shows how
    its own map departs from its mean, with its own contrast; the limit never drops below
    :data:`NOISE_FLOOR`, so an exactly constant map stays flat instead of magnifying rounding noise.
    """
    dev = grid.astype(np.float64) - float(grid.mean())
    return dev, max(float(np.abs(dev).max(initial=0.0)), NOISE_FLOOR)


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Axis limits for a gate profile: its own min and max, at least :data:`NOISE_FLOOR` apart."""
    lo, hi = float(values.min()), float(values.max())
    mid, half = (lo + hi) / 2, max(hi - lo, NOISE_FLOOR) / 2
    return mid - half, mid + half


def range_label(name: str, values: np.ndarray) -> str:
    """``g_h 0.9812–0.9847``: min and max with the fewest decimals (2 to 6) that tell them apart."""
    lo, hi = float(values.min()), float(values.max())
    for decimals in range(2, 7):
        if f"{lo:.{decimals}f}" != f"{hi:.{decimals}f}":
            return f"{name} {lo:.{decimals}f}–{hi:.{decimals}f}"
    return f"{name} {lo:.6f} (constant)"


def _profile_axis(divider, ax, att: ImageAttention, name: str, gate: np.ndarray, color: str) -> None:
    """Draw gate ``name`` beside ``ax``: g_h (one value per image row) outwards from the left edge, g_w (one per
    image column) downwards from the bottom edge, its value axis reversed over its own range (:func:`value_range`)."""
    rows = name == "g_h"
    side, value, along = ("left", "x", "y") if rows else ("bottom", "y", "x")
    prof = divider.append_axes(side, size="14%", pad=0.04, **{f"share{along}": ax})
    values = att.letterbox.profile_to_image(gate, axis=0 if rows else 1)
    positions = np.arange(att.image.shape[0 if rows else 1]) + 0.5
    prof.plot(*((values, positions) if rows else (positions, values)), color=color, lw=1)
    getattr(prof, f"set_{value}lim")(*reversed(value_range(gate)))
    getattr(prof, f"set_{along}label")(range_label(name, gate), fontsize=7)
    getattr(prof, f"set_{value}ticks")([])
    prof.tick_params(**{side: False, f"label{side}": False})


def _draw_attention(fig: Figure, ax, att: ImageAttention, m: AttentionMap, grid: np.ndarray, channel: int | None):
    """Heat map of ``grid`` over the image on ``ax``, g_h / g_w profiles on its left / bottom edges."""
    h0, w0 = att.image.shape[:2]
    dev, limit = deviation(grid)
    heat = att.on_image(dev.astype(np.float32))
    gray = cv2.cvtColor(cv2.cvtColor(att.image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2RGB)
    ax.imshow(gray, extent=(0, w0, h0, 0))
    im = ax.imshow(heat, cmap="RdBu_r", alpha=0.6, vmin=-limit, vmax=limit, extent=(0, w0, h0, 0))
    ax.set_title(_title(m, channel, grid), fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    divider = make_axes_locatable(ax)
    bar = fig.colorbar(im, cax=divider.append_axes("right", size="4%", pad=0.04))
    bar.ax.tick_params(labelsize=6)
    bar.formatter = FormatStrFormatter("%+.2g")  # signed deviations, never an offset like "1e-6+0.52"
    bar.update_ticks()
    g_h, g_w = m.profiles(channel)
    if g_h is not None:
        _profile_axis(divider, ax, att, "g_h", g_h, "tab:red")
    if g_w is not None:
        _profile_axis(divider, ax, att, "g_w", g_w, "tab:blue")
    ax.set_xlim(0, w0)
    ax.set_ylim(h0, 0)


def draw_attention_figure(att: ImageAttention, channels: str = "mean", k: int = 4) -> Figure:
    """Build the figure for one image (see the module docstring); nothing is written.

    Layout: with ``channels="mean"`` the detections panel and one panel per layer fill a grid of up
    to 4 columns; with ``"topk"`` the detections come first and each layer gets a row of k panels.
    """
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels='{channels}' must be one of {', '.join(CHANNEL_MODES)}")
    per_layer = [_panels(m, channels, k) for m in att.maps]
    h0, w0 = att.image.shape[:2]
    if channels == "mean":
        n = 1 + len(att.maps)
        ncols = min(4, n)
        nrows = math.ceil(n / ncols)
        slots = list(range(1, n))  # panel position of each layer's first panel
    else:
        ncols = max([1, *map(len, per_layer)])  # k, or fewer when a layer has fewer channels
        nrows = 1 + len(att.maps)
        slots = [ncols * (1 + j) for j in range(len(att.maps))]
    scale = _PANEL_IN / max(h0, w0)
    pw, ph = w0 * scale + 1.2, h0 * scale + 1.3  # room for profiles, colour bar and title
    fig = Figure(figsize=(pw * ncols, ph * nrows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    det = axes[0]
    det.set_axis_on()
    # Ultralytics' default line width stays >= 2 px with big labels, which swamps a small image.
    det.imshow(cv2.cvtColor(att.result.plot(line_width=max(1, round(max(h0, w0) / 300))), cv2.COLOR_BGR2RGB))
    det.set_title(f"{att.path.name}: {len(att.result.boxes)} detections", fontsize=8)
    det.set_xticks([])
    det.set_yticks([])
    for m, slot, panels in zip(att.maps, slots, per_layer):
        for j, (grid, channel) in enumerate(panels):
            ax = axes[slot + j]
            ax.set_axis_on()
            _draw_attention(fig, ax, att, m, grid, channel)
    how = "mean over channels" if channels == "mean" else f"top-{k} channels by spread (max - min)"
    fig.suptitle(f"Coordinate Attention maps, {how}", fontsize=10)
    fig.tight_layout()
    return fig
