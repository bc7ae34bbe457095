"""designer.editor_start: a preset that is a plain conv-block stack becomes a ModelSpec with the
same layers (kinds, output shapes, parameters: checked against the preset itself, built here);
any other network gets a reason, and every registered model has one or the other."""

from __future__ import annotations

import pytest
import torch

from cnnlab import designer
from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import MODELS, build_model
from cnnlab.summary import summarize


@pytest.fixture(autouse=True)
def _empty_hub(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no ImageNet weights


def layers(cfg: ModelConfig, shape: tuple[int, int, int]) -> list[tuple[str, tuple[int, ...], int]]:
    """(kind, output shape, parameters) of each conv, norm, pool and dense layer."""
    pre = Preprocess(input_shape=shape, mean=(0.5,) * shape[0], std=(0.25,) * shape[0])
    rows = summarize(build_model(cfg, pre, 10), shape).rows
    kept = ("Conv2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear")
    return [(r.kind, r.output_shape, r.params) for r in rows if r.kind in kept]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=str)
@pytest.mark.parametrize("width", [1.0, 0.5])
@pytest.mark.parametrize("name", sorted(designer.STACK_PRESETS))
def test_stack_presets_load_as_the_same_layers(name: str, width: float, shape) -> None:
    preset = ModelConfig(name=name, width=width, pretrained=False)
    start = designer.editor_start(preset)
    assert start.spec is not None and start.note
    assert layers(ModelConfig(name="custom", spec=start.spec), shape) == layers(preset, shape)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if n != "custom"])
def test_every_preset_loads_or_says_why_not(name: str) -> None:
    start = designer.editor_start(ModelConfig(name=name))
    assert (start.spec is None) == (name not in designer.STACK_PRESETS)
    if start.spec is None:
        assert name in designer.NOT_A_STACK and "plain stacks of conv blocks" in start.note


def test_a_custom_network_loads_as_it_is() -> None:
    spec = ModelSpec(blocks=(ConvBlock(8, kernel=5), ConvBlock(16, pool="avg")), hidden=(32,))
    start = designer.editor_start(ModelConfig(name="custom", spec=spec))
    assert start.spec == spec


@pytest.mark.parametrize(
    ("n", "text"),
    [(1_970_000, "2.0 M"), (236e6, "236 M"), (5.2e10, "52 G"), (1.42e9, "1.4 G"),
     (999_999, "1.0 M"), (9.96e6, "10 M"), (1234, "1.2 k"), (999, "999")],
)  # fmt: skip
def test_the_model_pages_metrics_fit_their_column(n: float, text: str) -> None:
    """The Model page shows three metrics side by side: a value over 5 characters is cut to
    '1.9…' in the browser (AirNet at width 4 has about 2 million parameters)."""
    assert designer.compact(n) == text and len(text) <= 5


def test_a_value_that_rounds_to_1000_of_a_unit_takes_the_next_unit() -> None:
    assert designer.human(999_999) == "1 M" and designer.human(1234) == "1.23 k"
    assert designer.compact(999_999) == "1.0 M"
