"""plots.py (and curves.py, re-exported by it): each builder returns a figure with the expected traces and data for simple inputs."""

from __future__ import annotations

import base64
import dataclasses
import io

import numpy as np
import PIL.Image
import plotly.graph_objects as go
import pytest
import torch

from cnnlab import plots
from cnnlab.events import BatchEvent, EpochEvent


def decode(source: str) -> np.ndarray:
    """The pixels of a go.Image data URI."""
    header, data = source.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(data))))


def has_message(fig: go.Figure, words: str) -> bool:
    return not fig.data and any(words in a.text for a in fig.layout.annotations)


def test_image_grid_empty():
    fig = plots.image_grid(torch.zeros((0, 1, 8, 8), dtype=torch.uint8), titles=None, cols=4)
    assert has_message(fig, "no images")


def test_class_counts_bar_one_trace_per_split():
    fig = plots.class_counts_bar(["a", "b", "c"], {"train": [5, 6, 7], "test": [1, 2, 3]})
    assert [t.name for t in fig.data] == ["train", "test"]
    assert list(fig.data[1].y) == [1, 2, 3] and list(fig.data[0].x) == ["a", "b", "c"]
    assert fig.layout.barmode == "group"


EPOCHS = [
    EpochEvent(epoch=1, train_loss=1.0, val_loss=0.9, train_acc=0.5, val_acc=0.6),
    EpochEvent(epoch=2, train_loss=0.7, val_loss=0.8, train_acc=0.7, val_acc=0.65),
]


def test_training_curves_four_lines():
    fig = plots.training_curves(EPOCHS)
    assert len(fig.data) == 4
    by_axis = {(t.name, t.xaxis): list(t.y) for t in fig.data}
    assert by_axis[("train", "x")] == [1.0, 0.7] and by_axis[("val", "x")] == [0.9, 0.8]
    assert by_axis[("train", "x2")] == [0.5, 0.7] and by_axis[("val", "x2")] == [0.6, 0.65]
    assert has_message(plots.training_curves([]), "waiting")


def test_training_curves_keep_the_latest_pass_after_a_resume():
    redone = dataclasses.replace(EPOCHS[1], val_loss=0.5)
    fig = plots.training_curves([*EPOCHS, redone])
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[1].y) == [0.9, 0.5]


def test_batch_loss_curve_raw_and_smoothed():
    batches = [BatchEvent(step=s, loss=2.0 / s) for s in (1, 3, 7, 12)]
    fig = plots.batch_loss_curve(batches)
    assert len(fig.data) == 2
    assert list(fig.data[0].x) == [1, 3, 7, 12] and list(fig.data[0].y) == [
        2.0 / s for s in (1, 3, 7, 12)
    ]
    smoothed = np.array(fig.data[1].y)
    assert smoothed[0] == pytest.approx(2.0)  # bias-corrected: starts at the first value
    assert (np.diff(smoothed) < 0).all() and (smoothed[1:] > np.array(fig.data[0].y)[1:]).all()
    assert has_message(plots.batch_loss_curve([]), "waiting for the first batch")


def test_smooth_constant_series_stays_constant():
    np.testing.assert_allclose(plots.smooth([3.0] * 5, 0.9), 3.0)


def test_compare_curves_one_line_per_run():
    fig = plots.compare_curves({"run-a": EPOCHS, "run-b": EPOCHS[:1], "empty": []}, "val_acc")
    assert [t.name for t in fig.data] == ["run-a", "run-b"]
    assert list(fig.data[0].y) == [0.6, 0.65]
    assert has_message(plots.compare_curves({}, "val_loss"), "val loss")


def test_confusion_heatmap_counts_and_shares():
    cm = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    fig = plots.confusion_heatmap(cm, ["a", "b", "c"], normalized=False)
    (heat,) = fig.data
    np.testing.assert_array_equal(np.array(heat.z), cm)
    assert list(heat.x) == ["a", "b", "c"] and list(heat.y) == ["a", "b", "c"]
    assert fig.layout.yaxis.autorange == "reversed"
    custom = np.array(heat.customdata)  # (K, K, 2): count, row percentage
    np.testing.assert_array_equal(custom[..., 0], cm)
    np.testing.assert_allclose(custom[0, :, 1], [500 / 6, 100 / 6, 0])
    assert not np.isnan(custom).any()

    fig = plots.confusion_heatmap(cm, ["a", "b", "c"], normalized=True)
    np.testing.assert_allclose(
        np.array(fig.data[0].z), [[5 / 6, 1 / 6, 0], [0.5, 0.5, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(np.array(fig.data[0].customdata)[..., 0], cm)


def test_probability_bars_first_on_top():
    fig = plots.probability_bars([("seven", 0.8), ("one", 0.15), ("two", 0.05)])
    (bars,) = fig.data
    assert bars.orientation == "h" and list(bars.y) == ["seven", "one", "two"]
    assert list(bars.x) == [0.8, 0.15, 0.05] and fig.layout.yaxis.autorange == "reversed"


def test_layer_stack_figure_boxes_and_arrows():
    rows = [
        ("input", "1x28x28"),
        ("conv 3x3, 32", "32x28x28"),
        ("max pool", "32x14x14"),
        ("linear", "10"),
    ]
    fig = plots.layer_stack_figure(rows)
    assert len(fig.layout.shapes) == 4
    labels = [a.text for a in fig.layout.annotations if not a.showarrow]
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(labels) == 4 and len(arrows) == 3
    assert "conv 3x3, 32" in labels[1] and "32x28x28" in labels[1]
    assert has_message(plots.layer_stack_figure([]), "no layers")


def test_accuracy_axes_end_at_100_percent():
    # Issue 20 item 6: the compare chart's accuracy axis ran to 150%.
    compare = plots.compare_curves({"a": EPOCHS}, "val_acc")
    assert tuple(compare.layout.yaxis.range) == (0, 1) and compare.layout.yaxis.tickformat == ".0%"
    assert plots.compare_curves({"a": EPOCHS}, "val_loss").layout.yaxis.range is None  # loss: auto
    curves = plots.training_curves(EPOCHS)
    assert tuple(curves.layout.yaxis2.range) == (0, 1)  # the accuracy subplot
    assert curves.layout.yaxis.range is None  # the loss subplot


def test_viridis_endpoints():
    np.testing.assert_array_equal(
        plots.viridis(np.array([0.0, 1.0])), [[68, 1, 84], [253, 231, 37]]
    )


def test_figures_serialise():
    for fig in [
        plots.image_grid(torch.zeros((2, 1, 4, 4), dtype=torch.uint8), None, 2),
        plots.confusion_heatmap(np.eye(3, dtype=int), ["0", "1", "2"], normalized=True),
        plots.layer_stack_figure([("a", "1")]),
        plots.training_curves([]),
    ]:
        assert fig.to_json()


def test_smooth_equals_a_hand_written_debiased_average():
    values = [4.0, 1.0, 3.0, 0.5, 2.0]
    weight, average = 0.8, 0.0
    expected = []
    for i, value in enumerate(values):  # TensorBoard's bias-corrected exponential average
        average = weight * average + (1 - weight) * value
        expected.append(average / (1 - weight ** (i + 1)))
    np.testing.assert_allclose(plots.smooth(values, weight), expected, rtol=1e-12)
    np.testing.assert_allclose(plots.smooth(values, 0.0), values)  # no smoothing
    assert plots.smooth([], 0.9).shape == (0,)
