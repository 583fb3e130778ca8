"""Model YAMLs shipped with ca-yolo (``models/*.yaml``).

This folder is a package so that its files are installed with ``pip install .`` and can be found
from any working directory; the repository's top-level ``cfg`` is a link to it.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
