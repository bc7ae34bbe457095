"""AirNet's parts (issue 18 item 4): the patch-whitening stem, identity-started convs, batch-norm
with a fixed scale, and the lookahead averaging of the weights, on small in-memory data."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import torch

from cnnlab.config import ModelConfig, Preprocess, RunConfig, TrainConfig
from cnnlab.lookahead import EVERY, START_EPOCH, Lookahead
from cnnlab.models import PatchWhitening, build_model, fit_whitening, one_view
from cnnlab.models.airnet import FrozenScaleNorm
from cnnlab.training import train


def _images(n: int, seed: int = 0) -> torch.Tensor:
    """uint8 (n, 3, 12, 12) with strongly correlated neighbouring pixels and channels (like photos)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 6, 6, generator=g)
    smooth = torch.nn.functional.interpolate(base, size=12, mode="bilinear")
    tint = torch.rand(n, 3, 1, 1, generator=g) * 0.3
    noise = torch.rand(n, 3, 12, 12, generator=g) * 0.05
    return ((smooth * 0.7 + tint + noise).clamp(0, 1) * 255).to(torch.uint8)


def _airnet(classes: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    pre = Preprocess(input_shape=(3, 12, 12), mean=(0.5,) * 3, std=(0.25,) * 3)
    return build_model(ModelConfig(name="airnet", width=0.5), pre, classes)


def test_the_whitening_stem_decorrelates_the_patches_it_was_fitted_on() -> None:
    model = _airnet()
    stem = model.net.stem.conv
    assert isinstance(stem, PatchWhitening) and not stem.weight.requires_grad
    x = _images(400)
    assert fit_whitening(model, x) == 1
    with torch.no_grad():
        out = stem(model.norm(x.float() / 255))  # (N, 24, 11, 11)
    half = out[:, : out.shape[1] // 2].permute(0, 2, 3, 1).reshape(-1, out.shape[1] // 2)
    cov = half.T @ half / len(half)  # the stem's bias is 0 at the start
    strong = torch.diagonal(cov)[:6]  # the directions with most variance: whitened to ~1
    assert torch.allclose(strong, torch.ones(6), atol=0.05), strong
    off = cov - torch.diag(torch.diagonal(cov))
    assert off.abs().max() < 0.05  # decorrelated
    assert torch.equal(out[:, 12:], -out[:, :12])  # each direction and its negative


def test_fitted_weights_are_kept_by_a_second_fit_and_by_loading() -> None:
    model = _airnet()
    fit_whitening(model, _images(200, seed=1))
    weights = model.net.stem.conv.weight.clone()
    assert fit_whitening(model, _images(200, seed=2)) == 0  # fitted: left alone
    other = _airnet()
    other.load_state_dict(model.state_dict())  # a saved run's weights (Classify, fine-tuning)
    assert fit_whitening(other, _images(200, seed=3)) == 0
    assert torch.equal(other.net.stem.conv.weight, weights)


def test_stages_start_as_identities_and_batch_norm_scales_stay_one() -> None:
    model = _airnet()
    conv2 = model.net.stage2.conv2  # (32, 32, 3, 3) at width 0.5
    assert torch.equal(conv2.weight[:, :, 1, 1], torch.eye(32))
    norms = [m for m in model.modules() if isinstance(m, FrozenScaleNorm)]
    assert len(norms) == 6 and all(not m.weight.requires_grad for m in norms)


def _split(n: int, seed: int) -> SimpleNamespace:
    x = _images(n, seed)
    y = (x[:, 0].float().mean((1, 2)) > x[:, 2].float().mean((1, 2))).long()  # redder than blue
    return SimpleNamespace(x=x, y=y)


def _data() -> SimpleNamespace:
    return SimpleNamespace(
        train=_split(256, 0), val=_split(64, 1), test=_split(64, 2), hflip_ok=True
    )


def _cfg(epochs: int, lookahead: bool = True) -> RunConfig:
    tc = TrainConfig(
        optimizer="sgd", lr=0.05, epochs=epochs, batch_size=16, threads=1, batch_events_per_s=0
    )
    return RunConfig(train=replace(tc, lookahead=lookahead))


def test_airnet_with_lookahead_learns_and_resumes_exactly() -> None:
    checkpoints: list[dict] = []
    full = train(_cfg(6), _data(), _airnet(), emit=lambda e: None, checkpoint=checkpoints.append)
    assert full.history[-1].val_acc >= 0.85
    resumed = train(_cfg(6), _data(), _airnet(), emit=lambda e: None, resume=checkpoints[3])
    assert [e.epoch for e in resumed.history] == list(range(1, 7))
    for k, v in full.best_state.items():  # epoch 4 is past START_EPOCH: the average restarts
        assert torch.allclose(v.float(), resumed.best_state[k].float(), atol=1e-6), k


def test_lookahead_averages_from_its_start_epoch_every_few_steps() -> None:
    model = torch.nn.Linear(2, 1, bias=False)
    ahead = Lookahead(steps_per_epoch=10, total_steps=100)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ahead.after_step(model, START_EPOCH * 10)  # not yet
    assert ahead.average is None
    ahead.after_step(model, START_EPOCH * 10 + EVERY)  # the first: the average starts here
    with torch.no_grad():
        model.weight.fill_(3.0)
    ahead.after_step(model, START_EPOCH * 10 + EVERY + 1)  # off the beat: nothing
    assert torch.all(model.weight == 3.0)
    step = START_EPOCH * 10 + 2 * EVERY
    ahead.after_step(model, step)
    rho = 0.95**EVERY * (step / 100) ** 3
    expected = 1.0 + (3.0 - 1.0) * (1 - rho)
    assert torch.allclose(model.weight, torch.full((1, 2), expected))
    assert torch.equal(ahead.average["weight"], model.weight)


def test_flip_tta_averages_the_mirror_in_eval_only_and_one_view_turns_it_off() -> None:
    torch.manual_seed(0)
    pre = Preprocess(input_shape=(3, 12, 12), mean=(0.5,) * 3, std=(0.25,) * 3)
    model = build_model(ModelConfig(name="airnet", width=0.5, flip_tta=True), pre, 3)
    fit_whitening(model, _images(64))
    x = _images(8, seed=4).float() / 255
    model.eval()
    with torch.no_grad():
        plain = model.net(model.norm(x))
        mirror = model.net(model.norm(x.flip(-1)))
        assert torch.allclose(model(x), (plain + mirror) / 2, atol=1e-6)
        with one_view(model):
            assert torch.allclose(model(x), plain, atol=1e-6)
        assert torch.allclose(model(x), (plain + mirror) / 2, atol=1e-6)  # back on after
        # a mirrored image gets the same prediction: the two views swap
        assert torch.allclose(model(x.flip(-1)), model(x), atol=1e-5)


def test_shift_tta_adds_the_image_moved_one_pixel_each_way_in_eval_only() -> None:
    torch.manual_seed(0)
    pre = Preprocess(input_shape=(3, 12, 12), mean=(0.5,) * 3, std=(0.25,) * 3)
    cfg = ModelConfig(name="airnet", width=0.5, flip_tta=True, shift_tta=True)
    model = build_model(cfg, pre, 3)
    fit_whitening(model, _images(64))
    x = _images(8, seed=4).float() / 255
    with torch.no_grad():
        model.train()
        assert torch.allclose(model(x), model.net(model.norm(x)), atol=1e-6)  # one pass
        model.eval()

        def mirrored(view: torch.Tensor) -> torch.Tensor:
            net = lambda v: model.net(model.norm(v))  # noqa: E731
            return (net(view) + net(view.flip(-1))) / 2

        padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")  # (8, 3, 14, 14)
        up_left, down_right = padded[..., :12, :12], padded[..., 2:, 2:]
        assert torch.equal(up_left[..., 1:, 1:], x[..., :11, :11])  # moved right and down
        expected = mirrored(x) / 2 + (mirrored(up_left) + mirrored(down_right)) / 4
        assert torch.allclose(model(x), expected, atol=1e-5)
        with one_view(model):
            assert torch.allclose(model(x), model.net(model.norm(x)), atol=1e-6)


def test_grad_cam_and_feature_maps_see_one_pass_of_a_flip_tta_model() -> None:
    from cnnlab.explain import feature_maps, grad_cam

    torch.manual_seed(0)
    pre = Preprocess(input_shape=(3, 12, 12), mean=(0.5,) * 3, std=(0.25,) * 3)
    model = build_model(ModelConfig(name="airnet", width=0.5, flip_tta=True), pre, 3)
    fit_whitening(model, _images(64))
    image = _images(1, seed=5)[0]
    heat = grad_cam(model, image, 1)
    with one_view(model):
        alone = grad_cam(model, image, 1)
    assert heat.shape == (12, 12) and np.allclose(heat, alone, atol=1e-5)
    maps = dict(feature_maps(model, image))
    with torch.no_grad(), one_view(model):
        model.eval()
        stem = model.net.stem(model.norm(image[None].float() / 255))[0]
    assert torch.allclose(maps["net.stem.conv"], stem, atol=1e-5)  # the image, not its mirror
