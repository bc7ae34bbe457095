"""Data sources: built-in and user datasets as resident uint8 tensors, safe decoding, augmentation.

One file per source registers it (`register_dataset`) with everything about it: `shapes.py`,
`digits.py`, `torchvision_sets.py` (MNIST family, CIFAR, SVHN), `user_images.py` (your folder or
upload). `types.py` holds the shared types and the registry, `core.py` the splits, `folder.py`
(+ `folder_layout.py`, `folder_cache.py`) the decoding of user folders and zips, `archive.py` and
`images.py` the safe reading of untrusted bytes, `uploads.py` the per-owner upload store,
`augment.py` the batch augmentation.
"""

# isort: off
# Each module registers its dataset(s) on import; this order is the order of every list shown.
from cnnlab.data import shapes, digits, torchvision_sets, user_images  # noqa: F401

# isort: on
from cnnlab.data.archive import ArchiveError, ArchiveLimits, read_zip_images
from cnnlab.data.augment import augment_batch, augment_preview, default_augment
from cnnlab.data.core import compute_preprocess, dataset_status, load_dataset
from cnnlab.data.folder import FolderError, FolderImages, load_image_folder
from cnnlab.data.images import ImageError, image_to_tensor, open_image, tensor_to_pil
from cnnlab.data.shapes import SHAPE_CLASSES, make_shapes
from cnnlab.data.torchvision_sets import CIFAR10_CLASSES, CIFAR10_ZIP
from cnnlab.data.types import (
    DATASETS,
    OFFLINE_ALTERNATIVES,
    DatasetInfo,
    DatasetUnavailable,
    DataSplit,
    ImageDataset,
    RawImages,
    data_root,
    download_text,
    register_dataset,
)
from cnnlab.data.uploads import Upload, UploadError, check_owner, save_upload
from cnnlab.data.user_images import (
    FOLDER_ROOT_ENV,
    folder_root,
    resolve_user_folder,
    skipped_files,
)

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_ZIP",
    "DATASETS",
    "FOLDER_ROOT_ENV",
    "OFFLINE_ALTERNATIVES",
    "SHAPE_CLASSES",
    "ArchiveError",
    "ArchiveLimits",
    "DataSplit",
    "DatasetInfo",
    "DatasetUnavailable",
    "FolderError",
    "FolderImages",
    "ImageDataset",
    "ImageError",
    "RawImages",
    "Upload",
    "UploadError",
    "augment_batch",
    "augment_preview",
    "check_owner",
    "compute_preprocess",
    "data_root",
    "dataset_status",
    "default_augment",
    "download_text",
    "folder_root",
    "image_to_tensor",
    "load_dataset",
    "load_image_folder",
    "make_shapes",
    "open_image",
    "read_zip_images",
    "register_dataset",
    "resolve_user_folder",
    "save_upload",
    "skipped_files",
    "tensor_to_pil",
]
