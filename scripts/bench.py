#!/usr/bin/env python
"""Same as ``ca-yolo bench``: time the CA layer and the CA models against their baselines."""

import sys

from ca_yolo.bench.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
