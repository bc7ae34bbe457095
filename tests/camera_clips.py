"""Fake-camera test support: pattern pictures, Y4M clips for Chromium's fake camera, a tiny
folder dataset of the same patterns, a quick CLI training run, and live-prediction checks.

Chromium plays a .y4m file as the webcam with `--use-fake-ui-for-media-stream
--use-fake-device-for-media-stream --use-file-for-fake-video-capture=<clip.y4m>` (looped). A Y4M
file is a text header `YUV4MPEG2 W160 H120 F10:1 Ip A1:1 C420jpeg` and then, per frame,
`FRAME\\n` + the Y plane (H x W) + the U and V planes (H/2 x W/2): full-range (JPEG) YCbCr 4:2:0.

Reusable by any fake-camera test (Classify's live camera, the Make-a-dataset page's captures).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import PIL.Image

from tests.browser import CHROMIUM, CHROMIUM_ARGS, REPO, Server, open_page, wait_idle

PATTERNS = ("horizontal", "vertical")  # class names, sorted (the folder dataset's class order)
CLIP_SIZE = (160, 120)  # (W, H) pixels of the fake camera's frames
LIVE_TEXT = re.compile(r"Live: (.+?) \((\d+)%\)")  # Classify's live panel: "Live: name (97%)"


def pattern_frame(kind: str, size: tuple[int, int] = CLIP_SIZE, seed: int = 0) -> np.ndarray:
    """RGB (H, W, 3) uint8: a bright bar on a dark background, "vertical" or "horizontal".

    `seed` 0 is the centred bar of the clips; other seeds move the bar, change its thickness and
    brightness and add noise (varied training pictures of the same pattern).
    """
    if kind not in PATTERNS:
        raise ValueError(f"kind must be one of {PATTERNS}, got {kind!r}")
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 20, dtype=np.float32)
    side = min(w, h)
    thick = round(side * (0.22 if seed == 0 else rng.uniform(0.15, 0.3)))
    shift = 0.0 if seed == 0 else rng.uniform(-0.25, 0.25)  # share of the short side
    level = 235.0 if seed == 0 else rng.uniform(180, 255)
    if kind == "vertical":
        x0 = round(w / 2 + shift * side - thick / 2)
        img[:, max(0, x0) : x0 + thick] = level
    else:
        y0 = round(h / 2 + shift * side - thick / 2)
        img[max(0, y0) : y0 + thick, :] = level
    if seed:
        img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def y4m_clip(frames: list[np.ndarray], fps: int = 10) -> bytes:
    """A Y4M video of RGB frames (H, W, 3) uint8 of one even size (4:2:0 full-range YCbCr)."""
    if not frames:
        raise ValueError("a clip needs at least one frame")
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs an even width and height, got {w}x{h}")
    out = [f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode()]
    for frame in frames:
        rgb = frame.astype(np.float32)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
        v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

        def plane(p: np.ndarray) -> bytes:
            return np.clip(p, 0, 255).round().astype(np.uint8).tobytes()

        def half(p: np.ndarray) -> np.ndarray:  # (H, W) -> (H/2, W/2): mean of 2x2 blocks
            return p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

        out.append(b"FRAME\n" + plane(y) + plane(half(u)) + plane(half(v)))
    return b"".join(out)


def write_clip(path: Path, kind: str, frames: int = 10) -> Path:
    """A still clip of pattern `kind` (the centred bar) at `path`."""
    path.write_bytes(y4m_clip([pattern_frame(kind)] * frames))
    return path


def write_pattern_dataset(folder: Path, per_class: int = 40) -> Path:
    """`folder`/<pattern>/<i>.png: `per_class` varied pictures of each pattern."""
    for c, kind in enumerate(PATTERNS):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            frame = pattern_frame(kind, seed=1 + i + 1000 * c)
            PIL.Image.fromarray(frame).save(folder / kind / f"{i}.png")
    return folder


def train_folder_run(runs_dir: Path, folder: Path, *flags: str, timeout: int = 300) -> str:
    """Train a small model on a folder dataset through the CLI; the new run's id."""
    env = dict(os.environ, CNNLAB_RUNS=str(runs_dir), PYTHONPATH=str(REPO))
    cmd = [
        sys.executable, "-m", "cnnlab", "train", "--dataset", "folder",
        "--root", str(folder.parent), "--path", str(folder), "--image-size", "32",
        "--model", "classic", "--epochs", "4", "--threads", "1", "--quiet", *flags,
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"training failed: {done.stderr[-2000:]}")
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir())[-1]


