"""Whether a job's process is still there (and still a cnnlab job) after a restart."""

from __future__ import annotations

import os
from pathlib import Path


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (ended, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _is_job_process(pid: int | None) -> bool:
    """Alive and running cnnlab: after a reboot a dead job's pid may belong to any process."""
    if not _pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"cnnlab" in f.read()
    except OSError:
        return not Path("/proc/self").exists()  # no /proc (not Linux): trust the pid
