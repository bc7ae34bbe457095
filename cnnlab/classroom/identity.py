"""Who is who in classroom mode: signed tokens, the class roster, students and the teacher.

A student joins with a display name and the class code; the server records the name in the
roster (a name is held by one student only: nobody can become someone else by typing their name)
and issues a token, `base64url(payload).base64url(HMAC-SHA256)`, that the browser keeps (a cookie)
and shows back on every visit: the identity survives reloads, reconnects and server restarts
(the roster and the secret are on disk). A token whose payload was edited, or that another
server signed, fails the MAC and is refused. The teacher's tokens are signed with a key derived
from the teacher key too, so changing the key signs every teacher out.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import secrets
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.classroom.settings import ClassroomSettings
from cnnlab.jsonio import atomic_write_json, read_dict

STUDENT, TEACHER = "student", "teacher"
TEACHER_ID = "teacher"
LOCAL_ID = "local"  # the single-user lab, the CLI and runs made before classroom mode
MAX_NAME_CHARS = 40
TOKEN_DAYS = 30  # a token older than this is refused (join again)
ROSTER_FILE = "roster.json"


class IdentityError(ValueError):
    """A join, sign-in or token that is refused; the message says why and what to do."""


@dataclass(frozen=True)
class Identity:
    """The person behind a browser session."""

    user_id: str  # "s-<hex>" for a student, "teacher", or "local"
    name: str  # display name, as typed (shown escaped)
    role: str = STUDENT

    @property
    def is_teacher(self) -> bool:
        """The teacher, or the single-user lab's only user (who owns everything)."""
        return self.role == TEACHER


LOCAL = Identity(LOCAL_ID, "you", TEACHER)  # outside classroom mode: may do anything


def clean_name(text: str) -> str:
    """A display name: trimmed, NFC, printable, 1-40 characters; IdentityError says what is wrong."""
    name = unicodedata.normalize("NFC", str(text or "")).strip()
    name = " ".join(name.split())  # runs of spaces, tabs, newlines -> one space
    if not name:
        raise IdentityError("Type your name (as the class knows you) to join.")
    if len(name) > MAX_NAME_CHARS:
        raise IdentityError(f"That name is {len(name)} characters: use at most {MAX_NAME_CHARS}.")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise IdentityError("That name has invisible control characters: type it again.")
    if name.casefold() in {TEACHER, LOCAL_ID, "you"}:
        raise IdentityError(f"{name!r} is reserved: use your own name.")
    return name


def _name_key(name: str) -> str:
    """Names that look the same are the same name (case, width and compatibility forms)."""
    return unicodedata.normalize("NFKC", name).casefold()


# -- tokens -----------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac_key(settings: ClassroomSettings, role: str) -> bytes:
    if role == TEACHER:
        fingerprint = hashlib.sha256(settings.teacher_key.encode()).digest()
        return hmac.new(settings.secret, b"teacher:" + fingerprint, hashlib.sha256).digest()
    return settings.secret


