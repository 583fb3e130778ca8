"""How ca-yolo plugs into Ultralytics without editing it (see :func:`ca_yolo.plugin.register.register`)."""
