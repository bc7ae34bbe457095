"""Dataset downloads as background work with progress and cancel (MNIST, CIFAR-10, ... ).

`DatasetDownload.start(name, root)` fetches the archives torchvision would fetch, in a thread,
chunk by chunk (progress readable at any time, `cancel()` honoured within a chunk), then hands
them to `torchvision_sets._download`, which checks their MD5, extracts and decodes them exactly as
a download from the CLI does. One download per (dataset, data root) runs at a time, shared by
everyone who asks. The URLs are torchvision's own, or, when `CNNLAB_DOWNLOAD_MIRROR` is set (a base
URL), that mirror's instead (a school's local copy; the tests' loopback server).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.error import URLError

from cnnlab.data.types import DATASETS, DatasetUnavailable

MIRROR_ENV = "CNNLAB_DOWNLOAD_MIRROR"
CHUNK_BYTES = 256 * 2**10  # read per step: progress and cancel are this fine-grained
TIMEOUT_S = 30.0  # per connection attempt and per read


class DownloadCancelled(Exception):
    """The download was cancelled; nothing partial is left behind."""


@dataclass(frozen=True)
class DownloadState:
    """A snapshot of one download, safe to show: phase, bytes, and what went wrong."""

    name: str
    phase: str = "starting"  # starting, downloading, checking, done, failed, cancelled
    done_bytes: int = 0
    total_bytes: int = 0  # 0 = unknown
    file: str = ""  # the file being fetched
    message: str = ""  # why it failed

    @property
    def fraction(self) -> float:
        """Done / total in [0, 1] (0 while the total is unknown)."""
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes > 0 else 0.0

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed", "cancelled")

    @property
    def text(self) -> str:
        """ "train-images-idx3-ubyte.gz: 3.1 of 11.6 MB (27%)", or what it is doing."""
        if self.phase == "checking":
            return "checking the checksums and unpacking…"
        if self.phase != "downloading":
            return f"{self.phase}…" if not self.finished else self.phase
        total = (
            f" of {self.total_bytes / 1e6:.1f} MB ({self.fraction:.0%})" if self.total_bytes else ""
        )
        return f"{self.file}: {self.done_bytes / 1e6:.1f} MB{total}"


def sources(name: str) -> list[tuple[str, list[str]]]:
    """(path relative to the dataset's folder, URLs to try) for each file `name` downloads."""
    import torchvision.datasets as tvd

    from cnnlab.data.torchvision_sets import _TORCHVISION

    spec = _TORCHVISION[name]
    cls = getattr(tvd, spec.tv_class)
    known: dict[str, list[str]] = {}  # file name -> torchvision's URLs for it
    for filename, _md5 in getattr(cls, "resources", []):
        known[filename] = [f"{m}{filename}" for m in getattr(cls, "mirrors", [])]
    if isinstance(getattr(cls, "url", None), str):
        known[cls.filename] = [cls.url]
    for url, filename, _md5 in getattr(cls, "split_list", {}).values():
        known[filename] = [url]
    mirror = os.environ.get(MIRROR_ENV, "").strip().rstrip("/")
    out = []
    for rel in spec.archives or spec.files:
        base = Path(rel).name
        out.append((rel, [f"{mirror}/{base}"] if mirror else known.get(base, [])))
    return out


def fetch(
    urls: list[str],
    dest: Path,
    on_bytes: Callable[[int], None],
    cancelled: Callable[[], bool],
) -> None:
    """Download the first URL that answers to `dest` (via `dest.part`); `on_bytes(n)` after
    each chunk. Raises DownloadCancelled, or the last URL's error."""
    error: Exception = URLError("no URL to download from")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for url in urls:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "cnnlab"})
            with (
                urllib.request.urlopen(request, timeout=TIMEOUT_S) as response,
                open(part, "wb") as out,
            ):
                while chunk := response.read(CHUNK_BYTES):
                    if cancelled():
                        raise DownloadCancelled
                    out.write(chunk)
                    on_bytes(len(chunk))
            os.replace(part, dest)
            return
        except DownloadCancelled:
            part.unlink(missing_ok=True)
            raise
        except (OSError, ValueError) as exc:  # URLError, HTTP errors, timeouts, a bad URL
            part.unlink(missing_ok=True)
            error = exc
    raise error


class DatasetDownload:
    """One dataset's download in a background thread; see the module docstring."""

    _running: ClassVar[dict[tuple[str, str], DatasetDownload]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root = name, Path(root)
        self._cancel = threading.Event()
        total = DATASETS.get(name).download_bytes
        self._state = DownloadState(name, total_bytes=total)
        self._state_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"download-{name}", daemon=True)

    @classmethod
    def start(cls, name: str, root: Path) -> DatasetDownload:
        """The download of `name` into `root` under way, or a new one (after one that ended)."""
        key = (name, str(Path(root).resolve()))
        with cls._lock:
            task = cls._running.get(key)
            if task is None or task.state.finished:
                task = cls._running[key] = DatasetDownload(name, root)
                task._thread.start()
            return task

    @classmethod
    def current(cls, name: str, root: Path) -> DatasetDownload | None:
        """The latest download of `name` into `root` (under way or ended), if any."""
        with cls._lock:
            return cls._running.get((name, str(Path(root).resolve())))

    @property
    def state(self) -> DownloadState:
        with self._state_lock:
            return self._state

    def cancel(self) -> None:
        """Stop within one chunk; the partial file is removed."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> DownloadState:
        self._thread.join(timeout)
        return self.state

    def _update(self, **changes: object) -> None:
        with self._state_lock:
            self._state = dataclasses.replace(self._state, **changes)

    def _add(self, n: int) -> None:
        with self._state_lock:
            done = self._state.done_bytes + n
            total = max(self._state.total_bytes, done)
            self._state = dataclasses.replace(self._state, done_bytes=done, total_bytes=total)

    def _run(self) -> None:
        from cnnlab.data.torchvision_sets import _TORCHVISION, _download, _unavailable_message

        spec = _TORCHVISION[self.name]
        base = self.root / spec.subdirs[0] if spec.subdirs[0] else self.root
        fetched: list[Path] = []  # removed again when the set turns out unusable
        try:
            for rel, urls in sources(self.name):
                dest = base / rel
                if dest.is_file():  # fetched before (or copied by hand): torchvision checks it
                    self._add(dest.stat().st_size)
                    continue
                self._update(phase="downloading", file=Path(rel).name)
                fetch(urls, dest, self._add, self._cancel.is_set)
                fetched.append(dest)
            self._update(phase="checking", file="")
            _download(self.name, self.root)  # MD5, extract, decode: no network when all is here
        except DownloadCancelled:
            self._update(phase="cancelled", message="the download was cancelled")
        except DatasetUnavailable as exc:  # a wrong checksum, an archive that does not extract
            for path in fetched:
                path.unlink(missing_ok=True)
            self._update(phase="failed", message=str(exc))
        except (OSError, ValueError) as exc:
            reason = f"the download failed ({type(exc).__name__}: {exc})"
            if isinstance(exc, URLError | ConnectionError | TimeoutError):
                reason += ". Is this machine offline?"
            message = _unavailable_message(self.name, self.root, reason)
            self._update(phase="failed", message=message)
        else:
            self._update(phase="done")
