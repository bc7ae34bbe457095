"""The model zoo: a name -> builder registry of CNNs, the custom-network builder and its checker.

Modules: `core` (registry, `Classifier`, `build_model`, helpers), `blocks` (named conv blocks,
activations, pools), `presets` (small CNNs), `torchvision_nets` (ResNet-18, MobileNetV3-Small),
`custom` (a `ModelSpec` -> network, `check_spec`, limits). Importing this package registers all.
"""

# Import order = registration order (presets, torchvision nets, custom): keep it.
# isort: off
from cnnlab.models.blocks import (
    ACTIVATIONS,
    POOLS,
    BasicBlock,
    Scale,
    conv_block,
    pooled_block,
)
from cnnlab.models.core import (
    MAX_WIDTH,
    MODELS,
    Builder,
    Classifier,
    ModelInfo,
    Normalize,
    Shape,
    build_model,
    conv_layer_names,
    device_of,
    one_view,
    register,
)
from cnnlab.models.presets import FASTNET_LOGIT_SCALE, FASTNET_WIDTHS
from cnnlab.models.airnet import AIRNET_WIDTHS, PatchWhitening, fit_whitening
from cnnlab.models.torchvision_nets import (
    IMAGENET,
    ImageNetUnavailable,
    fetch_imagenet,
    hub_checkpoint,
    load_imagenet,
)
from cnnlab.models.custom import (
    MAX_BLOCKS,
    MAX_FILTERS,
    MAX_FLAT_FEATURES,
    MAX_HIDDEN_LAYERS,
    MAX_HIDDEN_TEXT,
    MAX_PARAMS,
    MAX_UNITS,
    InvalidSpecError,
    SpecRow,
    check_spec,
    parse_hidden,
    spec_rows,
)
# isort: on

__all__ = [
    "one_view",
    "ACTIVATIONS",
    "AIRNET_WIDTHS",
    "PatchWhitening",
    "fit_whitening",
    "FASTNET_LOGIT_SCALE",
    "IMAGENET",
    "FASTNET_WIDTHS",
    "MAX_BLOCKS",
    "MAX_FILTERS",
    "MAX_FLAT_FEATURES",
    "MAX_HIDDEN_LAYERS",
    "MAX_HIDDEN_TEXT",
    "MAX_PARAMS",
    "MAX_UNITS",
    "MAX_WIDTH",
    "MODELS",
    "POOLS",
    "BasicBlock",
    "Builder",
    "Classifier",
    "ImageNetUnavailable",
    "InvalidSpecError",
    "ModelInfo",
    "Normalize",
    "Scale",
    "Shape",
    "SpecRow",
    "build_model",
    "check_spec",
    "conv_block",
    "conv_layer_names",
    "device_of",
    "fetch_imagenet",
    "hub_checkpoint",
    "load_imagenet",
    "parse_hidden",
    "pooled_block",
    "register",
    "spec_rows",
]
