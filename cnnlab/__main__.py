"""Entry point for `python -m cnnlab` (the same as the `cnnlab` command; see cnnlab/cli/)."""

import os
import sys

# Before torch loads OpenMP (cnnlab.cli.main sets it too, for the `cnnlab` console script).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from cnnlab.cli import main  # noqa: E402

sys.exit(main())
