"""Names of datasets and classes made in the browser: checked before they become folder names.

A class name *is* its folder's name (the folder loader reads class names from folders), so a name
must be a safe, portable single path component: not empty, at most `MAX_NAME_CHARS` characters,
no separators or characters Windows refuses (`/ \\ < > : " | ? *`), no control or invisible
characters (NUL included), not `.` or `..`, not hidden (a leading dot: the loader ignores hidden
folders), no trailing dot (Windows drops it), not a reserved device name (`CON`, `NUL`, `COM1`,
...), and for classes not `train` or `test` (the loader would read them as split folders).
Letters of any script, digits, spaces, punctuation and emoji are fine. Spaces at either end are
trimmed and runs of spaces become one (what people mean); names are NFC-normalised.
Two names that look the same (NFKC + case folding: `Cat`, `CAT`, `ｃａｔ`) count as the same name.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_CHARS = 40  # characters; also keeps every path far below the 255-byte file-name limit
FORBIDDEN_CHARS = set('/\\<>:"|?*')
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)
}
SPLIT_FOLDERS = {"train", "test", "__macosx"}  # read by the folder loader as something else
USER_ID = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")  # "s-1f2e", "teacher", "local"; no "--"


class MadeError(ValueError):
    """A made dataset, class or sample request that is refused; the message says what to do."""


def clean_name(text: object, what: str = "class") -> str:
    """`text` as a safe folder name for a `what` ("class" or "dataset"); MadeError says why not."""
    if not isinstance(text, str):
        raise MadeError(f"The {what} name must be text.")
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if "\x00" in text or any(unicodedata.category(c).startswith("C") for c in name):
        raise MadeError(
            f"The {what} name has invisible or control characters: type it again without them."
        )
    if not name:
        raise MadeError(f"Type a name for the {what}.")
    if len(name) > MAX_NAME_CHARS:
        raise MadeError(
            f"That {what} name is {len(name)} characters long: use at most {MAX_NAME_CHARS}."
        )
    if bad := sorted(FORBIDDEN_CHARS & set(name)):
        shown = " ".join(bad)
        raise MadeError(f"A {what} name may not contain {shown} (it names a folder): remove them.")
    if name.startswith("."):
        raise MadeError(f"A {what} name may not start with a dot ('{name}' would be hidden).")
    if name.endswith("."):
        raise MadeError(f"A {what} name may not end with a dot: remove it.")
    if name.split(".")[0].strip().upper() in WINDOWS_DEVICES:
        raise MadeError(
            f"'{name}' is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9): "
            f"choose another {what} name."
        )
    if what == "class" and name.casefold() in SPLIT_FOLDERS:
        raise MadeError(
            f"'{name}' cannot be a class name: folders named train and test hold a dataset's "
            "splits. Choose another name."
        )
    return name


def name_key(name: str) -> str:
    """Names that look the same are the same name (case, width and compatibility forms)."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_user_id(user_id: str) -> str:
    """A contributor id safe inside a file name (`<user_id>--<random>.png`)."""
    if not isinstance(user_id, str) or len(user_id) > 40 or not USER_ID.fullmatch(user_id):
        raise MadeError(f"Unknown contributor id {user_id!r}: sign in again.")
    return user_id
