"""ca-yolo: Coordinate Attention for Ultralytics YOLO detectors (plugin, not a fork)."""

__version__ = "0.1.0"
