"""explain.py against hand-computed forwards of the same layers and a hand-written Grad-CAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.explain import (
    default_cam_layer,
    feature_maps,
    first_layer_filters,
    grad_cam,
    grad_cam_batch,
    jet,
    overlay,
)
from cnnlab.models import conv_layer_names


class Wrapped(nn.Module):
    """Like cnnlab's Classifier: `.norm` then `.net`, float [0, 1] in, logits out."""

    def __init__(self, net: nn.Module, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False).eval()  # identity stats: mean 0, var 1
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - 0.5) / 0.25)


def small_cnn(channels: int = 3, num_classes: int = 5) -> Wrapped:
    # (1, C, 16, 16) -> conv/bn/relu (1, 4, 16, 16) -> pool (1, 4, 8, 8)
    #   -> conv/relu (1, 6, 6, 6) -> pool (1, 6, 3, 3) -> (1, 54) -> (1, K)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, num_classes),
    )
    return Wrapped(net, channels)


def image(channels: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (channels, size, size), dtype=torch.uint8, generator=gen)


def no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_feature_maps_equal_forward_of_the_sequential_slices():
    model = small_cnn().train()
    x = image()
    maps = feature_maps(model, x)
    assert [name for name, _ in maps] == ["net.0", "net.4"] == conv_layer_names(model)
    assert model.training and no_hooks_left(model)
    model.eval()
    with torch.no_grad():
        inp = ((x.float() / 255 - 0.5) / 0.25)[None]  # (1, 3, 16, 16)
        after_relu0 = model.net[:3](inp)[0]  # (4, 16, 16)
        after_relu1 = model.net[:6](inp)[0]  # (6, 6, 6)
    assert maps[0][1].shape == (4, 16, 16) and maps[1][1].shape == (6, 6, 6)
    torch.testing.assert_close(maps[0][1], after_relu0)
    torch.testing.assert_close(maps[1][1], after_relu1)
    assert (maps[0][1] >= 0).all()


def test_feature_maps_fall_back_to_conv_output_outside_sequential_or_before_pool():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.conv(x))

    torch.manual_seed(0)
    # "0.conv": not in a Sequential; "1": followed by a pool before its activation
    model = nn.Sequential(Block(), nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2), nn.ReLU())
    x = image(channels=1, size=8)
    maps = dict(feature_maps(model, x))
    with torch.no_grad():
        inp = x.float()[None] / 255
        conv0 = model[0].conv(inp)[0]
        conv1 = model[1](model[0](inp))[0]
    torch.testing.assert_close(maps["0.conv"], conv0)
    torch.testing.assert_close(maps["1"], conv1)
    assert maps["1"].shape == (3, 8, 8)  # the conv output, not the activation after the pool


def test_hooks_removed_even_when_the_forward_fails():
    model = small_cnn()
    with pytest.raises(RuntimeError):
        feature_maps(model, image(channels=1))  # wrong channel count
    assert no_hooks_left(model)


def test_first_layer_filters_equal_the_conv_weight():
    model = small_cnn()
    filters = first_layer_filters(model)
    assert filters.shape == (4, 3, 3, 3) and not filters.requires_grad
    torch.testing.assert_close(filters, model.net[0].weight.detach())
    filters.zero_()
    assert model.net[0].weight.abs().sum() > 0  # a copy


def reference_grad_cam(model: nn.Module, x: torch.Tensor, target: int, conv: nn.Module):
    """Grad-CAM by hand: weights = spatial mean of d logit / d A, cam = relu(sum_c w_c A_c)."""
    saved = {}
    handle = conv.register_forward_hook(lambda m, i, o: saved.setdefault("a", o))
    model.eval()
    try:
        logits = model(x.float()[None] / 255)  # (1, K)
    finally:
        handle.remove()
    a = saved["a"]  # (1, C', h, w)
    (grad,) = torch.autograd.grad(logits[0, target], a)
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C', 1, 1)
    cam = (weights * a).sum(dim=1, keepdim=True)  # (1, 1, h, w)
    cam = F.interpolate(cam, x.shape[1:], mode="bilinear").clamp(min=0)[0, 0]
    return (cam / cam.max()).detach().numpy()


def test_grad_cam_matches_hand_computation_and_leaves_model_untouched():
    model = small_cnn().train()
    x = image()
    heat = grad_cam(model, x, target=2)  # default: last conv "net.4"
    assert heat.shape == (16, 16) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert model.training and no_hooks_left(model)
    assert all(p.grad is None for p in model.parameters())
    np.testing.assert_allclose(heat, grad_cam(model, x, target=2, layer="net.4"))
    np.testing.assert_allclose(heat, reference_grad_cam(model, x, 2, model.net[4]), atol=1e-5)
    first = grad_cam(model, x, target=2, layer="net.0")
    np.testing.assert_allclose(first, reference_grad_cam(model, x, 2, model.net[0]), atol=1e-5)


