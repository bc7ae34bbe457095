"""A hold-to-record burst: video frames kept a few times a second into a capped buffer.

The video callback (streamlit-webrtc calls it on its own thread for every frame, ~15 per second)
calls `offer(frame_to_image, now)`; while `recording` is on, one frame per `interval_s` is kept,
up to `capacity` (then recording stops by itself and `full` says so). The page reads `count()`
and `take()`s the frames to add them to a class. Every method holds one lock: the callback
thread and the script thread never see a half-updated buffer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PIL import Image

from cnnlab.data.made_samples import MAX_BURST

INTERVAL_S = 0.2  # seconds between kept frames: 5 frames a second


class BurstBuffer:
    def __init__(self, capacity: int = MAX_BURST, interval_s: float = INTERVAL_S) -> None:
        self.capacity = capacity
        self.interval_s = interval_s
        self._frames: list[Image.Image] = []
        self._lock = threading.Lock()
        self._recording = False
        self._last = float("-inf")  # time.monotonic() of the last kept frame
        self._burst = 0  # +1 when recording stops or the frames are taken: a frame converted
        # across that moment belongs to no burst (it used to land, alone, in the next one)
        self.full = False  # recording stopped because the buffer reached `capacity`

    @property
    def recording(self) -> bool:
        with self._lock:
            return self._recording

    def set_recording(self, on: bool) -> None:
        with self._lock:
            if on and not self._recording:
                self.full = len(self._frames) >= self.capacity
                self._last = float("-inf")
            self._burst += self._recording and not on
            self._recording = on and not self.full

    def offer(self, image: Callable[[], Image.Image], now: float | None = None) -> bool:
        """Keep a frame (made by `image()`, only when kept) if recording and due; True if kept."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self._recording or now - self._last < self.interval_s:
                return False
            if len(self._frames) >= self.capacity:
                self._recording, self.full = False, True
                return False
            self._last, burst = now, self._burst
        frame = image()  # the conversion runs outside the lock
        with self._lock:
            if burst != self._burst or not self._recording:
                return False
            if len(self._frames) >= self.capacity:
                self._recording, self.full = False, True
                return False
            self._frames.append(frame)
            if len(self._frames) >= self.capacity:
                self._recording, self.full = False, True
            return True

    def count(self) -> int:
        with self._lock:
            return len(self._frames)

    def take(self) -> list[Image.Image]:
        """Every kept frame (oldest first); the buffer is empty afterwards."""
        with self._lock:
            frames, self._frames, self.full = self._frames, [], False
            self._burst += 1
            return frames

    def preview(self) -> Image.Image | None:
        with self._lock:
            return self._frames[-1] if self._frames else None
