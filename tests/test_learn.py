"""cnnlab.learn against PyTorch: every lesson's numbers are what torch computes."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab import learn
from cnnlab.config import Preprocess


def image(h: int = 11, w: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w))  # (H, W) in [0, 1]


def torch_conv(x: np.ndarray, k: np.ndarray, stride: int, padding: int) -> np.ndarray:
    out = F.conv2d(
        torch.from_numpy(x)[None, None],
        torch.from_numpy(k)[None, None],
        stride=stride,
        padding=padding,
    )  # (1, 1, H', W')
    return out[0, 0].numpy()


# -- convolution -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", learn.KERNEL_NAMES)
@pytest.mark.parametrize("size", [3, 5])
@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 0), (2, 2), (3, 1)])
def test_conv2d_matches_torch(name: str, size: int, stride: int, padding: int) -> None:
    x, k = image(), learn.kernel(name, size)
    np.testing.assert_allclose(
        learn.conv2d(x, k, stride, padding),
        torch_conv(x, k, stride, padding),
        rtol=1e-12,
        atol=1e-12,
    )


def test_conv2d_random_rectangular_kernel_matches_torch() -> None:
    x, k = image(13, 7, seed=1), np.random.default_rng(2).normal(size=(2, 4))
    np.testing.assert_allclose(learn.conv2d(x, k, 2, 1), torch_conv(x, k, 2, 1), atol=1e-12)


@pytest.mark.parametrize("n", [5, 8, 28, 32])
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_output_size_formula_matches_actual_shapes(
    n: int, k: int, stride: int, padding: int
) -> None:
    expected = torch_conv(np.zeros((n, n)), np.zeros((k, k)), stride, padding).shape
    assert learn.output_size(n, k, stride, padding) == expected[0] == expected[1]
    assert learn.conv2d(np.zeros((n, n)), np.zeros((k, k)), stride, padding).shape == expected


@pytest.mark.parametrize(
    ("n", "k", "stride", "padding"), [(32, 3, 1, 0), (32, 5, 2, 1), (8, 3, 3, 2)]
)
def test_size_formula_fills_in_the_size_torch_gets(
    n: int, k: int, stride: int, padding: int
) -> None:
    out = torch_conv(np.zeros((n, n)), np.zeros((k, k)), stride, padding).shape[0]
    text = learn.size_formula((n, n), k, stride, padding)
    assert rf"\frac{{{n} + 2 \cdot {padding} - {k}}}{{{stride}}}" in text
    assert text.endswith(rf"\mathbf{{{out}}}")


def test_size_formula_per_side_and_for_pooling() -> None:
    text = learn.size_formula((32, 64), 3, 1, 0)  # not square: one formula per side
    assert r"\text{height: }" in text and r"\mathbf{30}" in text and r"\mathbf{62}" in text
    pooled = learn.size_formula((30, 30), 3, 3, None)  # pooling: no padding term
    assert r"\frac{30 - 3}{3}" in pooled and r"\mathbf{10}" in pooled and "2p" not in pooled
    assert learn.dims(np.zeros((32, 64))) == "32×64"


def test_kernel_that_does_not_fit_is_refused_with_a_reason() -> None:
    assert learn.output_size(3, 5, 1, 0) < 1
    with pytest.raises(ValueError, match="does not fit"):
        learn.conv2d(np.zeros((3, 3)), np.zeros((5, 5)))


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 2)])
def test_step_through_products_sum_to_the_conv_output(stride: int, padding: int) -> None:
    x, k = image(8, 8), learn.kernel("sobel x")
    out = learn.conv2d(x, k, stride, padding)
    reference = torch_conv(x, k, stride, padding)
    for row in range(out.shape[0]):
        for col in range(out.shape[1]):
            step = learn.conv_step(x, k, row, col, stride, padding)
            np.testing.assert_allclose(step.products, step.window * k)
            assert step.products.sum() == pytest.approx(step.value)
            assert step.value == pytest.approx(reference[row, col], abs=1e-12)
    with pytest.raises(ValueError, match="outside"):
        learn.conv_step(x, k, out.shape[0], 0, stride, padding)


def test_step_window_is_the_padded_input_under_the_kernel() -> None:
    x = image(8, 8)
    step = learn.conv_step(x, learn.kernel("identity"), 0, 0, stride=1, padding=1)
    assert (step.top, step.left) == (0, 0)
    np.testing.assert_array_equal(step.window[0], 0.0)  # the zero padding row
    np.testing.assert_array_equal(step.window[1:, 1:], x[:2, :2])


def test_kernels_do_what_their_notes_say() -> None:
    x = image(10, 10)
    np.testing.assert_allclose(learn.conv2d(x, learn.kernel("identity", 5), padding=2), x)
    for size in (3, 5):
        assert learn.kernel("blur", size).sum() == pytest.approx(1.0)
        assert learn.kernel("laplacian", size).sum() == pytest.approx(0.0)
        assert learn.kernel("sharpen", size).sum() == pytest.approx(1.0)
    ramp = np.tile(np.arange(6.0), (6, 1))  # brighter to the right: a vertical-edge pattern
    assert (learn.conv2d(ramp, learn.kernel("sobel x")) > 0).all()
    np.testing.assert_allclose(learn.conv2d(ramp, learn.kernel("sobel y")), 0.0)


def test_busiest_patch_finds_the_edge() -> None:
    x = np.zeros((32, 32))
    x[20:, 24:] = 1.0  # a bright corner at the bottom right
    top, left = learn.busiest_patch(x, 8)
    patch = x[top : top + 8, left : left + 8]
    assert 0 < patch.mean() < 1
    assert learn.busiest_patch(np.zeros((8, 8)), 8) == (0, 0)


def test_images_become_gray_in_unit_range() -> None:
    x = torch.tensor([[[0, 255]], [[255, 255]], [[0, 255]]], dtype=torch.uint8)  # (3, 1, 2)
    np.testing.assert_allclose(learn.to_gray(x), [[1 / 3, 1.0]])
    big = PIL.Image.new("RGB", (400, 200), (255, 255, 255))
    small = learn.lesson_image(big, max_side=64)
    assert small.shape == (32, 64) and small.max() == pytest.approx(1.0)


# -- activations and pooling --------------------------------------------------------------------

TORCH_ACTIVATIONS = {
    "ReLU": F.relu,
    "leaky ReLU": lambda t: F.leaky_relu(t, learn.LEAKY_SLOPE),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "GELU": F.gelu,
}


@pytest.mark.parametrize("name", list(learn.ACTIVATIONS))
def test_activations_match_torch(name: str) -> None:
    x = np.concatenate([np.linspace(-40, 40, 801), np.random.default_rng(0).normal(size=100)])
    expected = TORCH_ACTIVATIONS[name](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(learn.ACTIVATIONS[name](x), expected, rtol=1e-10, atol=1e-12)
    assert set(learn.ACTIVATION_FORMULAS) == set(learn.ACTIVATIONS)


def test_zero_share_after_relu() -> None:
    x = np.array([[-1.0, 2.0], [0.5, -3.0]])
    assert learn.zero_share(learn.relu(x)) == 0.5
    assert learn.zero_share(np.array([])) == 0.0


@pytest.mark.parametrize(("size", "stride"), [(2, None), (2, 1), (3, 2), (3, 3), (4, 2)])
def test_pooling_matches_torch(size: int, stride: int | None) -> None:
    x = image(13, 10)
    t = torch.from_numpy(x)[None, None]
    s = size if stride is None else stride
    np.testing.assert_allclose(
        learn.pool2d(x, "max", size, stride), F.max_pool2d(t, size, s)[0, 0].numpy()
    )
    np.testing.assert_allclose(
        learn.pool2d(x, "avg", size, stride), F.avg_pool2d(t, size, s)[0, 0].numpy(), atol=1e-12
    )
    assert learn.pool2d(x, "max", size, stride).shape == (
        learn.output_size(13, size, s),
        learn.output_size(10, size, s),
    )


def test_pooling_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        learn.pool2d(np.zeros((2, 2)), "max", 3)
    with pytest.raises(ValueError, match="kind"):
        learn.pool2d(np.zeros((4, 4)), "median", 2)


# -- softmax, cross-entropy, dense ---------------------------------------------------------------

LOGITS = np.array([2.0, 1.0, 0.1, -1.5])


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 2.0, 5.0])
def test_softmax_with_temperature_matches_torch(temperature: float) -> None:
    expected = torch.softmax(torch.from_numpy(LOGITS) / temperature, dim=0).numpy()
    probs = learn.softmax(LOGITS, temperature)
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    assert probs.sum() == pytest.approx(1.0)


def test_softmax_is_stable_for_huge_logits_and_checks_temperature() -> None:
    np.testing.assert_allclose(learn.softmax(np.array([1000.0, 0.0])), [1.0, 0.0])
    with pytest.raises(ValueError, match="positive"):
        learn.softmax(LOGITS, 0.0)


@pytest.mark.parametrize("target", range(4))
@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_cross_entropy_matches_torch_and_is_minus_log_p_true(
    target: int, temperature: float
) -> None:
    expected = F.cross_entropy(
        torch.from_numpy(LOGITS)[None] / temperature, torch.tensor([target])
    ).item()
    loss = learn.cross_entropy(LOGITS, target, temperature)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert loss == pytest.approx(-np.log(learn.softmax(LOGITS, temperature)[target]))


def test_cross_entropy_formula_shows_p_true_and_the_loss() -> None:
    p = learn.softmax(LOGITS)[1]
    text = learn.cross_entropy_formula("square", p, learn.cross_entropy(LOGITS, 1))
    assert text == rf"L = -\log p_{{\text{{square}}}} = -\log {p:.3f} = \mathbf{{{-np.log(p):.3f}}}"


def test_dense_layer_matches_torch_linear() -> None:
    x = image(6, 6)
    w, b = learn.dense_weights(36, 4, seed=3)
    linear = nn.Linear(36, 4).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(w))
        linear.bias.copy_(torch.from_numpy(b))
    expected = linear(torch.flatten(torch.from_numpy(x))).detach().numpy()
    np.testing.assert_allclose(learn.dense(x, w, b), expected, rtol=1e-12)
    np.testing.assert_array_equal(learn.dense_weights(36, 4, seed=3)[0], w)  # seeded


# -- gradient descent ----------------------------------------------------------------------------

SURFACE_NAMES = learn.SURFACES.names()


def torch_sgd_path(surface: learn.Surface, lr: float, steps: int, momentum: float) -> np.ndarray:
    w = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    h = torch.from_numpy(surface.hessian)
    optimizer = torch.optim.SGD([w], lr=lr, momentum=momentum)
    path = [w.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        (0.5 * w @ h @ w).backward()
        optimizer.step()
        path.append(w.detach().clone())
    return torch.stack(path).numpy()


@pytest.mark.parametrize("name", SURFACE_NAMES)
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_gradient_descent_path_matches_torch_sgd(name: str, momentum: float) -> None:
    surface = learn.SURFACES.get(name)
    lr = learn.lr_presets(surface)["about right"]
    descent = learn.gradient_descent(surface, lr, 25, momentum)
    np.testing.assert_allclose(descent.path, torch_sgd_path(surface, lr, 25, momentum), atol=1e-10)
    np.testing.assert_allclose(descent.losses, surface.loss(descent.path))


def test_surface_gradient_matches_autograd() -> None:
    surface = learn.SURFACES.get("valley")
    w = torch.tensor([1.5, -0.7], dtype=torch.float64, requires_grad=True)
    (0.5 * w @ torch.from_numpy(surface.hessian) @ w).backward()
    np.testing.assert_allclose(surface.grad(w.detach().numpy()), w.grad.numpy())
    assert surface.loss(np.zeros(2)) == 0.0


def test_small_lr_converges_on_a_convex_bowl() -> None:
    bowl = learn.SURFACES.get("bowl")
    descent = learn.gradient_descent(bowl, lr=0.3, steps=100)
    assert not descent.diverged
    assert descent.final_loss < 1e-6 * descent.losses[0]
    assert np.all(np.diff(descent.losses) <= 0)  # every step goes downhill


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_presets_show_their_three_behaviours(name: str) -> None:
    surface = learn.SURFACES.get(name)
    presets = learn.lr_presets(surface)
    assert (
        presets["too large"] > surface.max_stable_lr > presets["about right"] > presets["too small"]
    )
    large = learn.gradient_descent(surface, presets["too large"], 50)
    assert large.diverged and large.steps < 50  # flagged, and stopped where it blew up
    assert np.isfinite(large.path).all() and np.isfinite(large.losses).all()
    right = learn.gradient_descent(surface, presets["about right"], 50)
    small = learn.gradient_descent(surface, presets["too small"], 50)
    assert not right.diverged and not small.diverged
    assert right.final_loss < small.final_loss < small.losses[0]
    assert (large.outcome, right.outcome, small.outcome) == ("diverged", "converged", "descending")
    assert learn.outcome_message(surface, large).startswith("**Diverged**")
    assert f"η = {surface.max_stable_lr:.3g}" in learn.outcome_message(surface, large)
    assert learn.outcome_message(surface, right).startswith("**Converged**")
    assert learn.outcome_message(surface, small).startswith("**Still on the way**")
    start = learn.loss_text(small.losses[0])
    assert f"loss {start} → {learn.loss_text(small.final_loss)}" in learn.outcome_message(
        surface, small
    )


def test_loss_text_rounds_for_a_sentence() -> None:
    assert learn.loss_text(17.0) == "17" and learn.loss_text(0.012345) == "0.0123"
    assert learn.loss_text(1234567.8) == "1,234,568"


def test_momentum_reaches_lower_loss_on_an_ill_conditioned_bowl() -> None:
    valley = learn.SURFACES.get("valley")
    assert max(valley.curvatures) / min(valley.curvatures) >= 10  # ill-conditioned
    lr = learn.lr_presets(valley)["about right"]
    plain = learn.gradient_descent(valley, lr, 40, momentum=0.0)
    heavy = learn.gradient_descent(valley, lr, 40, momentum=0.8)
    assert not heavy.diverged
    assert heavy.final_loss < 0.1 * plain.final_loss


# -- the user's model ----------------------------------------------------------------------------


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(6, 2, 1),
            nn.Flatten(),
            nn.LazyLinear(3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_first_feature_maps_use_the_model_input_shape() -> None:
    torch.manual_seed(0)
    model = TinyNet()
    model(torch.zeros(1, 1, 16, 16))  # materialise the lazy layer
    preprocess = Preprocess(input_shape=(1, 16, 16), mean=(0.5,), std=(0.25,))
    photo = PIL.Image.new("RGB", (50, 30), (200, 30, 30))
    view = learn.first_feature_maps(model, preprocess, photo, layers=2)
    assert view.input.shape == (1, 16, 16) and view.input.dtype == torch.uint8
    assert [name for name, _ in view.maps] == ["net.0", "net.3"]
    first = F.relu(model.net[0](view.input[None].float() / 255))[0]
    torch.testing.assert_close(view.maps[0][1], first)
    assert view.maps[1][1].shape == (6, 8, 8)
