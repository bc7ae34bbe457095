"""Progress that reads well in a terminal and in a log: a tqdm bar when stdout is a terminal,
else one plain line every `LINE_EVERY_FRACTION` of the work or `LINE_EVERY_S` seconds
(notebooks, CI, `| tee`), whichever comes first.

`Bar` counts known work (training steps, test images); `Phase` shows the seconds spent on work of
unknown length (loading a dataset, testing inside a run) from a background thread.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

LINE_EVERY_FRACTION = 0.1  # a plain line at every 10% of the work...
LINE_EVERY_S = 5.0  # ...or after this many seconds without one
_LOCK = threading.Lock()  # the Phase thread and the main thread write the same streams


def interactive(stream: TextIO | None = None) -> bool:
    """Whether stdout (or `stream`) is a terminal, so a redrawn bar makes sense."""
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class Bar:
    """Known-length progress: `update(done, **stats)`; `close()` ends the bar."""

    def __init__(self, label: str, total: int, unit: str, enabled: bool = True) -> None:
        self.label, self.total, self.unit, self.enabled = label, max(1, total), unit, enabled
        self.started = time.monotonic()
        self.last_line, self.next_fraction = self.started, LINE_EVERY_FRACTION
        self.tqdm: Any = None
        if enabled and interactive():
            from tqdm import tqdm  # lazy: only a terminal needs it

            self.tqdm = tqdm(total=self.total, desc=label, unit=unit, file=sys.stderr, leave=False)

    def update(self, done: int, **stats: str) -> None:
        if not self.enabled:
            return
        done = min(done, self.total)
        if self.tqdm is not None:
            with _LOCK:
                self.tqdm.set_postfix(stats, refresh=False)
                self.tqdm.update(done - self.tqdm.n)
            return
        now, fraction = time.monotonic(), done / self.total
        if fraction < self.next_fraction and now - self.last_line < LINE_EVERY_S:
            return
        while self.next_fraction <= fraction:
            self.next_fraction += LINE_EVERY_FRACTION
        self.last_line = now
        extra = "".join(f", {k} {v}" for k, v in stats.items())
        with _LOCK:
            print(
                f"{self.label}: {done}/{self.total} {self.unit} ({fraction:.0%}), "
                f"{now - self.started:.1f}s{extra}",
                flush=True,
            )

    def close(self) -> None:
        if self.tqdm is not None:
            with _LOCK:
                self.tqdm.close()
            self.tqdm = None


class Phase:
    """Work of unknown length: `start(label)` shows the seconds spent on it until `stop()`."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.label = ""
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()
        self.started = 0.0

    def start(self, label: str) -> None:
        self.stop()
        self.label, self.started = label, time.monotonic()
        if not self.enabled:
            return
        with _LOCK:
            if interactive():  # redrawn in place by _tick
                sys.stderr.write(f"\r{label}... ")
                sys.stderr.flush()
            else:
                print(f"{label}...", flush=True)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)
        self.thread.start()

    def _tick(self) -> None:
        tty = interactive()
        while not self.stopped.wait(0.5 if tty else LINE_EVERY_S):
            spent = time.monotonic() - self.started
            with _LOCK:
                if tty:
                    sys.stderr.write(f"\r{self.label}... {spent:.0f}s ")
                    sys.stderr.flush()
                else:
                    print(f"{self.label}... {spent:.0f}s", flush=True)

    def stop(self) -> float:
        """End the phase; the seconds it took (0 when none was running)."""
        if self.thread is None:
            return 0.0
        self.stopped.set()
        self.thread.join()
        self.thread = None
        spent = time.monotonic() - self.started
        with _LOCK:
            if interactive():
                sys.stderr.write("\r" + " " * (len(self.label) + 12) + "\r")
                sys.stderr.flush()
            print(f"{self.label}: done in {spent:.1f}s", flush=True)
        return spent
