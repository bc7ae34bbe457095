"""The standalone script's data section: load the run's dataset with torchvision (or
scikit-learn for `digits`), then split it the way the lab does (`cnnlab.data.core`).

Each loader is a block of plain code defining `load_images() -> (class_names, x, y, test_x,
test_y)` with uint8 images (N, C, H, W) and int64 labels; `test_x` is None when the set has no
official test split (the test images are then held out like the lab does). The generated `shapes`
set comes with the lab's generator (`script_shapes.py`); datasets the script cannot rebuild
without cnnlab (uploads, unknown names) raise `ScriptDataError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.config import DataConfig, Preprocess
from cnnlab.data.shapes import shapes_knobs
from cnnlab.export.script_shapes import shapes_class, shapes_code, shapes_settings

TORCHVISION_SETS = {  # lab name -> (torchvision.datasets class, train kwargs, test kwargs)
    "mnist": ("MNIST", "train=True", "train=False"),
    "fashion-mnist": ("FashionMNIST", "train=True", "train=False"),
    "kmnist": ("KMNIST", "train=True", "train=False"),
    "cifar10": ("CIFAR10", "train=True", "train=False"),
    "cifar100": ("CIFAR100", "train=True", "train=False"),
    "svhn": ("SVHN", 'split="train"', 'split="test"'),
}


class ScriptDataError(ValueError):
    """The run's dataset cannot be loaded by a script without cnnlab (says why and what to do)."""


DIGITS = '''
def load_images():
    """scikit-learn's 1,797 8x8 digits (bundled): grey levels 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    levels = torch.from_numpy(digits.images)  # (N, 8, 8) float, 0..16
    x = (levels * 255 / 16).round().to(torch.uint8)[:, None]  # (N, 1, 8, 8)
    y = torch.from_numpy(digits.target).to(torch.int64)
    return [str(d) for d in range(10)], x, y, None, None  # no official test split
'''

TORCHVISION = '''
def as_tensors(ds):
    """(x uint8 (N, C, H, W), y int64 (N,)) from a torchvision dataset's resident arrays."""
    x = torch.as_tensor(np.asarray(ds.data))
    if x.ndim == 3:  # MNIST family: (N, H, W)
        x = x[:, None]
    elif x.shape[-1] == 3:  # CIFAR: (N, H, W, C); SVHN is already (N, C, H, W)
        x = x.permute(0, 3, 1, 2)
    labels = ds.targets if hasattr(ds, "targets") else ds.labels
    return x.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64)


def load_images():
    """torchvision's $CLASS (downloaded into DATA_ROOT when missing), official test split."""
    train = torchvision.datasets.$CLASS(DATA_ROOT, $TRAIN, download=True)
    test = torchvision.datasets.$CLASS(DATA_ROOT, $TEST, download=True)
    x, y = as_tensors(train)
    test_x, test_y = as_tensors(test)
    return CLASS_NAMES, x, y, test_x, test_y
'''

FOLDER = '''
def read_folder(path):
    """Class folders of images -> (x uint8 (N, C, H, W), y, class names), resized to IMAGE_SIZE
    squared (bilinear, antialiased; no crop, as the lab does) in CHANNELS channels."""
    mode = "L" if CHANNELS == 1 else "RGB"
    transform = transforms.Compose(
        [
            transforms.Lambda(lambda img: img.convert(mode)),
            transforms.Resize((IMAGE_SIZE, IMAGE_SIZE), antialias=True),
            transforms.PILToTensor(),  # uint8 (C, H, W)
        ]
    )
    ds = torchvision.datasets.ImageFolder(path, transform=transform)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    return x, torch.tensor(ds.targets, dtype=torch.int64), ds.classes


def load_images():
    """Your image folder (one sub-folder per class, optionally train/ and test/); a .zip is
    extracted to a temporary folder first."""
    path = Path(FOLDER_PATH).expanduser()
    if path.suffix.lower() == ".zip":
        target = Path(tempfile.mkdtemp(prefix="images-"))
        with zipfile.ZipFile(path) as zf:
            zf.extractall(target)  # your own zip: trusted here
        path = target
    inner = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(inner) == 1 and not any(f.is_file() for f in inner[0].iterdir()):
        path = inner[0]  # one wrapper folder around the class folders
    if (path / "train").is_dir() and (path / "test").is_dir():
        x, y, names = read_folder(path / "train")
        test_x, test_y, test_names = read_folder(path / "test")
        assert test_names == names, "train/ and test/ need the same class folders"
        return names, x, y, test_x, test_y
    x, y, names = read_folder(path)
    return names, x, y, None, None
'''

