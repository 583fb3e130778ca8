"""Model YAML texts the parser tests build, put together from the pieces Ultralytics' own YAMLs share.

Our own YAMLs, one per form or layout seen in public repositories (``test_published_yamls.py``),
and the small model of ``test_registration.py``. The YOLOv8 backbone, its head and the scales
block are written once here; each layout adds its attention rows and the indices that change.
"""

from __future__ import annotations

SCALES = """scales:
  n: [0.33, 0.25, 1024]
  s: [0.33, 0.50, 1024]
  m: [0.67, 0.75, 768]
  l: [1.00, 1.00, 512]
  x: [1.00, 1.25, 512]"""

# YOLO11's and YOLO12's scales (the same in both).
YOLO11_SCALES = """scales:
  n: [0.50, 0.25, 1024]
  s: [0.50, 0.50, 1024]
  m: [0.50, 1.00, 512]
  l: [1.00, 1.00, 512]
  x: [1.00, 1.50, 512]"""

V8_BACKBONE = """
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]"""

# YOLOv8's head without its output row: up to P4 and P3 (Concat with backbone rows p4, p3), then down
# to P4 and P5 (Concat with head rows n4, n5). {after_p4} / {after_p3}: a row right after that Concat.
_V8_HEAD = """
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, {p4}], 1, Concat, [1]]{after_p4}
  - [-1, 3, C2f, [512]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, {p3}], 1, Concat, [1]]{after_p3}
  - [-1, 3, C2f, [256]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, {n4}], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, {n5}], 1, Concat, [1]]
  - [-1, 3, C2f, [1024]]"""

# YOLO11's and YOLO12's first backbone rows (P1 to P4's stride-2 Conv), the same in both.
_C3K2_STEM = """
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 2, C3k2, [256, False, 0.25]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 2, C3k2, [512, False, 0.25]]
  - [-1, 1, Conv, [512, 3, 2]]"""

# YOLO11's and YOLO12's head without its output rows: {block} in the neck ({extra}: its args after the
# shortcut flag), Concat with backbone rows 6 and 4 going up, with head rows {n4} and {n5} going down.
_C3K2_HEAD = """
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 2, {block}, [512, False{extra}]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 2, {block}, [256, False{extra}]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, {n4}], 1, Concat, [1]]
  - [-1, 2, {block}, [512, False{extra}]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, {n5}], 1, Concat, [1]]
  - [-1, 2, C3k2, [1024, True]]"""


def scales(names: str = "nsmlx", block: str = SCALES) -> str:
    """A ``scales:`` block (YOLOv8's unless ``block`` is given) with only the scales in ``names``."""
    return "\n".join(["scales:", *(line for line in block.splitlines()[1:] if line.split(":")[0].strip() in names)])


def v8_head(p4: int, p3: int, n4: int, n5: int, after_p4: str = "", after_p3: str = "") -> str:
    """YOLOv8's head rows without the output row (``_V8_HEAD``); ``after_*``: a row such as ``[-1, 1, SE, []]``."""
    after = {k: f"\n  - {row}" if row else "" for k, row in (("after_p4", after_p4), ("after_p3", after_p3))}
    return _V8_HEAD.format(p4=p4, p3=p3, n4=n4, n5=n5, **after)


def c3k2_head(block: str, n4: int, n5: int, extra: str = "") -> str:
    """YOLO11's / YOLO12's head rows without the output rows (``_C3K2_HEAD``), e.g. ``c3k2_head("C3k2", 14, 11)``."""
    return _C3K2_HEAD.format(block=block, n4=n4, n5=n5, extra=extra)


# YOLOv8 with an attention row after SPPF (10), on the P3/P4/P5 Concat (23, read by nothing) and on each
# head input (24-26); {r10} ... {r26} are the rows' "module, args". Channels per scale: SPPF / P5 1024,
# P4 512, P3 256, Concat 15 768 (nominal); real at n: 256, 128, 64, 192.
TEMPLATE = (
    "\nnc: 2\n"
    + scales("nsl")
    + "\nbackbone:"
    + V8_BACKBONE
    + "\n  - [-1, 1, {r10}]\nhead:"
    + v8_head(6, 4, 13, 10)
    + """
  - [15, 1, {r23}]
  - [16, 1, {r24}]
  - [19, 1, {r25}]
  - [22, 1, {r26}]
  - [[24, 25, 26], 1, Detect, [nc]]
"""
)

