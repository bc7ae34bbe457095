"""The class dataset: one made dataset (`cnnlab.data.made`) the whole class adds samples to.

The teacher marks it (`set_class_dataset`); the choice is one small file in the classroom state
folder, `class_dataset.json` = {"dataset": <name>}, and the dataset's manifest is marked shared,
so every signed-in student may add samples to it (with their user id in each file name) and may
delete or move only their own (checked in `made_samples`). The teacher sees the contributors,
can remove one's samples, and trains the class's one model on it.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.classroom.identity import Identity
from cnnlab.data.made import MadeDataset, made_root, open_dataset, set_shared
from cnnlab.data.made_names import MadeError
from cnnlab.jsonio import atomic_write_json, read_dict
from cnnlab.runs.access import AccessDenied

FILE = "class_dataset.json"


def class_dataset(state_dir: Path, root: Path | None = None) -> MadeDataset | None:
    """The class dataset, or None (none chosen, or it was deleted)."""
    name = read_dict(Path(state_dir) / FILE).get("dataset")
    if not isinstance(name, str) or not name:
        return None
    try:
        return open_dataset(name, root or made_root())
    except MadeError:
        return None


def set_class_dataset(
    ds: MadeDataset | None, state_dir: Path, actor: Identity | None
) -> MadeDataset | None:
    """Make `ds` the class dataset (None: no class dataset); teacher only (AccessDenied).

    The previous class dataset stops being shared (students keep their samples in it).
    """
    if actor is not None and not actor.is_teacher:
        raise AccessDenied("Only the teacher can choose the class dataset.")
    root = ds.path.parent if ds is not None else made_root()
    old = class_dataset(state_dir, root)
    if old is not None and (ds is None or old.name != ds.name):
        set_shared(old, False)
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(state_dir) / FILE, {"dataset": ds.name if ds else ""})
    return set_shared(ds, True) if ds is not None else None
