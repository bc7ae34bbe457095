"""A run's network as plain PyTorch source: the standalone script's model section.

`model_code(model, model_name)` walks the built `Classifier` (`norm` + `net`) and writes the
body as explicit `nn.Sequential` / `nn.Conv2d(...)` code with the same child names, so the
state dict of the generated model has the same keys and shapes as the lab's (the export checks
this by loading the run's weights into it and comparing outputs: `check_model_code`). The lab's
own small modules (`BasicBlock`, `Scale`, AirNet's `PatchWhitening` with its fitting function and
`FrozenScaleNorm`) are written out as definitions; torchvision nets become their torchvision
builder plus the lab's small-image changes as assignments.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.models import airnet
from cnnlab.models.airnet import FrozenScaleNorm, PatchWhitening
from cnnlab.models.blocks import BasicBlock, Scale

INDENT = "    "

# The lab's own modules the script defines, with how to call their constructor from an instance.
CUSTOM_MODULES: dict[type, Callable[[nn.Module], str]] = {
    BasicBlock: lambda m: (
        f"BasicBlock({m.conv1.in_channels}, {m.conv1.out_channels}, stride={m.conv1.stride[0]})"
    ),
    Scale: lambda m: f"Scale({m.factor!r})",
    PatchWhitening: lambda m: f"PatchWhitening({m.in_channels}, {m.kernel_size[0]})",
    FrozenScaleNorm: lambda m: f"FrozenScaleNorm({m.num_features})",
}
# What a class's source needs besides itself: module constants, and for the whitening stem the
# function that fits it to the training images (the script calls it before the first step).
CLASS_NEEDS: dict[type, tuple[tuple[str, ...], tuple[Callable[..., object] | type, ...]]] = {
    PatchWhitening: (("WHITEN_KERNEL", "WHITEN_EPS", "WHITEN_IMAGES"), (airnet._Seen,)),
    FrozenScaleNorm: (("BN_MOMENTUM",), ()),
}
FITTED_BY = {PatchWhitening: airnet.fit_whitening}  # after the classes: it names them
# Networks whose convs start as identities (dirac), as their builder does: child names.
IDENTITY_START = {"airnet": ("conv1", "conv2")}
TORCHVISION_BUILDERS = {  # lab model name -> torchvision.models builder
    "resnet18": "resnet18",
    "mobilenet-v3-small": "mobilenet_v3_small",
}


class ModelCodeError(ValueError):
    """The network has a module the script writer cannot express as code (names it)."""


@dataclass(frozen=True)
class ModelCode:
    classes: str  # class definitions the body needs (may be "")
    build: str  # `def build_net(num_classes)` returning the body (without normalisation)
    uses_torchvision_model: bool  # the body comes from torchvision.models


def _pair(value: object) -> str:
    """(3, 3) -> "3", (1, 2) -> "(1, 2)": the shorter way PyTorch accepts."""
    if isinstance(value, tuple) and len(set(value)) == 1:
        return repr(value[0])
    return repr(value)


def leaf_code(module: nn.Module) -> str:
    """A constructor expression (with `nn.` prefix) for a standard torch.nn leaf module."""
    if type(module).__module__.startswith("cnnlab."):  # a lab module not in CUSTOM_MODULES
        raise ModelCodeError(
            f"the network contains the lab's {type(module).__name__} layer, which the script "
            "writer cannot write as code yet: export ONNX to use the trained model"
        )
    if isinstance(module, nn.Conv2d):
        extra = f", groups={module.groups}" if module.groups != 1 else ""
        extra += f", dilation={_pair(module.dilation)}" if module.dilation != (1, 1) else ""
        return (
            f"nn.Conv2d({module.in_channels}, {module.out_channels}, "
            f"kernel_size={_pair(module.kernel_size)}, stride={_pair(module.stride)}, "
            f"padding={_pair(module.padding)}, bias={module.bias is not None}{extra})"
        )
    if isinstance(module, nn.Linear):
        return f"nn.Linear({module.in_features}, {module.out_features}, bias={module.bias is not None})"
    if isinstance(module, nn.BatchNorm2d) and (module.eps, module.momentum) == (1e-5, 0.1):
        return f"nn.BatchNorm2d({module.num_features})"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)) and module.kernel_size == module.stride:
        if module.padding == 0 and not module.ceil_mode:
            return f"nn.{type(module).__name__}({_pair(module.kernel_size)})"
    if isinstance(module, nn.Dropout):
        return f"nn.Dropout({module.p})"
    if isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) == (1, -1):
        return "nn.Flatten()"
    if type(module).__module__.startswith("torch.nn.modules") and not list(module.children()):
        return f"nn.{module!r}".replace("inplace=True", "inplace=False")  # repr = constructor
    raise ModelCodeError(
        f"the network contains a {type(module).__name__} module, which the script writer "
        "cannot write as code yet"
    )


def module_code(module: nn.Module, depth: int = 0) -> str:
    """A Python expression that builds `module` (same structure and child names)."""
    pad, inner = INDENT * depth, INDENT * (depth + 1)
    if type(module) in CUSTOM_MODULES:
        return CUSTOM_MODULES[type(module)](module)
    if type(module) is nn.Sequential:
        children = list(module.named_children())
        if not children:
            return "nn.Sequential()"
        if all(name == str(i) for i, (name, _) in enumerate(children)):
            items = [module_code(child, depth + 1) for _, child in children]
            return "nn.Sequential(\n" + "".join(f"{inner}{i},\n" for i in items) + f"{pad})"
        pairs = [f'("{name}", {module_code(child, depth + 2)})' for name, child in children]
        body = "".join(f"{inner}{INDENT}{p},\n" for p in pairs)
        return f"nn.Sequential(\n{inner}OrderedDict([\n{body}{inner}])\n{pad})"
    return leaf_code(module)


def _used_custom(module: nn.Module) -> list[type]:
    seen = {type(m) for m in module.modules()}
    return [cls for cls in CUSTOM_MODULES if cls in seen]


def _class_source(cls: object) -> str:
    return textwrap.dedent(inspect.getsource(cls)).strip() + "\n"


def _same(a: nn.Module | None, b: nn.Module) -> bool:
    """Same layer, `inplace` aside (the lab turns it off so hooks see unmodified tensors)."""
    drop = re.compile(r",? ?inplace=(True|False)")
    return drop.sub("", repr(a)) == drop.sub("", repr(b))


def _torchvision_changes(body: nn.Module, builder: str, num_classes: int) -> list[str]:
    """Assignments that turn a fresh torchvision `builder` net into `body` (the lab's changes)."""
    from torchvision import models as tvm

    fresh = dict(getattr(tvm, builder)(weights=None, num_classes=num_classes).named_modules())
    lines = []
    for name, module in body.named_modules():
        if not name or list(module.children()) or _same(fresh.get(name), module):
            continue
        target = "net" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in name.split("."))
        lines.append(f"{target} = {leaf_code(module)}")
        if isinstance(module, nn.Conv2d):  # as the lab does for a new first conv
            lines.append(
                f'nn.init.kaiming_normal_({target}.weight, mode="fan_out", nonlinearity="relu")'
            )
    return lines