@contextmanager
def camera_page(
    browser: object,
    server: Server,
    clip: Path,
    extra_args: list[str] | None = None,
    ignore_https_errors: bool = False,
) -> Iterator[object]:
    """A page in a new Chromium whose webcam plays `clip` (camera allowed, no prompt)."""
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
        *(extra_args or []),
    ]
    # a second browser with the camera flags, from the module's Playwright (one per thread)
    camera = browser.browser_type.launch(  # type: ignore[attr-defined]
        executable_path=str(CHROMIUM), args=args, headless=True
    )
    try:
        context = camera.new_context(
            viewport={"width": 1400, "height": 1000}, ignore_https_errors=ignore_https_errors
        )
        context.grant_permissions(["camera"])  # every origin: also a class-network name
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
    finally:
        camera.close()


def pick_live(page: object, timeout_ms: int = 90_000) -> None:
    """On the open Classify page: pick "Live camera" (a fresh server's first run of a page
    imports torch and the models: slow on a busy machine)."""
    group = page.get_by_test_id("stButtonGroup").first  # type: ignore[attr-defined]
    group.get_by_text("Live camera", exact=True).click(timeout=timeout_ms)
    wait_idle(page)


def press_start(page: object, timeout_ms: int = 60_000) -> None:
    """Press the video component's Start (inside its iframe)."""
    frame = page.frame_locator("iframe[title*='streamlit_webrtc']").first  # type: ignore[attr-defined]
    frame.get_by_role("button", name=re.compile("start", re.I)).click(timeout=timeout_ms)


def start_live(page: object, server: Server, timeout_ms: int = 60_000) -> None:
    """Open Classify, pick "Live camera", press Start and wait for the first live prediction."""
    open_page(page, server, "classify")
    pick_live(page)
    press_start(page, timeout_ms)
    page.get_by_text(LIVE_TEXT).first.wait_for(timeout=timeout_ms)  # type: ignore[attr-defined]


def live_prediction(page: object) -> tuple[str, float]:
    """The live panel's current (class, probability 0..1)."""
    text = page.inner_text("[data-testid=stMain]")  # type: ignore[attr-defined]
    match = LIVE_TEXT.search(text)
    if match is None:
        raise AssertionError(f"no live prediction on the page: {text[-600:]!r}")
    return match.group(1), int(match.group(2)) / 100


def returned_video(page: object) -> np.ndarray:
    """RGB (h, w, 3) uint8 of the video the server sends back, as the page shows it now."""
    frame = page.frame_locator("iframe[title*='streamlit_webrtc']").first  # type: ignore[attr-defined]
    png = frame.locator("video").first.screenshot()
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB"))


def top_bar_share(video: np.ndarray, colour: tuple[int, int, int], tolerance: int = 60) -> float:
    """Share of the bottom-left quarter of `video` within `tolerance` of `colour` (per channel):
    the top class's bar that `cnnlab.stream.draw_result` paints there (after the video codec)."""
    h, w = video.shape[:2]
    corner = video[h // 2 :, : w // 2].astype(np.int16)
    return float(np.all(np.abs(corner - np.array(colour)) <= tolerance, axis=2).mean())


def settled_prediction(page: object, reads: int = 4, gap_ms: int = 600) -> list[str]:
    """The live class read `reads` times, `gap_ms` apart (a stream's answer must hold)."""
    names = []
    for _ in range(reads):
        page.wait_for_timeout(gap_ms)  # type: ignore[attr-defined]
        names.append(live_prediction(page)[0])
    return names