def issue_token(identity: Identity, settings: ClassroomSettings, now: float | None = None) -> str:
    """A signed token for `identity` (no secret or key inside: only ids, the name and a time)."""
    payload = {
        "u": identity.user_id,
        "n": identity.name,
        "r": identity.role,
        "t": int(now or time.time()),
    }
    body = _b64(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    mac = hmac.new(_mac_key(settings, identity.role), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def _payload(token: str) -> dict:
    try:
        body, _ = token.split(".")
        payload = json.loads(_unb64(body))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise IdentityError("This sign-in is not one of this lab's: join again.") from None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in "unr"):
        raise IdentityError("This sign-in is not one of this lab's: join again.")
    return payload


def verify_token(token: str, settings: ClassroomSettings, now: float | None = None) -> Identity:
    """The identity a token proves; IdentityError when it was edited, signed elsewhere, expired,
    or names a student no longer on the roster."""
    payload = _payload(str(token or ""))
    body, mac = token.split(".")
    role = payload["r"] if payload["r"] in (STUDENT, TEACHER) else STUDENT
    if role == TEACHER and not settings.teacher_enabled:
        raise IdentityError("Teacher sign-in is off on this server (no teacher key is set).")
    good = hmac.new(_mac_key(settings, role), body.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except (ValueError, binascii.Error):
        given = b""
    if not hmac.compare_digest(good, given):
        raise IdentityError("This sign-in was changed or comes from another server: join again.")
    issued = payload.get("t")
    if not isinstance(issued, int) or (now or time.time()) - issued > TOKEN_DAYS * 86400:
        raise IdentityError(f"This sign-in is older than {TOKEN_DAYS} days: join again.")
    identity = Identity(payload["u"], payload["n"], role)
    if role == STUDENT and roster(settings).get(identity.user_id) != identity.name:
        raise IdentityError("You are no longer on this class's list: join again.")
    return identity


# -- the roster ---------------------------------------------------------------------------------
@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One writer of the roster at a time, across server processes (30 joins at once)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".roster.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def roster(settings: ClassroomSettings) -> dict[str, str]:
    """user_id -> display name of every student who joined."""
    data = read_dict(settings.state_dir / ROSTER_FILE)
    return {
        k: v["name"]
        for k, v in data.items()
        if isinstance(v, dict) and isinstance(v.get("name"), str)
    }


def join(name: str, code: str, settings: ClassroomSettings) -> Identity:
    """A student joins with a display name and the class code; IdentityError says what is wrong."""
    if not settings.enabled:
        raise IdentityError("Classroom mode is off on this server.")
    if not hmac.compare_digest(
        str(code or "").strip().upper().encode(), settings.class_code.encode()
    ):
        raise IdentityError("That class code is not this class's: check the teacher's screen.")
    name = clean_name(name)
    with _locked(settings.state_dir):
        data = read_dict(settings.state_dir / ROSTER_FILE)
        for entry in data.values():
            if isinstance(entry, dict) and _name_key(str(entry.get("name", ""))) == _name_key(name):
                raise IdentityError(
                    f"{name!r} has already joined this class. If that is you on another device, "
                    "open the lab there, or add an initial to your name."
                )
        identity = Identity(f"s-{secrets.token_hex(6)}", name, STUDENT)
        data[identity.user_id] = {"name": name, "joined": time.time()}
        atomic_write_json(settings.state_dir / ROSTER_FILE, data)
    return identity


def join_sso(subject: str, name: str, settings: ClassroomSettings) -> Identity:
    """A student signed in by the school's single sign-on (Streamlit's `st.login`, OIDC): the
    id is derived from the provider's stable subject, so the same person is the same student on
    every device; the display name is the provider's, numbered if another student holds it."""
    if not settings.enabled or not str(subject or "").strip():
        raise IdentityError("Single sign-on gave no account id: sign in again.")
    digest = hmac.new(settings.secret, b"sso:" + subject.encode(), hashlib.sha256).hexdigest()
    user_id = f"o-{digest[:12]}"
    with _locked(settings.state_dir):
        data = read_dict(settings.state_dir / ROSTER_FILE)
        known = data.get(user_id)
        if isinstance(known, dict) and isinstance(known.get("name"), str):
            return Identity(user_id, known["name"], STUDENT)
        base = clean_name((name or subject.split("@")[0])[: MAX_NAME_CHARS - 4])
        taken = {_name_key(str(e.get("name", ""))) for e in data.values() if isinstance(e, dict)}
        final = next(
            n for n in [base] + [f"{base} {i}" for i in range(2, 1000)] if _name_key(n) not in taken
        )
        data[user_id] = {"name": final, "joined": time.time(), "sso": True}
        atomic_write_json(settings.state_dir / ROSTER_FILE, data)
    return Identity(user_id, final, STUDENT)


def remove_student(user_id: str, settings: ClassroomSettings) -> None:
    """Take a student off the roster (their token stops working; their runs stay theirs)."""
    with _locked(settings.state_dir):
        data = read_dict(settings.state_dir / ROSTER_FILE)
        if data.pop(user_id, None) is not None:
            atomic_write_json(settings.state_dir / ROSTER_FILE, data)


def teacher_sign_in(key: str, settings: ClassroomSettings) -> Identity:
    """The teacher, when `key` is the configured teacher key (compared in constant time)."""
    if not settings.enabled or not settings.teacher_enabled:
        raise IdentityError("Teacher sign-in is off: set CNNLAB_TEACHER_KEY on the server.")
    if not hmac.compare_digest(str(key or "").encode(), settings.teacher_key.encode()):
        raise IdentityError("That is not the teacher key.")
    return Identity(TEACHER_ID, "Teacher", TEACHER)
