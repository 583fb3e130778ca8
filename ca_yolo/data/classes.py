"""Class-name tables of PASCAL VOC and MS-COCO, in the order detectors index them."""

from __future__ import annotations

# The 20 VOC classes in the devkit's order (alphabetical): class index i is VOC_NAMES[i].
VOC_NAMES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip

# The 80 COCO detection classes, ordered by their category id.
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# COCO's category ids run 1..90 (ten ids of the original 91-class list were never annotated in the
# detection release). The table is Ultralytics' own (``coco80_to_coco91_class``), looked up when
# first used so importing this module stays light:
#   COCO_CATEGORY_IDS[i]: the category id of class index i (0..79);
#   COCO_ID_TO_INDEX: category id (1..90) -> class index (0..79).
_LAZY = ("COCO_CATEGORY_IDS", "COCO_ID_TO_INDEX")
_cache: dict[str, object] = {}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _cache:
        from ultralytics.data.converter import coco80_to_coco91_class

        ids = tuple(int(i) for i in coco80_to_coco91_class())
        assert len(ids) == 80 == len(COCO_NAMES)
        _cache.update(COCO_CATEGORY_IDS=ids, COCO_ID_TO_INDEX={cid: i for i, cid in enumerate(ids)})
    return _cache[name]


assert len(VOC_NAMES) == 20 and len(COCO_NAMES) == 80
