"""Datasets for ca-yolo: VOC/COCO converters to the YOLO layout, a dataset checker and the sample.

Submodules are imported on demand (``ca_yolo.data.voc``, ``.coco``, ``.check``, ``.sample``,
``.cocojson``, ...); this package itself imports nothing heavy so ``ca-yolo data --help`` is quick.
"""
