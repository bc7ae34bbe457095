"""What every in-browser camera stream shares (streamlit-webrtc): the connection settings.

The browser sends its camera to this server over WebRTC. On a laptop or a class network the two
reach each other directly (host ICE candidates), so no STUN server is asked by default: a public
one would be an outside request, and offline it only delays the connection. Set
`CNNLAB_STUN=stun:stun.l.google.com:19302` (comma-separated) when browser and server sit behind
different NATs. Browsers allow the camera only on https or localhost (README "Classroom").
"""

from __future__ import annotations

import os
from typing import Any


def rtc_configuration() -> dict[str, Any]:
    """The RTCPeerConnection settings: STUN servers from `CNNLAB_STUN`, none by default."""
    urls = [u.strip() for u in os.environ.get("CNNLAB_STUN", "").split(",") if u.strip()]
    return {"iceServers": [{"urls": urls}] if urls else []}


# 640x480 at up to 15 frames/s: enough for a 32-64 px model input, light on a 2-core server.
VIDEO_CONSTRAINTS: dict[str, Any] = {
    "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 15}},
    "audio": False,
}
