"""The `folder` dataset: your own images, a folder on this server or an uploaded .zip of class folders.

`DataConfig.path` is either a folder/.zip path on this server (the "Folder on this server" tab; it
must pass `resolve_user_folder`) or an upload reference `upload:<owner>/<digest>/<name>.zip`
(`uploads.py`), never the absolute path of an upload, so a run's config.json does not expose it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.config import (
    AugmentConfig,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    default_cache_dir,
    default_data_root,
    default_runs_dir,
)
from cnnlab.data.types import DatasetInfo, RawImages, register_dataset

FOLDER_ROOT_ENV = "CNNLAB_FOLDER_ROOT"  # user image folders must live under this folder
MAX_PATH_CHARS = 1024  # longer text is refused before it reaches the file system
UNUSABLE_FOLDER = (
    "This path cannot be used: it does not exist, cannot be read, or is not a folder or .zip "
    "this lab may read. Enter a folder (or .zip) with one sub-folder per class inside {root}."
)


def folder_raw(path: Path, *, image_size: int, channels: int | None, source: str = "") -> RawImages:
    """A folder or .zip of class folders as RawImages (decoded once, cached on disk)."""
    from cnnlab.data.folder import load_image_folder

    # A directory is its own root: links inside it may not lead to files outside it.
    root = path if path.is_dir() else None
    found = load_image_folder(
        path, image_size=image_size, channels=channels, cache_dir=default_cache_dir(), root=root
    )
    notes = []
    if found.skipped:
        examples = "; ".join(f"{name}: {why}" for name, why in found.skipped[:3])
        notes.append(f"warning: skipped {len(found.skipped)} unreadable file(s), e.g. {examples}")
    return RawImages(
        list(found.class_names),
        found.train_x,
        found.train_y,
        found.test_x,
        found.test_y,
        source=source or str(path),
        notes=notes,
    )


def folder_path(cfg_path: str) -> Path:
    """The file or folder a `DataConfig.path` names: an upload reference or a server path."""
    from cnnlab.data.uploads import is_upload_ref, upload_path

    if is_upload_ref(cfg_path):
        return upload_path(cfg_path)
    return Path(cfg_path).expanduser()


def _load_folder(cfg: DataConfig, root: Path) -> RawImages:
    if not cfg.path:
        raise ValueError("dataset 'folder' needs a path: a folder or .zip of class folders")
    return folder_raw(
        folder_path(cfg.path), image_size=cfg.image_size or 64, channels=None, source=cfg.path
    )


# -- "Folder on this server": what a user may type ---------------------------------------------


def folder_root() -> Path:
    """Where user image folders may be read from: env CNNLAB_FOLDER_ROOT, default the home folder."""
    env = os.environ.get(FOLDER_ROOT_ENV)
    return (Path(env).expanduser() if env else Path.home()).resolve()


def app_folders() -> list[Path]:
    """The app's own folders (cache with its uploads, runs, datasets): never readable as a folder."""
    return [
        p.expanduser().resolve()
        for p in (default_cache_dir(), default_runs_dir(), default_data_root())
    ]


def resolve_user_folder(text: str, root: Path) -> Path:
    """`text` (absolute, or relative to `root`) as a resolved existing folder or .zip inside `root`.

    Refused with one neutral ValueError (it never says which paths exist): a path outside `root`
    (symbolic links resolved), inside the app's own folders (`app_folders`), missing, unreadable,
    too long, or neither a folder nor a .zip.
    """
    text = text.strip()
    if not text:
        raise ValueError("Enter the path of a folder (or .zip) with one sub-folder per class.")
    unusable = ValueError(UNUSABLE_FOLDER.format(root=root))
    if len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise unusable
    try:
        path = Path(text).expanduser()
        path = (path if path.is_absolute() else root / path).resolve()
        inside_app = any(path.is_relative_to(p) for p in app_folders())
        if not path.is_relative_to(root) or inside_app:
            raise unusable
        usable = path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip")
        if not usable or not os.access(path, os.R_OK):
            raise unusable
    except (OSError, RuntimeError) as err:  # name too long, loops of links, permissions
        raise unusable from err
    return path


register_dataset(
    DatasetInfo(
        name="folder",
        title="Your own images (folder or .zip)",
        description="your own images; "
        "a folder or .zip with one sub-folder per class (optionally train/, test/)",
        offline=True,
        default_image_size=64,
        hflip_ok=True,
        download_bytes=0,
        augment=AugmentConfig(crop_padding=4),  # unknown content: no flip unless the user asks
        recipe=RunConfig(  # generic: also the recipe of names not registered
            model=ModelConfig(name="fastnet"),
            augment=AugmentConfig(crop_padding=4, hflip=True),
            train=TrainConfig(
                optimizer="adamw", lr=2e-3, epochs=10, batch_size=64, label_smoothing=0.1
            ),
        ),
        loader=_load_folder,
        resizable=True,
    )
)


def skipped_files(cfg: DataConfig) -> list[tuple[str, str]]:
    """Every file a `folder` dataset left out, as (file, why) (the dataset's notes show a few)."""
    from cnnlab.data.folder import load_image_folder

    return load_image_folder(
        folder_path(cfg.path),
        image_size=cfg.image_size or 64,
        channels=None,
        cache_dir=default_cache_dir(),
    ).skipped  # decoded once: read from the on-disk cache
