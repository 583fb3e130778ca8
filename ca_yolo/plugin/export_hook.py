"""Tell the attention layers when Ultralytics exports an ONNX file with one fixed input size.

With ``dynamic=False`` (Ultralytics' default) the exported file only ever runs at the export size,
so a layer can use a graph that bakes that size in. For CoordAtt that graph keeps ONNX Runtime's
CPU kernels in their blocked NCHWc layout around the layer instead of converting the feature map
to NCHW and back (:meth:`ca_yolo.nn.CoordAtt._forward_export_static`). Other formats exported
through ONNX (TensorRT, RKNN, ...) and dynamic exports keep the size-independent form.
"""

from __future__ import annotations

import functools

from ca_yolo.nn.fuse import static_shape_export
from ca_yolo.plugin.wrapping import mark_wrapper


def wrap_export_onnx(export_onnx):
    """Return ``Exporter.export_onnx`` run inside :func:`static_shape_export` when its shapes are fixed."""

    @functools.wraps(export_onnx)
    def export_onnx_with_static_form(self, *args, **kwargs):
        static = not self.args.dynamic and self.args.format == "onnx"
        with static_shape_export(static):
            return export_onnx(self, *args, **kwargs)

    return mark_wrapper(export_onnx_with_static_form, export_onnx)
