"""Stock Ultralytics YAMLs the tests build, shared by test_yamlgen.py and test_yamlgen_property.py."""

# Every stock detection YAML that has a small scale: the property test builds and runs each for
# real; test_yamlgen.py checks all the others (the full-size-only yolov3/-spp, yolov9s..e and
# yolov10s..x, which share these graphs' row types, and seg/pose/obb) on the meta device.
STOCK_DETECT = [
    "yolov3-tiny.yaml", "yolov5.yaml", "yolov5-p6.yaml", "yolov6.yaml", "yolov8.yaml", "yolov8-p2.yaml",
    "yolov8-p6.yaml", "yolov8-ghost.yaml", "yolov8-ghost-p2.yaml", "yolov8-ghost-p6.yaml", "yolov9t.yaml",
    "yolov10n.yaml", "yolo11.yaml", "yolo12.yaml", "yolo26.yaml", "yolo26-p2.yaml", "yolo26-p6.yaml",
]  # fmt: skip
