"""Where each image of a user folder or zip belongs: the layout, its split and its class.

Layouts, optionally wrapped in one top-level folder (`mydata/...`): `<class>/<image>`, or
`train/<class>/<image>` + optional `test/<class>/<image>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

SPLITS = ("train", "test")
LAYOUT_HELP = "<class>/<image> or train/<class>/<image> + test/<class>/<image>"


class FolderError(ValueError):
    """A folder or zip cannot be used as a dataset; the message says why and what to do."""


@dataclass(frozen=True)
class FolderImages:
    class_names: list[str]  # sorted class folder names; labels index into it
    train_x: torch.Tensor  # uint8 (N, C, H, W)
    train_y: torch.Tensor  # int64 (N,)
    test_x: torch.Tensor | None  # uint8 (M, C, H, W); only for the train/ + test/ layout
    test_y: torch.Tensor | None  # int64 (M,)
    skipped: list[tuple[str, str]]  # (file or folder/, reason) for everything left out


@dataclass(frozen=True)
class Layout:
    prefix: str  # wrapper folder to drop, "" or "mydata/"
    has_splits: bool  # True for train/ + test/


def find_layout(names: list[str]) -> Layout:
    """Detect a wrapper folder and the train/test layout from the image names."""
    parts = [name.split("/") for name in names]
    prefix = ""
    firsts = {p[0] for p in parts}
    if len(firsts) == 1 and all(len(p) >= 3 for p in parts):
        first = firsts.pop()
        if first.lower() not in SPLITS:
            prefix = first + "/"
            parts = [p[1:] for p in parts]
    tops = {p[0].lower() for p in parts if len(p) >= 2}
    if "test" in tops and "train" not in tops:
        raise FolderError(
            f"Found a test/ folder but no train/ folder. Expected layout: {LAYOUT_HELP}."
        )
    return Layout(prefix, "train" in tops)


def place(name: str, layout: Layout, skipped: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(split, class) of an image, or None after recording why it is not used."""
    parts = name[len(layout.prefix) :].split("/")
    if not layout.has_splits:
        if len(parts) < 2:
            skipped.append((name, f"not inside a class folder (expected {LAYOUT_HELP})"))
            return None
        return "train", parts[0]
    split = parts[0].lower()
    if len(parts) < 2:
        skipped.append((name, "not inside train/<class>/ or test/<class>/"))
        return None
    if split not in SPLITS:
        note = (f"{layout.prefix}{parts[0]}/", "only train/ and test/ are read; folder ignored")
        if note not in skipped:
            skipped.append(note)
        return None
    if len(parts) < 3:
        skipped.append((name, f"not inside a class folder of {parts[0]}/"))
        return None
    return split, parts[1]


def class_folders(folders: list[str], layout: Layout) -> set[str]:
    """Names of the class-level folders among a directory's sub-folders (empty ones included)."""
    classes = set()
    for folder in folders:
        if not folder.startswith(layout.prefix):
            continue
        parts = folder[len(layout.prefix) :].split("/")
        if layout.has_splits and len(parts) == 2 and parts[0].lower() == "train":
            classes.add(parts[1])
        elif not layout.has_splits and len(parts) == 1 and parts[0]:
            classes.add(parts[0])
    return classes


def too_few_classes(path: Path, class_names: list[str], unreadable: int) -> FolderError:
    found = ", ".join(class_names) if class_names else "none"
    return FolderError(
        f"{path.name} needs at least 2 class folders with at least one readable image each; "
        f"found {len(class_names)} ({found}). Expected layout: {LAYOUT_HELP}."
        + (f" {unreadable} image(s) could not be read." if unreadable else "")
    )
