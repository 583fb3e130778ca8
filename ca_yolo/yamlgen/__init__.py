"""Derive attention variants of Ultralytics model YAMLs (``ca-yolo yaml``)."""
