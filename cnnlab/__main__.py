"""Entry point for `python -m cnnlab` (see cnnlab/cli.py)."""

import os
import sys

# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. On a busy shared CPU a
# spinning thread burns the core its partner needs; measured with 2 threads at load 8-12, training
# ran 3-8x faster with this (bench/RESULTS.md, "threads"). An explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from cnnlab.cli import main  # noqa: E402

sys.exit(main())
