"""``ca-yolo bench``: how much Coordinate Attention costs, measured side by side.

- :mod:`.timing`: interleaved, repeated timing with medians (the one clock every figure uses).
- :mod:`.reference`: a straightforward paper-style CoordAtt, the yardstick for ours.
- :mod:`.layer`: the CA layer alone vs the reference and vs one elementwise pass (the floor).
- :mod:`.models`: whole-model latency, CA model vs its baseline, in PyTorch and ONNX Runtime.
- :mod:`.train_throughput`: training images/s, CA model vs baseline, on one fixed batch.
- :mod:`.cli`: the command line, JSON output and the README table.
"""
