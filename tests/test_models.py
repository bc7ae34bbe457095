"""Model zoo: every preset at every input size, the custom-net checker, ImageNet weights."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from cnnlab import config
from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess, RunConfig
from cnnlab.finetune import prepare
from cnnlab.models import (
    MAX_HIDDEN_TEXT,
    MAX_WIDTH,
    MODELS,
    Classifier,
    ImageNetUnavailable,
    InvalidSpecError,
    build_model,
    check_spec,
    conv_layer_names,
    hub_checkpoint,
    load_imagenet,
    parse_hidden,
)
from cnnlab.models.torchvision_nets import _adapt_conv_weight

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)]
NUM_CLASSES = 7


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny batches: thread start-up costs more than it saves and is erratic on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and any attempt to download fails the test."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("models must never download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return hub


def make(
    name: str, shape: tuple[int, int, int], num_classes: int = NUM_CLASSES, **kw: object
) -> Classifier:
    preprocess = Preprocess(input_shape=shape, mean=(0.4,) * shape[0], std=(0.2,) * shape[0])
    return build_model(ModelConfig(name=name, **kw), preprocess, num_classes)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", MODELS.names())
def test_forward_and_state_dict_round_trip(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = make(name, shape).eval()
    x = torch.rand(2, *shape)  # float in [0, 1]
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, NUM_CLASSES) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()

    torch.manual_seed(1)  # different initial weights
    fresh = make(name, shape).eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), logits)


@pytest.mark.parametrize("name", MODELS.names())
def test_classifier_contract(name: str) -> None:
    model = make(name, (3, 32, 32))
    assert next(iter(model.named_children()))[0] == "norm"
    assert model.norm.mean.shape == model.norm.std.shape == (1, 3, 1, 1)
    assert model.model_name == name and model.num_classes == NUM_CLASSES
    assert model.input_shape == (3, 32, 32)
    assert isinstance(model.pretrained_note, str) and model.pretrained_note
    assert not any(
        getattr(m, "inplace", False) for m in model.modules()
    )  # hooks need no in-place ops
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(model.norm(x), (x - 0.4) / 0.2)


@pytest.mark.parametrize("name", MODELS.names())
def test_conv_layer_names_in_forward_order(name: str) -> None:
    model = make(name, (1, 28, 28)).eval()
    names = conv_layer_names(model)
    assert names and all(isinstance(model.get_submodule(n), nn.Conv2d) for n in names)
    called: list[str] = []
    for n in names:
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: called.append(n))
    with torch.no_grad():
        model(torch.rand(1, 1, 28, 28))
    assert list(dict.fromkeys(called)) == names


def test_width_scales_channels() -> None:
    for name, info in MODELS.items():
        if info.scales_with_width:
            small = sum(p.numel() for p in make(name, (3, 32, 32), width=0.5).parameters())
            big = sum(p.numel() for p in make(name, (3, 32, 32), width=2.0).parameters())
            assert small < big, name
    with pytest.raises(ValueError, match="width"):
        make("classic", (1, 28, 28), width=0)


def test_registry_entries_describe_themselves() -> None:
    for name, info in MODELS.items():
        assert info.name == name and info.title and len(info.description) > 40
    assert "softmax" in MODELS.get("classic").description
    with pytest.raises(KeyError, match="choose one of"):
        make("nope", (1, 28, 28))


def test_preprocess_single_value_broadcasts_and_bad_std_fails() -> None:
    model = build_model(ModelConfig(), Preprocess((3, 32, 32), (0.5,), (0.25,)), 3)
    assert model.norm.mean.shape == (1, 3, 1, 1)
    with pytest.raises(ValueError, match="std"):
        build_model(ModelConfig(), Preprocess((1, 28, 28), (0.5,), (0.0,)), 3)


# ---- custom networks: check_spec ---------------------------------------------------------------

SPECS = {
    "default": ModelSpec(),
    "strided-avg-gap": ModelSpec(
        blocks=(
            ConvBlock(
                8, kernel=5, stride=2, activation="gelu", pool="avg", pool_size=3, dropout=0.1
            ),
            ConvBlock(16, kernel=1, padding=0, batch_norm=False, activation="tanh", pool="none"),
            ConvBlock(12, kernel=3, padding=2, activation="silu", pool="max"),
        ),
        hidden=(32, 16),
        dropout=0.0,
        activation="elu",
        global_pool=True,
    ),
    "valid-convs": ModelSpec(
        blocks=(
            ConvBlock(4, kernel=3, padding=0, activation="leaky_relu"),
            ConvBlock(6, kernel=2, padding=0, activation="sigmoid"),
        ),
        hidden=(),
    ),
    "no-blocks": ModelSpec(blocks=(), hidden=(20,)),
}


def _layer_output_shapes(model: nn.Module, shape: tuple[int, int, int]) -> list[tuple[int, ...]]:
    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Linear)
    shapes: list[tuple[int, ...]] = []
    for module in model.modules():
        if isinstance(module, kinds):
            module.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
    with torch.no_grad():
        model.eval()(torch.rand(1, *shape))
    return shapes


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("spec_name", SPECS)
def test_check_spec_matches_a_real_forward(spec_name: str, shape: tuple[int, int, int]) -> None:
    spec = SPECS[spec_name]
    rows = check_spec(spec, shape, num_classes=NUM_CLASSES)
    model = make("custom", shape, spec=spec)
    assert [s for _, s in rows] == _layer_output_shapes(model, shape)
    assert rows[-1] == (f"output {NUM_CLASSES}", (NUM_CLASSES,))
    assert [s for _, s in check_spec(spec, shape)] == [s for _, s in rows[:-1]]


def test_custom_layers_follow_the_spec() -> None:
    model = make("custom", (3, 32, 32), spec=SPECS["strided-avg-gap"])
    block1, block2 = model.net.block1, model.net.block2
    assert [n for n, _ in block1.named_children()] == ["conv", "bn", "act", "pool", "drop"]
    assert (
        block1.conv.bias is None and block1.conv.padding == (2, 2) and block1.conv.stride == (2, 2)
    )
    assert isinstance(block1.act, nn.GELU) and isinstance(block1.pool, nn.AvgPool2d)
    assert [n for n, _ in block2.named_children()] == [
        "conv",
        "act",
    ] and block2.conv.bias is not None
    head = [type(m).__name__ for m in model.net.head]
    assert head == ["AdaptiveAvgPool2d", "Flatten", "Linear", "ELU", "Linear", "ELU", "Linear"]
    default = [type(m).__name__ for m in make("custom", (1, 28, 28)).net.head]
    assert default == ["Flatten", "Dropout", "Linear", "ReLU", "Linear"]


def _blocks(n: int, **changes: object) -> tuple[ConvBlock, ...]:
    """n default blocks whose last one gets `changes`."""
    blocks = [ConvBlock(16) for _ in range(n)]
    blocks[-1] = replace(blocks[-1], **changes)  # type: ignore[arg-type]
    return tuple(blocks)


INVALID = [
    # (spec, input shape, layer, start of the message, words the message must contain)
    (
        ModelSpec(blocks=_blocks(3, filters=64, stride=2)),
        (1, 8, 8),
        2,
        "block 3 (conv 64, 3x3, stride 2)",
        "the image is 1x1 here, too small for 2x2 max pooling",
    ),
    (
        ModelSpec(blocks=_blocks(2, kernel=7, padding=0)),
        (1, 8, 8),
        1,
        "block 2 (conv 16, 7x7)",
        "4x4",
    ),
    (
        ModelSpec(blocks=_blocks(1, pool="avg", pool_size=9)),
        (3, 8, 8),
        0,
        "block 1",
        "9x9 avg pooling",
    ),
    (ModelSpec(blocks=_blocks(2, filters=0)), (1, 28, 28), 1, "block 2", "filter"),
    (ModelSpec(blocks=_blocks(1, kernel=0)), (1, 28, 28), 0, "block 1", "kernel"),
    (ModelSpec(blocks=_blocks(2, stride=0)), (1, 28, 28), 1, "block 2", "stride"),
    (ModelSpec(blocks=_blocks(2, pool_size=0)), (1, 28, 28), 1, "block 2", "pooling size"),
    (ModelSpec(blocks=_blocks(3, padding=-2)), (1, 28, 28), 2, "block 3", "padding"),
    (ModelSpec(blocks=_blocks(1, dropout=1.0)), (1, 28, 28), 0, "block 1", "dropout"),
    (ModelSpec(blocks=_blocks(1, dropout=-0.1)), (1, 28, 28), 0, "block 1", "dropout"),
    (ModelSpec(blocks=_blocks(2, activation="swish")), (1, 28, 28), 1, "block 2", "'swish'"),
    (ModelSpec(blocks=_blocks(2, pool="median")), (1, 28, 28), 1, "block 2", "'median'"),
    (ModelSpec(dropout=1.0), (1, 28, 28), -1, "classifier", "dropout"),
    (ModelSpec(activation="nope"), (1, 28, 28), -1, "classifier", "'nope'"),
    (ModelSpec(hidden=(128, 0)), (1, 28, 28), -1, "classifier", "dense layer 2"),
    (ModelSpec(blocks=()), (3, 5000, 5000), -1, "classifier", "75,000,000 features"),
    (ModelSpec(blocks=(), hidden=(4096,)), (3, 128, 128), -1, "classifier", "parameters"),
    (
        ModelSpec(blocks=(ConvBlock(1024, kernel=15, pool="none"),) * 2, global_pool=True),
        (1, 8, 8),
        1,
        "block 2 (conv 1024, 15x15)",
        "parameters",
    ),
    # limits: a crafted spec is refused by arithmetic, before anything is built
    (ModelSpec(blocks=_blocks(2, filters=1025)), (1, 28, 28), 1, "block 2", "limit 1024"),
    (
        ModelSpec(blocks=(ConvBlock(4, pool="none"),) * 13),
        (1, 28, 28),
        12,
        "block 13",
        "13 conv blocks (limit 12)",
    ),
    (ModelSpec(hidden=(8,) * 9), (1, 28, 28), -1, "classifier", "9 dense layers (limit 8)"),
    (ModelSpec(hidden=(70_000,)), (1, 8, 8), -1, "classifier", "1 to 65,536"),
]


@pytest.mark.parametrize(("spec", "shape", "layer", "start", "words"), INVALID)
def test_check_spec_rejects_with_the_layer(
    spec: ModelSpec, shape: tuple[int, int, int], layer: int, start: str, words: str
) -> None:
    with pytest.raises(InvalidSpecError) as info:
        check_spec(spec, shape, num_classes=10)
    assert info.value.layer == layer
    assert str(info.value).startswith(start) and words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_hidden_reads_sizes_and_refuses_long_or_many() -> None:
    assert parse_hidden("128, 64") == (128, 64) and parse_hidden("32;16 8") == (32, 16, 8)
    assert parse_hidden(" ") == ()
    for text, words in [
        ("12x", "not a list of whole numbers"),
        ("1, " * 9, "9 dense layers is too many; use at most 8"),
        ("0", "1 to 65,536 units"),
        ("70000", "1 to 65,536 units"),
        ("1" * 300, f"300 characters long (limit {MAX_HIDDEN_TEXT})"),
    ]:
        with pytest.raises(ValueError, match=re.escape(words)):
            parse_hidden(text)


def test_a_huge_dense_layers_text_is_refused_fast() -> None:
    # the issue: a long value cost ~87 s of server CPU per edit; now it is refused by its length
    for text in ("1," * 50_000, "9" * 100_000):
        start = time.perf_counter()
        with pytest.raises(ValueError, match="characters long"):
            parse_hidden(text)
        assert time.perf_counter() - start < 0.05
    start = time.perf_counter()  # a spec built by other means: refused by arithmetic alone
    with pytest.raises(InvalidSpecError, match="dense layers"):
        check_spec(ModelSpec(hidden=(1,) * 50_000), (1, 28, 28), num_classes=10)
    assert time.perf_counter() - start < 0.05


def test_width_multiplier_is_limited() -> None:
    make("classic", (1, 28, 28), width=MAX_WIDTH)
    with pytest.raises(ValueError, match="at most 4"):
        make("classic", (1, 28, 28), width=MAX_WIDTH * 2)


def test_build_model_checks_the_spec_first() -> None:
    spec = ModelSpec(blocks=_blocks(4))  # 8 -> 4 -> 2 -> 1 -> pooling fails
    with pytest.raises(InvalidSpecError, match="block 4") as info:
        make("custom", (1, 8, 8), spec=spec)
    assert info.value.layer == 3


def test_custom_spec_dict_round_trip() -> None:
    spec = SPECS["strided-avg-gap"]
    data = json.loads(json.dumps(config.to_dict(spec)))
    assert config.model_spec_from_dict(data) == spec
    run = RunConfig(model=ModelConfig(name="custom", spec=spec, pretrained=False))
    again = config.run_config_from_dict(json.loads(json.dumps(config.to_dict(run))))
    assert again.model == run.model
    preprocess = Preprocess((3, 32, 32), (0.5,) * 3, (0.25,) * 3)
    a = build_model(run.model, preprocess, 5).eval()
    b = build_model(again.model, preprocess, 5).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


# ---- torchvision nets and cached ImageNet weights ----------------------------------------------

TORCHVISION = {
    "resnet18": (
        tvm.resnet18,
        tvm.ResNet18_Weights.IMAGENET1K_V1,
        "conv1.weight",
        "layer3.1.conv2.weight",
        "fc.weight",
    ),
    "mobilenet-v3-small": (
        tvm.mobilenet_v3_small,
        tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
        "features.0.0.weight",
        "features.5.block.2.fc1.weight",
        "classifier.3.weight",
    ),
}


@pytest.mark.parametrize("name", TORCHVISION)
def test_imagenet_weights_absent_offline_is_an_error(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.error import URLError

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    path = hub_checkpoint(TORCHVISION[name][1])
    with pytest.raises(ImageNetUnavailable) as caught:
        load_imagenet(make(name, (3, 32, 32)).net, name)
    text = str(caught.value)  # the file expected and the folder to put it in, as for datasets
    assert f"Expected the file {path.name} in the torch cache folder {path.parent}" in text
    assert "Is this machine offline?" in text and TORCHVISION[name][1].url in text
    assert not path.exists()  # no partial file left behind
    model = make(name, (3, 32, 32), pretrained=True)  # building never downloads
    assert model.pretrained_note == "starts from ImageNet weights"  # when a run prepares it


def _fake_imagenet_file(name: str) -> dict[str, torch.Tensor]:
    factory, weights, *_ = TORCHVISION[name]
    torch.manual_seed(123)
    state = factory(weights=None).state_dict()
    path = hub_checkpoint(weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 96, 96)], ids=str)
@pytest.mark.parametrize("name", TORCHVISION)
def test_imagenet_weights_from_the_cache(name: str, shape: tuple[int, int, int]) -> None:
    _, weights, conv_key, inner_key, head_key = TORCHVISION[name]
    state = _fake_imagenet_file(name)
    assert hub_checkpoint(weights).name == Path(weights.url).name
    model = make(name, shape)
    prepare(model, ModelConfig(name=name, pretrained=True), class_names=list("abcdefg"))
    assert model.pretrained_note.startswith("started from ImageNet weights")
    own = model.net.state_dict()
    torch.testing.assert_close(own[inner_key], state[inner_key])
    assert own[head_key].shape[0] == NUM_CLASSES
    conv, imagenet_conv = own[conv_key], state[conv_key]
    assert conv.shape[1] == shape[0]
    if conv.shape[-1] == imagenet_conv.shape[-1]:  # same kernel: RGB kept, or summed for grey input
        rgb_sum = imagenet_conv.sum(1, keepdim=True)
        torch.testing.assert_close(conv, imagenet_conv if shape[0] == 3 else rgb_sum)
    else:  # resnet18's small stem: 7x7 filters resampled to 3x3
        expected = _adapt_conv_weight(imagenet_conv, shape[0], 3)
        torch.testing.assert_close(conv, expected)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, *shape)).shape == (2, NUM_CLASSES)


def test_imagenet_weights_unusable_file_is_named() -> None:
    path = hub_checkpoint(tvm.ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save({"fc.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="do not fit: conv1.weight is missing"):
        load_imagenet(make("resnet18", (3, 32, 32)).net, "resnet18")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="(?s)cannot be read.*delete the file"):
        load_imagenet(make("resnet18", (3, 32, 32)).net, "resnet18")


def test_torchvision_stems_adapt_to_small_images() -> None:
    small, large = make("resnet18", (3, 32, 32)).net, make("resnet18", (1, 96, 96)).net
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.in_channels == 1
    assert isinstance(large.maxpool, nn.MaxPool2d)
    first = make("mobilenet-v3-small", (1, 28, 28)).net.features[0][0]
    assert first.stride == (1, 1) and first.in_channels == 1


def test_adapt_conv_weight_keeps_flat_and_grey_responses() -> None:
    w = torch.randn(4, 3, 7, 7)
    grey = _adapt_conv_weight(w, 1, 7)  # a grey image (R = G = B) gives the same response
    torch.testing.assert_close(grey, w.sum(1, keepdim=True))
    flat = _adapt_conv_weight(torch.ones(2, 3, 7, 7), 3, 3)  # response to a flat image is kept
    torch.testing.assert_close(flat.sum((1, 2, 3)), torch.full((2,), 147.0))