def model_code(model: nn.Module, model_name: str) -> ModelCode:
    """The source of `build_net(num_classes)` for the body `model.net` of a lab `Classifier`."""
    body = model.net
    num_classes = int(model.num_classes)
    if model_name in TORCHVISION_BUILDERS:
        builder = TORCHVISION_BUILDERS[model_name]
        changes = _torchvision_changes(body, builder, num_classes)
        lines = [f"net = torchvision.models.{builder}(weights=None, num_classes=num_classes)"]
        if changes:
            lines.append("# the lab's changes for small images / other channel counts:")
        lines += changes + ["return net"]
        build = "def build_net(num_classes: int) -> nn.Module:\n"
        build += "".join(f"{INDENT}{line}\n" for line in lines)
        return ModelCode("", build, True)
    expression = module_code(body, 1)
    head, found, tail = expression.rpartition(f", {num_classes}, bias=")  # the class layer
    if found:
        expression = f"{head}, num_classes, bias={tail}"
    used = _used_custom(body)
    classes = "\n\n".join([*_needs(used), *map(_class_source, used)])
    classes += "".join(f"\n\n{_class_source(FITTED_BY[cls])}" for cls in used if cls in FITTED_BY)
    build = f"def build_net(num_classes: int) -> nn.Module:\n{INDENT}return {expression}\n"
    if model_name in IDENTITY_START:
        classes += "\n\n" + _class_source(airnet._identity_start)
        build = _with_identity_start(expression, IDENTITY_START[model_name])
    return ModelCode(classes, build, False)


def _needs(used: list[type]) -> list[str]:
    """The constants (one block, from each class's module) and the helpers the classes use."""
    needs = [(cls, CLASS_NEEDS[cls]) for cls in used if cls in CLASS_NEEDS]
    constants = "".join(
        f"{name} = {getattr(inspect.getmodule(cls), name)!r}\n"
        for cls, (names, _) in needs
        for name in names
    )
    helpers = [_class_source(h) for _, (_, hs) in needs for h in hs]
    return ([constants] if constants else []) + helpers


def _with_identity_start(expression: str, names: tuple[str, ...]) -> str:
    """`build_net` that starts the named convs as identities, as the lab's builder does."""
    return (
        f"def build_net(num_classes: int) -> nn.Module:\n{INDENT}net = {expression}\n"
        f"{INDENT}for name, module in net.named_modules():  # as the lab builds it\n"
        f"{INDENT * 2}if name.rpartition('.')[2] in {names!r}:\n"
        f"{INDENT * 3}_identity_start(module)\n{INDENT}return net\n"
    )


def check_model_code(source: str, model: nn.Module, num_classes: int) -> float:
    """Execute `source` (imports + classes + build_net), load `model.net`'s weights into the
    network it builds (strict: same keys and shapes) and return the largest absolute output
    difference on a random batch (eval mode). ModelCodeError when the code does not match."""
    namespace: dict[str, object] = {}
    exec(compile(source, "<exported model>", "exec"), namespace)  # our own generated code
    net = namespace["build_net"](num_classes)  # type: ignore[operator]
    try:
        net.load_state_dict(model.net.state_dict(), strict=True)
    except RuntimeError as exc:
        raise ModelCodeError(f"the written network does not match the run's: {exc}") from exc
    was_training = model.training
    model.eval()
    net.eval()
    x = torch.rand(2, *model.input_shape)
    with torch.no_grad():
        diff = (net(model.norm(x)) - model.net(model.norm(x))).abs().max().item()
    model.train(was_training)
    return diff
