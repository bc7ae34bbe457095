"""The teacher's "send everyone to this page": one small file every student's session polls.

`send` records the page (a url path such as "train", "" = Home) and, optionally, a query string
to open it with (a share link's view, never an identity); sessions that have not yet seen a
message this new switch to it once (`pending`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cnnlab.jsonio import atomic_write_json, read_dict

BROADCAST_FILE = "broadcast.json"


@dataclass(frozen=True)
class Broadcast:
    page: str  # url path of the page ("" = Home)
    query: str = ""  # query string to open it with, without "?" (a share link's view)
    sent: float = 0.0  # unix seconds; 0 = nothing sent yet


def send(page: str, state_dir: Path, query: str = "") -> Broadcast:
    message = Broadcast(str(page).strip("/"), str(query).lstrip("?"), time.time())
    atomic_write_json(state_dir / BROADCAST_FILE, message.__dict__)
    return message


def latest(state_dir: Path) -> Broadcast:
    data = read_dict(state_dir / BROADCAST_FILE)
    try:
        return Broadcast(str(data["page"]), str(data.get("query", "")), float(data["sent"]))
    except (KeyError, TypeError, ValueError):
        return Broadcast("")


def pending(state_dir: Path, seen: float) -> Broadcast | None:
    """The latest message if it is newer than `seen` (the session's last one), else None."""
    message = latest(state_dir)
    return message if message.sent > seen else None
