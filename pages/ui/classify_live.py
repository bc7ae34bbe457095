"""Classify's "Live camera": the webcam stream with the network's top classes drawn on each frame.

streamlit-webrtc sends the browser's camera to this server over WebRTC; each frame goes through
`cnnlab.stream.LiveClassifier.process` in the component's video thread and comes back annotated.
That thread never touches st.session_state: the page hands it the model and the options through
the classifier (a thread-safe holder kept in the session) on every rerun, and a fragment reads its
status (the top classes, the measured predictions/s) twice a second while the video plays.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from cnnlab.runs.loading import LoadedModel
from cnnlab.stream import LiveClassifier, LiveModel, LiveOptions, has_conv
from cnnlab.text import md_escape
from pages.ui.webrtc_common import VIDEO_CONSTRAINTS, rtc_configuration

HOLDER_KEY = "classify_live_holder"  # session-state key of this session's LiveClassifier
REFRESH_S = 0.5  # seconds between updates of the panel beside the video
HTTPS_MESSAGE = (
    "Browsers only allow the camera on https or on localhost: ask the teacher to start the "
    "server with server.sslCertFile/server.sslKeyFile (README: Classroom)"
)


def camera_blocked(url: str) -> bool:
    """True when a browser refuses the camera to a page at `url`: plain http from a host other
    than localhost (`localhost`, `*.localhost`, 127.0.0.0/8 and ::1 count as secure)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name such as lab.school.example
        return True


def https_warning() -> None:
    """Say why the camera cannot start when the page is on plain http from another machine."""
    url = st.context.url  # the address in the browser (None outside a browser session)
    if url and camera_blocked(url):
        st.warning(HTTPS_MESSAGE, icon=":material/no_photography:")


def frame_callback(classifier: LiveClassifier) -> Callable[[av.VideoFrame], av.VideoFrame]:
    """The video thread's callback: av frame -> RGB array -> annotated -> av frame."""

    def callback(frame: av.VideoFrame) -> av.VideoFrame:
        rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
        return av.VideoFrame.from_ndarray(classifier.process(rgb), format="rgb24")

    return callback


def session_classifier() -> LiveClassifier:
    if HOLDER_KEY not in st.session_state:
        st.session_state[HOLDER_KEY] = LiveClassifier()
    return st.session_state[HOLDER_KEY]


def live_panel(
    loaded: LoadedModel, top_k: int, alpha: float, invert: bool | None, fit: str | None
) -> None:
    """The switches, the video (left) and what the network sees now (right)."""
    https_warning()
    can_cam = has_conv(loaded.model)
    left, right = st.columns(2)
    cam = left.toggle(
        "Grad-CAM",
        key="classify_live_cam",
        disabled=not can_cam,
        help="Colour the network's input by where it looked for its top class (a backward "
        "pass per prediction: slower)."
        if can_cam
        else "This network has no convolution layer, so there is no Grad-CAM map.",
    )
    paused = right.toggle(
        "Pause", key="classify_live_pause", help="Freeze the picture and its prediction."
    )
    classifier = session_classifier()
    live = LiveModel(loaded.run_id, loaded.model, loaded.class_names, loaded.preprocess)
    classifier.configure(live, LiveOptions(top_k, invert, fit, cam and can_cam, alpha, paused))
    video, side = st.columns([3, 2])
    with video:
        ctx = webrtc_streamer(
            key="classify_live",
            mode=WebRtcMode.SENDRECV,
            video_frame_callback=frame_callback(classifier),
            rtc_configuration=rtc_configuration(),
            media_stream_constraints=VIDEO_CONSTRAINTS,
            async_processing=True,
        )
    with side:
        status_panel(classifier, bool(ctx.state.playing), top_k)


def status_panel(classifier: LiveClassifier, playing: bool, top_k: int) -> None:
    @st.fragment(run_every=REFRESH_S if playing else None)
    def panel() -> None:
        if not playing:
            st.info(
                "Press **Start** and allow the camera. The video comes back with the network's "
                "top classes drawn on it, and its input (as it sees the frame) in the corner.",
                icon=":material/videocam:",
            )
            return
        status = classifier.status()
        rate = "paused" if status.paused else f"{status.rate:.1f}"
        st.metric("Predictions per second", rate)
        result = status.result
        if status.paused:
            st.caption("Frozen: turn Pause off to go on.")
        if result is None:
            st.caption("Waiting for the first frames…")
            return
        st.caption(f"{status.ms:.0f} ms per prediction (frame → input → probabilities)")
        if result.heat is not None:
            st.caption("Grad-CAM on: one more backward pass per prediction, so fewer per second.")
        if result.blank:
            st.markdown(f"Live: {md_escape(result.blank)}")
            return
        name, p = result.top[0]
        st.markdown(f"Live: **{md_escape(name)}** ({p:.0%})")
        for other, q in result.top[:top_k]:
            st.progress(min(1.0, max(0.0, q)), text=f"{md_escape(other)} · {q:.1%}")

    panel()