SPLITS = '''
def split_off(y, n_pick, seed, keep=1):
    """Indices (rest, picked) with n_pick of the labels y picked, stratified by class, at least
    `keep` left: scikit-learn's train_test_split as in the lab (the same images for the same
    seed); without scikit-learn, a seeded per-class shuffle (a different but similar split)."""
    n = len(y)
    n_pick = min(max(1, n_pick), n - keep) if keep else min(max(1, n_pick), n)
    index = np.arange(n)
    try:
        from sklearn.model_selection import train_test_split
    except ImportError:
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(n, generator=g)
        share = torch.zeros(n)  # position of each image within its class, as a share
        for c in y.unique():
            members = order[y[order] == c]
            share[members] = (torch.arange(len(members)) + 0.5) / len(members)
        picked = torch.argsort(share, stable=True)[:n_pick].numpy()
        return np.setdiff1d(index, picked), picked
    try:
        return train_test_split(index, test_size=n_pick, random_state=seed, stratify=y.numpy())
    except ValueError:  # a class too small to appear on both sides: a plain shuffled split
        return train_test_split(index, test_size=n_pick, random_state=seed, shuffle=True)


def make_splits():
    """(train, val, test) as (x uint8 (N, C, H, W), y int64 (N,)) pairs, as the lab makes them:
    test = the official split or TEST_FRACTION held out, then VAL_FRACTION of the rest for
    validation, then at most LIMIT training images (0 = all)."""
    names, x, y, test_x, test_y = load_images()
    if test_x is None:
        pool, test_idx = split_off(y, round(TEST_FRACTION * len(y)), DATA_SEED, keep=2)
        test_x, test_y = x[test_idx], y[test_idx]
    else:
        pool = np.arange(len(y))
    rest, val_rel = split_off(y[pool], round(VAL_FRACTION * len(pool)), DATA_SEED)
    train_idx, val_idx = pool[rest], pool[val_rel]
    if 0 < LIMIT < len(train_idx):
        _, kept = split_off(y[train_idx], LIMIT, DATA_SEED, keep=0)
        train_idx = train_idx[kept]
    train = (x[train_idx], $TRAIN_LABELS)
    val = (x[val_idx], y[val_idx])
    return names, train, val, (test_x, test_y)


def channel_stats(x):
    """Per-channel mean and std of uint8 images (N, C, H, W) in [0, 1] units (from 256-bin
    histograms, so a large set needs no float copy)."""
    levels = torch.arange(256, dtype=torch.float64) / 255
    counts = torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(x.shape[1])])
    counts = counts.double()  # (C, 256)
    mean = counts @ levels / counts.sum(1)
    var = (counts @ levels**2 / counts.sum(1) - mean**2).clamp_min(0)
    return mean.tolist(), var.sqrt().clamp_min(1 / 255).tolist()
'''


def data_settings(cfg: DataConfig, preprocess: Preprocess, class_names: list[str]) -> list[str]:
    """The data lines of the script's settings section (name = value  # comment)."""
    lines = [
        f"DATA_SEED = {cfg.seed}  # seed of the splits (and of a generated set)",
        f"VAL_FRACTION = {cfg.val_fraction!r}  # share of the training images kept for validation",
        f"TEST_FRACTION = {cfg.test_fraction!r}  # share held out for test (sets without a test split)",
        f"LIMIT = {cfg.limit}  # keep at most this many training images (0 = all)",
    ]
    if cfg.name in TORCHVISION_SETS:
        default = 'os.environ.get("CNNLAB_DATA") or "~/.cache/cnnlab/data"'  # the lab's root
        root = repr(cfg.root) if cfg.root else default
        lines.insert(0, f"DATA_ROOT = os.path.expanduser({root})  # torchvision's files")
        lines.append(f"CLASS_NAMES = {list(class_names)!r}")
    if cfg.name == "shapes":
        lines[1:1] = shapes_settings(cfg)
    if cfg.name == "folder":
        c, h, _ = preprocess.input_shape
        lines.insert(0, f"FOLDER_PATH = {cfg.path!r}  # your folder (or .zip) of class folders")
        lines.insert(1, f"IMAGE_SIZE = {h}  # side in pixels the images are resized to")
        lines.insert(2, f"CHANNELS = {c}  # 1 = grey, 3 = colour")
    return lines


@dataclass(frozen=True)
class DataSection:
    code: str  # the loaders and the splits
    imports: list[str]  # extra standard-library imports they need
    classes: str  # a settings dataclass the settings section defines ("" = none)


def data_code(cfg: DataConfig) -> DataSection:
    """The data section of the script for the run's dataset (ScriptDataError when impossible)."""
    labels = "y[train_idx]"
    if cfg.name == "shapes" and shapes_knobs(cfg.shapes).label_noise > 0:  # train split only
        labels = "flip_labels(y[train_idx], SHAPES.label_noise, DATA_SEED, len(names))"
    splits = SPLITS.replace("$TRAIN_LABELS", labels)
    if cfg.name == "digits":
        return DataSection(DIGITS + splits, [], "")
    if cfg.name == "shapes":
        return DataSection(shapes_code() + splits, [], shapes_class())
    if cfg.name in TORCHVISION_SETS:
        cls, train, test = TORCHVISION_SETS[cfg.name]
        block = TORCHVISION.replace("$CLASS", cls).replace("$TRAIN", train)
        return DataSection(block.replace("$TEST", test) + splits, [], "")
    if cfg.name == "folder" and cfg.path.startswith("upload:"):
        raise ScriptDataError(
            "this run trained on an uploaded zip, which lives only on the lab's server: "
            "unzip your images into a folder and set FOLDER_PATH in the script by hand "
            "(or train on a folder on this server and export that run)"
        )
    if cfg.name == "folder":
        imports = ["import tempfile", "import zipfile", "from pathlib import Path"]
        return DataSection(FOLDER + splits, imports, "")
    raise ScriptDataError(
        f"the {cfg.name!r} dataset is made by cnnlab itself, so a script without cnnlab cannot "
        "load it; a script can be written for runs on digits, shapes, MNIST, Fashion-MNIST, "
        "KMNIST, CIFAR-10/100, SVHN or a folder of your images"
    )
