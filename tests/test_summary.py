"""Layer tables: totals against the model's own parameters, multiply-adds against torch's counter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import MODELS, Classifier, build_model
from cnnlab.summary import ModelSummary, summarize, training_flops

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # Single images: thread start-up costs more than it saves and is erratic on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _empty_hub(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def make(name: str, shape: tuple[int, int, int], **kw: object) -> Classifier:
    preprocess = Preprocess(input_shape=shape, mean=(0.5,) * shape[0], std=(0.25,) * shape[0])
    return build_model(ModelConfig(name=name, **kw), preprocess, 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", MODELS.names())
def test_totals_match_the_model(name: str, shape: tuple[int, int, int]) -> None:
    model = make(name, shape)
    summary = summarize(model, shape)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # airnet fixes some
    assert summary.total_params == total and summary.trainable_params == trainable
    assert sum(row.params for row in summary.rows) == total  # leaf rows are the whole stack
    assert summary.total_mult_adds == sum(row.mult_adds for row in summary.rows) > 0
    names = dict(model.named_modules())
    assert all(row.name in names for row in summary.rows)
    assert summary.rows[0].name == "norm" and summary.rows[0].output_shape == shape
    assert summary.rows[-1].output_shape == (10,)


def test_frame_and_frozen_parameters() -> None:
    model = make("classic", (1, 28, 28))
    for p in model.net.block1.parameters():
        p.requires_grad_(False)
    summary = summarize(model, (1, 28, 28))
    assert isinstance(summary, ModelSummary)
    assert summary.trainable_params == summary.total_params - (32 * 9 + 32)
    frame = summary.to_frame()
    assert list(frame.columns) == ["layer", "type", "output shape", "parameters", "multiply-adds"]
    conv = frame.set_index("layer").loc["net.block1.conv"]
    assert conv["type"] == "Conv2d" and conv["output shape"] == "32×26×26"
    assert conv["parameters"] == 320 and conv["multiply-adds"] == 26 * 26 * (32 * 9 + 32)
    assert frame["output shape"].iloc[-1] == "10"


def test_mode_device_and_batch_norm_statistics_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    model = make("vgg-small", (3, 32, 32)).train()
    model.net.stage2.eval()  # a mixed-mode model stays mixed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # torchinfo would move the model to CUDA when it sees one unless told the model's device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    summarize(model, (3, 32, 32))
    assert model.training and model.net.stage1.training and not model.net.stage2.training
    assert all(not m.training for m in model.net.stage2.modules())
    for key, value in model.state_dict().items():
        assert value.device.type == "cpu"
        torch.testing.assert_close(value, before[key])


def _counted_mult_adds(model: nn.Module, shape: tuple[int, ...]) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.rand(1, *shape))
    return counter.get_total_flops() / 2


CONV_LINEAR = [
    ("classic", {}),
    ("lenet5", {}),
    (
        "custom",
        {
            "spec": ModelSpec(
                blocks=(
                    ConvBlock(16, batch_norm=False),
                    ConvBlock(24, 5, stride=2, batch_norm=False),
                ),
                hidden=(64, 32),
            )
        },
    ),
    ("fastnet", {}),  # batch-norm adds a few multiply-adds torch does not count
    ("airnet", {}),
    ("resnet-small", {}),
]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=str)
@pytest.mark.parametrize(("name", "kw"), CONV_LINEAR, ids=[n for n, _ in CONV_LINEAR])
def test_mult_adds_agree_with_torch_flop_counter(
    name: str, kw: dict, shape: tuple[int, int, int]
) -> None:
    model = make(name, shape, **kw)
    counted = _counted_mult_adds(model, shape)
    assert summarize(model, shape).total_mult_adds == pytest.approx(counted, rel=0.03)


def test_training_flops_count_forward_and_the_backward_training_needs() -> None:
    # (1, 1, 5, 5) -> conv 3x3, 2 filters -> (2, 3, 3) = 18 values x 9 = 162 multiply-adds
    # -> flatten -> dense 18 -> 3: 54 multiply-adds. 2 FLOP per multiply-add.
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 3)).train()
    forward = 2 * (162 + 54)
    backward = 2 * 54 + 2 * 54 + 2 * 162  # dense: weights and its input; conv: weights only
    assert training_flops(net, (1, 5, 5), batch_size=4) == forward + backward
    assert net.training and all(p.grad is None for p in net.parameters())
    for p in net.parameters():
        p.requires_grad_(False)
    assert training_flops(net, (1, 5, 5)) == forward  # frozen: nothing to learn, no backward


def test_training_flops_of_a_preset_lie_between_forward_and_three_forwards() -> None:
    model = make("classic", (1, 28, 28))
    mult_adds = summarize(model, (1, 28, 28)).total_mult_adds
    flops = training_flops(model, (1, 28, 28))
    assert 4 * mult_adds < flops <= 6 * mult_adds  # backward: 1-2 times the forward's 2 per MAC