def test_grad_cam_works_under_no_grad_and_inference_mode():
    model, x = small_cnn(), image()
    expected = grad_cam(model, x, target=1)
    with torch.no_grad():
        np.testing.assert_allclose(grad_cam(model, x, target=1), expected)
    with torch.inference_mode():
        np.testing.assert_allclose(grad_cam(model, x, target=1), expected)


class LeftHalf(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x)
        mask[..., : x.shape[-1] // 2] = 1
        return x * mask


def test_grad_cam_heat_lies_where_the_target_logit_looks():
    # The logit only sees the left half of the image: (1, 1, 16, 16) -> mask -> conv -> relu
    #   -> global average (1, 4) -> linear (1, 2) with positive weights.
    conv = nn.Conv2d(1, 4, 3, padding=1)
    head = nn.Linear(4, 2)
    with torch.no_grad():
        conv.weight.uniform_(0.1, 1.0)
        conv.bias.zero_()
        head.weight.uniform_(0.1, 1.0)
    model = nn.Sequential(LeftHalf(), conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    heat = grad_cam(model, image(channels=1), target=0)
    left, right = heat[:, :8].sum(), heat[:, 8:].sum()
    assert left / (left + right) > 0.95
    assert heat[:, 10:].max() == 0  # beyond the conv's reach of the left half


def test_grad_cam_all_zero_map_stays_zero():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 2))
    with torch.no_grad():
        model[3].weight[1].zero_()  # logit 1 ignores every activation: all gradients are 0
    heat = grad_cam(model, image(channels=1, size=8), target=1)
    assert heat.shape == (8, 8) and not np.isnan(heat).any() and (heat == 0).all()


def test_jet_endpoints():
    np.testing.assert_array_equal(
        jet(np.array([0.0, 0.5, 1.0])), [[0, 0, 128], [128, 255, 128], [128, 0, 0]]
    )


def test_overlay_blends_image_and_heat_colours():
    gray = image(channels=1, size=8)
    heat = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    only_image = overlay(gray, heat, alpha=0.0)
    assert only_image.mode == "RGB" and only_image.size == (8, 8)
    np.testing.assert_array_equal(
        np.asarray(only_image), np.repeat(gray.numpy()[0, :, :, None], 3, 2)
    )
    np.testing.assert_array_equal(np.asarray(overlay(gray, heat, alpha=1.0)), jet(heat))
    rgb = image(channels=3, size=8)
    half = np.asarray(overlay(rgb, heat, alpha=0.5)).astype(int)
    expected = (rgb.numpy().transpose(1, 2, 0).astype(int) + jet(heat).astype(int)) / 2
    assert np.abs(half - expected).max() <= 1


def test_torchvision_resnet_all_convs_in_call_order():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3)
    x = image(size=32)
    maps = feature_maps(model, x)
    assert [name for name, _ in maps] == conv_layer_names(model) and len(maps) == 20
    assert maps[0][1].shape == (64, 16, 16) and maps[-1][1].shape == (512, 1, 1)
    heat = grad_cam(model, x, target=0, layer="layer3.1.conv2")
    assert heat.shape == (32, 32) and no_hooks_left(model)
    assert all(p.grad is None for p in model.parameters())


def test_grad_cam_batch_equals_one_image_at_a_time():
    model = small_cnn().train()
    x = torch.stack([image(seed=s) for s in range(5)])  # (5, 3, 16, 16)
    targets = [2, 0, 4, 2, 1]
    heats = grad_cam_batch(model, x, targets)
    assert heats.shape == (5, 16, 16) and heats.dtype == np.float32
    assert model.training and no_hooks_left(model)
    assert all(p.grad is None for p in model.parameters())
    for i, target in enumerate(targets):  # each map scaled by its own maximum
        np.testing.assert_allclose(heats[i], grad_cam(model, x[i], target), atol=1e-5)
        expected = reference_grad_cam(model, x[i], target, model.net[4])
        if np.isnan(expected).any():  # the hand version divides an all-zero map by 0
            assert (heats[i] == 0).all()
        else:
            np.testing.assert_allclose(heats[i], expected, atol=1e-5)
    assert grad_cam_batch(model, x[:0], []).shape == (0, 16, 16)
    with pytest.raises(ValueError, match="N targets"):
        grad_cam_batch(model, x, [1, 2])


def test_default_cam_layer_is_the_last_conv_larger_than_one_pixel():
    maps = [("a", torch.zeros(4, 6, 6)), ("b", torch.zeros(8, 3, 3)), ("c", torch.zeros(8, 1, 1))]
    assert default_cam_layer(maps) == "b"
    assert default_cam_layer(maps[:1]) == "a"
    assert default_cam_layer([("only", torch.zeros(2, 1, 1))]) == "only"
    with pytest.raises(ValueError):
        default_cam_layer([])
