"""Classroom mode's settings: on/off, the teacher's key, the class code and the signing secret.

Off by default: the app is then the single-user laptop lab. It is turned on by
`CNNLAB_CLASSROOM=1` or a `[classroom]` section in `.streamlit/secrets.toml`:

```toml
[classroom]
enabled = true            # the section alone turns it on; false turns it off
teacher_key = "..."       # or CNNLAB_TEACHER_KEY; the teacher signs in with it
class_code = "MAPLE7"     # or CNNLAB_CLASS_CODE; default: derived from the secret (stable)
secret = "..."            # or CNNLAB_CLASSROOM_SECRET; default: random, kept in the state folder
```
Environment variables win over the file. The teacher key is held here only: it is never shown,
logged, put in a URL or written to a run folder (the teacher's token carries a MAC of it, not it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.config import default_runs_dir

SECRETS_FILE = Path(".streamlit") / "secrets.toml"  # Streamlit's own place, read relative to cwd
SECRET_FILE_NAME = "secret.key"  # in the state folder when no secret is configured
TRUE = {"1", "true", "yes", "on"}


def default_state_dir() -> Path:
    """Where classroom state lives (roster, lesson, limits, secret): `CNNLAB_CLASSROOM_DIR`, else
    a `classroom` folder beside the runs folder (so a test's private runs folder gets its own)."""
    env = os.environ.get("CNNLAB_CLASSROOM_DIR")
    return Path(env).expanduser() if env else default_runs_dir().parent / "classroom"


@dataclass(frozen=True)
class ClassroomSettings:
    enabled: bool = False
    teacher_key: str = field(default="", repr=False)  # never printed
    class_code: str = ""
    secret: bytes = field(default=b"", repr=False)
    state_dir: Path = field(default_factory=default_state_dir)

    @property
    def teacher_enabled(self) -> bool:
        """A teacher can sign in only when a key is configured."""
        return bool(self.teacher_key)


def _secrets_section(path: Path) -> dict[str, Any] | None:
    """The `[classroom]` table of the secrets file, or None (no file, no section, bad TOML)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    section = data.get("classroom")
    return section if isinstance(section, dict) else None


def _stored_secret(state_dir: Path) -> bytes:
    """The server's random signing secret, made once (mode 0600) so tokens survive restarts."""
    path = state_dir / SECRET_FILE_NAME
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value.hex())
    try:  # two server processes starting at once: the first one's secret wins
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def derived_code(secret: bytes) -> str:
    """A 6-character class code from the secret: the same after every restart, not guessable."""
    digest = hmac.new(secret, b"cnnlab class code", hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:6]


def load_settings(
    env: dict[str, str] | None = None, secrets_file: Path | None = None
) -> ClassroomSettings:
    """The settings from the environment and the secrets file (see the module docstring)."""
    env = dict(os.environ) if env is None else env
    section = _secrets_section(secrets_file or SECRETS_FILE) or {}
    flag = env.get("CNNLAB_CLASSROOM")
    if flag is not None and flag.strip():
        enabled = flag.strip().lower() in TRUE
    else:
        enabled = bool(section) and str(section.get("enabled", True)).lower() in TRUE
    if not enabled:
        return ClassroomSettings()
    state_dir = default_state_dir()
    secret_text = env.get("CNNLAB_CLASSROOM_SECRET") or str(section.get("secret", ""))
    secret = secret_text.encode() if secret_text else _stored_secret(state_dir)
    key = env.get("CNNLAB_TEACHER_KEY") or str(section.get("teacher_key", ""))
    code = (
        env.get("CNNLAB_CLASS_CODE") or str(section.get("class_code", "")) or derived_code(secret)
    )
    return ClassroomSettings(True, key, code.strip().upper(), secret, state_dir)
