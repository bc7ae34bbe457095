"""Make a dataset: hold-to-record. The webcam streams over WebRTC (streamlit-webrtc); while the
Record toggle is on, the frame callback keeps one frame every 0.2 s (5 a second) in the session's
capped `BurstBuffer` (at most 200 frames); "Add N frames to <class>" stores them."""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from cnnlab.classroom.identity import Identity
from cnnlab.data import made
from cnnlab.data.made_burst import INTERVAL_S, BurstBuffer
from cnnlab.data.made_samples import add_samples
from cnnlab.text import md_escape
from pages.ui.builder_state import attempt, forget_loaded, say
from pages.ui.webrtc_common import VIDEO_CONSTRAINTS, rtc_configuration

BUFFER = "builder_burst"  # session key: this browser's BurstBuffer
RECORD = "builder_record"  # the Record toggle's key, + a number: a new key turns it off


def frame_callback(buffer: BurstBuffer) -> Any:
    """The callback streamlit-webrtc runs (on its own thread) for every video frame."""

    def keep(frame: Any) -> Any:  # av.VideoFrame in and out: the video is shown unchanged
        buffer.offer(frame.to_image)
        return frame

    return keep


def record_panel(ds: made.MadeDataset, target: str, actor: Identity) -> None:
    buffer: BurstBuffer = st.session_state.setdefault(BUFFER, BurstBuffer())
    video_col, control_col = st.columns([3, 2], gap="large")
    with video_col:
        ctx = webrtc_streamer(
            key="builder_webrtc",
            mode=WebRtcMode.SENDRECV,
            rtc_configuration=rtc_configuration(),
            media_stream_constraints=VIDEO_CONSTRAINTS,
            video_frame_callback=frame_callback(buffer),
        )
    playing = bool(ctx.state.playing)
    with control_col:
        key = f"{RECORD}_{st.session_state.setdefault('builder_record_n', 0)}"
        on = st.toggle("Record", key=key)  # frames arrive only while the video plays
        buffer.set_recording(on)
        st.caption(
            f"Press **Start** under the video, then turn **Record** on: {1 / INTERVAL_S:.0f} "
            f"frames a second are kept, at most {buffer.capacity} per burst."
        )
        st.fragment(burst_status, run_every=0.5 if on and playing else None)(ds, target, actor)


def burst_status(ds: made.MadeDataset, target: str, actor: Identity) -> None:
    """The frame count (refreshed twice a second while recording) and the add/clear buttons."""
    if st.session_state.pop("builder_rerun", False):
        st.rerun()  # frames were added: show them in their class
    buffer: BurstBuffer = st.session_state[BUFFER]
    count = buffer.count()
    st.metric("Frames recorded", count)
    if buffer.full:
        st.warning(
            f"The burst is full ({buffer.capacity} frames, the most one burst keeps): add them "
            "or clear them to record more.",
            icon=":material/warning:",
        )
    if (image := buffer.preview()) is not None:
        st.image(image, caption="last frame kept", width=160)
    add_col, clear_col = st.columns(2)
    add_col.button(
        f"Add {count} frames to {md_escape(target)}",
        key="builder_add_frames",
        type="primary",
        disabled=count == 0,
        on_click=add_frames,
        args=(ds, target, actor),
    )
    clear_col.button(
        "Clear frames", key="builder_clear_frames", disabled=count == 0, on_click=clear_frames
    )


def add_frames(ds: made.MadeDataset, target: str, actor: Identity) -> None:
    """Button callback: store the burst in the class, stop recording (a full rerun follows)."""
    st.session_state.builder_record_n += 1  # the toggle is off again (a new widget)
    buffer: BurstBuffer = st.session_state[BUFFER]
    buffer.set_recording(False)
    frames = [(f"frame {i + 1}", f) for i, f in enumerate(buffer.take())]
    result = attempt(add_samples, ds, target, frames, actor)
    st.session_state.builder_rerun = True  # the fragment then reruns the whole page
    if result is not None:
        forget_loaded(ds)
        say("success" if not result.left_out else "warning", md_escape(result.message))


def clear_frames() -> None:
    st.session_state.builder_record_n += 1
    buffer: BurstBuffer = st.session_state[BUFFER]
    buffer.set_recording(False)
    buffer.take()