# YOLOv5-style depth_multiple/width_multiple (no scales): SE as (channels, reduction) in the backbone,
# CBAMBlock with settings only after SPPF (External-Attention-pytorch's reduction 16, kernel 49).
V5_MULTIPLES = (
    "nc: 2\ndepth_multiple: 0.33\nwidth_multiple: 0.50\nbackbone:"
    + V8_BACKBONE.replace("[512, True]]\n", "[512, True]]\n  - [-1, 1, SE, [512, 2]]\n")
    + "\n  - [-1, 1, CBAMBlock, [16, 49]]\nhead:"
    + v8_head(7, 4, 14, 11)
    + "\n  - [[17, 20, 23], 1, Detect, [nc]]\n"
)

# YOLO11: CA, [1024] at P5 before SPPF; the paper's (inp, oup) after the last neck block, into Detect.
YOLO11_P5_AND_NECK = (
    "nc: 4\n"
    + scales(block=YOLO11_SCALES)
    + "\nbackbone:"
    + _C3K2_STEM
    + """
  - [-1, 2, C3k2, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 2, C3k2, [1024, True]]
  - [-1, 1, CA, [1024]]
  - [-1, 1, SPPF, [1024, 5]]
  - [-1, 2, C2PSA, [1024]]
head:"""
    + c3k2_head("C3k2", 14, 11)
    + """
  - [-1, 1, CoordAtt, [1024, 1024]]
  - [[17, 20, 24], 1, Detect, [nc]]
"""
)

# YOLO12-style A2C2f with a P2 output: CoordinateAttention rows reading explicit layers, a 4-input Detect.
YOLO12_P2 = (
    "nc: 2\n"
    + scales("nsl", YOLO11_SCALES)
    + "\nbackbone:"
    + _C3K2_STEM
    + """
  - [-1, 4, A2C2f, [512, True, 4]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 4, A2C2f, [1024, True, 1]]
head:"""
    + c3k2_head("A2C2f", 11, 8, ", -1")
    + """
  - [14, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 2], 1, Concat, [1]]
  - [-1, 2, A2C2f, [256, False, -1]]
  - [23, 1, CoordinateAttention, [256]]
  - [14, 1, CoordinateAttention, [256]]
  - [17, 1, CoordinateAttention, [512]]
  - [20, 1, CoordinateAttention, [1024]]
  - [[24, 25, 26, 27], 1, Detect, [nc]]
"""
)

# Classification: channel attention before Classify.
CLS_ECA = (
    "nc: 10\n"
    + scales("ns")
    + "\nbackbone:"
    + V8_BACKBONE.replace("  - [-1, 1, SPPF, [1024, 5]]", "")
    + "head:\n  - [-1, 1, ECAAttention, [1024]]\n  - [-1, 1, Classify, [nc]]\n"
)

# Segmentation: SE reading the P3 block by index, feeding Segment (settings only).
SEG_SE = (
    "nc: 3\n"
    + scales("ns")
    + "\nbackbone:"
    + V8_BACKBONE
    + "\nhead:"
    + v8_head(6, 4, 12, 9)
    + "\n  - [15, 1, SE, [16]]\n  - [[22, 18, 21], 1, Segment, [nc, 32, 256]]\n"
)


def v8_concat_att(a12: str, a16: str) -> str:
    """YOLOv8 with an attention row right after the P4 Concat (row 12) and the P3 Concat (16): "module, args"."""
    head = v8_head(6, 4, 13, 9, after_p4=f"[-1, 1, {a12}]", after_p3=f"[-1, 1, {a16}]")
    return f"nc: 2\n{SCALES}\nbackbone:{V8_BACKBONE}\nhead:{head}\n  - [[17, 20, 23], 1, Detect, [nc]]\n"


# Counts after a Concat as real channels of scale s (the file was written for s): silent at s only.
CONCAT_REAL_S = v8_concat_att("ECA, [768]", "ECA, [384]")
# Counts after a Concat as nominal sums (1024 + 512, 512 + 256): silent at every scale, also where
# max_channels caps one input and not the other (l, x).
CONCAT_NOMINAL = v8_concat_att("CA, [1536]", "SEAttention, [768, 16]")

# test_registration.py's small model: CoordAtt in the backbone ({ca_args}) and reading row 4 in the
# head, then a two-input output row ({head}, {head_args}: Detect, Segment, Pose or OBB).
SMALL_CA = (
    "\nnc: 3\n"
    + SCALES
    + """
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 1, C2f, [256, True]]
  - [-1, 1, CoordAtt, {ca_args}]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 1, SPPF, [512, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 5], 1, Concat, [1]]
  - [-1, 1, C2f, [256]]
  - [4, 1, CoordAtt, []]
  - [[10, 7], 1, {head}, {head_args}]
"""
)
