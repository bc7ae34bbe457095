"""Who owns a run and who may change it: the backend's check behind every Stop, Resume, Delete
and Rename (pages hide buttons too, but a hidden button is not a lock).

A run's owner is recorded once, when it is created (`RunOwner`, kept in the run folder). Runs
made by the CLI, the single-user lab or before classroom mode belong to `local`. The owner or the
teacher may manage a run; in the single-user lab the one user is `LOCAL`, who counts as teacher.
`actor=None` is a trusted caller (the CLI, the job manager itself).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cnnlab.classroom.identity import LOCAL_ID, Identity

ACTIONS = {"stop": "stop", "resume": "resume", "delete": "delete", "rename": "rename"}


class AccessDenied(PermissionError):
    """The actor may not do that to this run; the message says who may."""


@dataclass(frozen=True)
class RunOwner:
    """Who started a run (and in which lesson): written once, when the run is created."""

    user_id: str = LOCAL_ID
    name: str = ""  # display name at the time (shown escaped)
    lesson: str = ""  # the lesson preset's id it was started under ("" = none)

    @classmethod
    def of(cls, identity: Identity | None, lesson: str = "") -> RunOwner:
        if identity is None:
            return cls(lesson=lesson)
        return cls(identity.user_id, identity.name, lesson)

    @classmethod
    def from_dict(cls, data: Any) -> RunOwner:
        """Tolerant: a missing or damaged record reads as `local` (only the teacher may act)."""
        if not isinstance(data, dict):
            return cls()
        user, name, lesson = (data.get(k) for k in ("user_id", "name", "lesson"))
        if not isinstance(user, str) or not user:
            return cls()
        return cls(
            user, name if isinstance(name, str) else "", lesson if isinstance(lesson, str) else ""
        )

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def may_manage(actor: Identity | None, owner: RunOwner) -> bool:
    """The owner, the teacher (or the single-user lab's user) and trusted callers (None)."""
    return actor is None or actor.is_teacher or actor.user_id == owner.user_id


def check_manage(actor: Identity | None, owner: RunOwner, action: str, run_id: str) -> None:
    """AccessDenied unless `actor` may `action` ("stop", "resume", "delete", "rename") the run."""
    if may_manage(actor, owner):
        return
    who = f"{owner.name} (who started it)" if owner.name else "the person who started it"
    raise AccessDenied(
        f"You cannot {ACTIONS.get(action, action)} run {run_id}: it is not yours. "
        f"Only {who} or the teacher can."
    )
