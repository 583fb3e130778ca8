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

# COCO's category ids run 1..90, but ten ids of the original 91-class list were never annotated
# in the detection release (street sign, hat, shoe, eye glasses, plate, mirror, window, desk,
# door, blender).
COCO_UNUSED_IDS: frozenset[int] = frozenset({12, 26, 29, 30, 45, 66, 68, 69, 71, 83})

# COCO_CATEGORY_IDS[i] is the category id of class index i (0..79).
COCO_CATEGORY_IDS: tuple[int, ...] = tuple(i for i in range(1, 91) if i not in COCO_UNUSED_IDS)

# Category id (1..90) -> class index (0..79).
COCO_ID_TO_INDEX: dict[int, int] = {cid: i for i, cid in enumerate(COCO_CATEGORY_IDS)}

assert len(VOC_NAMES) == 20 and len(COCO_NAMES) == 80 == len(COCO_CATEGORY_IDS)
