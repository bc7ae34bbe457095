"""cnnlab.learn's second part against PyTorch: backpropagation by hand vs torch.autograd,
batch-norm and dropout vs torch.nn, the augmentation lesson vs torch/scikit-learn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.neighbors import NearestCentroid

from cnnlab import learn
from cnnlab.config import DataConfig
from cnnlab.data import load_dataset
from cnnlab.learn import augment_lesson, backprop, normalize, tiny_runs
from cnnlab.models import build_model
from cnnlab.training import train


def torch_step(x: np.ndarray, w: backprop.TinyWeights, target: int, lr: float) -> dict:
    """The same tiny CNN in torch: autograd's gradients and torch.optim.SGD's updated weights."""
    params = {
        "kernel": torch.tensor(w.kernel, requires_grad=True),
        "bias": torch.tensor([w.bias], dtype=torch.float64, requires_grad=True),
        "dense": torch.tensor(w.dense, requires_grad=True),
        "dense_bias": torch.tensor(w.dense_bias, requires_grad=True),
    }
    xt = torch.tensor(x, requires_grad=True)
    z = F.conv2d(xt[None, None], params["kernel"][None, None], params["bias"])  # (1, 1, 6, 6)
    z.retain_grad()
    a = F.relu(z)
    a.retain_grad()
    p = F.max_pool2d(a, 2)  # (1, 1, 3, 3)
    p.retain_grad()
    logits = p.reshape(1, -1) @ params["dense"].T + params["dense_bias"]  # (1, K)
    logits.retain_grad()
    loss = F.cross_entropy(logits, torch.tensor([target]))
    loss.backward()
    grads = {name: t.grad.clone() for name, t in params.items()}
    grads |= {"x": xt.grad, "z": z.grad[0, 0], "a": a.grad[0, 0], "p": p.grad[0, 0]}
    grads |= {"logits": logits.grad[0], "loss": loss.item()}
    torch.optim.SGD(params.values(), lr=lr).step()
    grads["after"] = {name: t.detach() for name, t in params.items()}
    return grads


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("target", [0, 3])
def test_backprop_matches_torch_autograd_and_sgd(seed: int, target: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((8, 8))
    w = backprop.start_weights(6, seed)
    w = backprop.TinyWeights(rng.normal(size=(3, 3)), 0.1, w.dense, rng.normal(size=6) * 0.1)
    step = backprop.training_step(x, w, target, lr=0.5)
    ref = torch_step(x, w, target, 0.5)
    g = step.grads
    assert step.before.loss == pytest.approx(ref["loss"], abs=1e-12)
    for name, mine in [
        ("logits", g.logits), ("dense", g.dense), ("dense_bias", g.dense_bias), ("p", g.p),
        ("a", g.a), ("z", g.z), ("kernel", g.kernel), ("x", g.x),
    ]:  # fmt: skip
        np.testing.assert_allclose(mine, ref[name].numpy(), atol=1e-12, err_msg=name)
    assert g.bias == pytest.approx(float(ref["bias"][0]), abs=1e-12)
    after = step.weights_after
    np.testing.assert_allclose(after.kernel, ref["after"]["kernel"].numpy(), atol=1e-12)
    np.testing.assert_allclose(after.dense, ref["after"]["dense"].numpy(), atol=1e-12)
    np.testing.assert_allclose(after.dense_bias, ref["after"]["dense_bias"].numpy(), atol=1e-12)
    assert after.bias == pytest.approx(float(ref["after"]["bias"][0]), abs=1e-12)


def test_a_small_step_lowers_the_loss_and_a_bad_target_is_refused() -> None:
    x = backprop.small_image(np.random.default_rng(0).random((32, 32)))
    assert x.shape == (8, 8) and 0 <= x.min() and x.max() <= 1
    w = backprop.start_weights(6)
    step = backprop.training_step(x, w, 2, lr=0.1)
    assert step.after.loss < step.before.loss
    with pytest.raises(ValueError, match="target"):
        backprop.forward(x, w, 6)


# -- batch-norm and dropout ----------------------------------------------------------------------


def activations(seed: int = 0, b: int = 16) -> np.ndarray:
    images = np.random.default_rng(seed).random((b, 10, 10))
    return normalize.channel_batch(images, learn.kernel("sobel x"), 2.0, 1.0)  # (B, 8, 8)


def test_batch_norm_train_eval_and_running_stats_match_torch() -> None:
    batches = [activations(seed) for seed in range(5)]
    bn = torch.nn.BatchNorm2d(1, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.fill_(1.5)
        bn.bias.fill_(-0.2)
    bn.train()
    for batch in batches:
        out = bn(torch.from_numpy(batch)[:, None])[:, 0].detach().numpy()
        mine, _, _ = normalize.batch_norm_train(batch, 1.5, -0.2)
        np.testing.assert_allclose(mine, out, atol=1e-10)
    stats = normalize.running_stats(batches)
    assert stats.batches == 5
    assert stats.running_mean == pytest.approx(float(bn.running_mean[0]), abs=1e-12)
    assert stats.running_var == pytest.approx(float(bn.running_var[0]), abs=1e-12)
    bn.eval()
    x = activations(9)
    expected = bn(torch.from_numpy(x)[:, None])[:, 0].detach().numpy()
    np.testing.assert_allclose(normalize.batch_norm_eval(x, stats, 1.5, -0.2), expected, atol=1e-10)


def test_dropout_scales_survivors_like_torch_and_zeroes_about_p() -> None:
    x = np.abs(activations(1, b=64)) + 0.1  # (64, 8, 8), no zeros of its own
    out, keep = normalize.dropout(x, 0.3, np.random.default_rng(0))
    torch.manual_seed(0)
    reference = F.dropout(torch.from_numpy(x), 0.3, training=True).numpy()
    kept = reference != 0  # torch's own mask: its survivors are x / (1 - p) too
    np.testing.assert_allclose(reference[kept], x[kept] / 0.7, rtol=1e-12)
    np.testing.assert_allclose(out[keep], x[keep] / 0.7, rtol=1e-12)
    assert (out[~keep] == 0).all() and abs((~keep).mean() - 0.3) < 0.03
    np.testing.assert_array_equal(F.dropout(torch.from_numpy(x), 0.3, training=False).numpy(), x)
    with pytest.raises(ValueError, match="dropout"):
        normalize.dropout(x, 1.0, np.random.default_rng(0))


# -- tiny trainings --------------------------------------------------------------------------------


def test_early_stop_on_the_curve_is_what_the_engine_does(tmp_path) -> None:
    setup = tiny_runs.TinySetup(train_images=60, epochs=8, num_images=300, image_size=16)
    curves = tiny_runs.tiny_curves(setup, tmp_path)
    assert curves.epochs == 8 and len(list(tmp_path.rglob("tiny-*.json"))) == 1
    assert tiny_runs.tiny_curves(setup, tmp_path) == curves  # the cached copy, not a rerun
    patience = 2
    stop, kept = tiny_runs.early_stop(curves.val_loss, patience)
    cfg = tiny_runs.run_config(setup)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, early_stopping=patience))
    dataset = load_dataset(cfg.data)
    torch.manual_seed(setup.seed)  # as train_tiny does before building the model
    model = build_model(cfg.model, dataset.preprocess, 6)
    result = train(cfg, dataset, model, emit=lambda e: None)
    assert len(result.history) == stop and result.best_epoch == kept
    # the same setup trains the same curves (seeded data, initial weights and batch order)
    assert [e.val_loss for e in result.history] == list(curves.val_loss[:stop])
    assert tiny_runs.early_stop((3.0, 2.0, 2.5, 2.6, 1.0), 2) == (4, 2)
    assert tiny_runs.early_stop((3.0, 2.0, 2.5), 0) == (3, 2)


# -- augmentation --------------------------------------------------------------------------------


def test_nearest_mean_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    train_x, train_y = rng.normal(size=(120, 5)), np.arange(120) % 4
    train_x += train_y[:, None]  # classes apart
    x = rng.normal(size=(40, 5)) + rng.integers(0, 4, 40)[:, None]
    reference = NearestCentroid().fit(train_x, train_y).predict(x)
    np.testing.assert_array_equal(augment_lesson.nearest_mean(train_x, train_y, x, 4), reference)


def test_flip_hurts_digits_not_shapes_and_each_transform_is_the_augment_op() -> None:
    digits = load_dataset(DataConfig(name="digits"))
    check = augment_lesson.flip_check(digits)
    assert np.mean(check.kept) > 0.8 > np.mean(check.kept_flipped) + 0.2
    shapes = load_dataset(DataConfig(num_images=600, image_size=16))
    s = augment_lesson.flip_check(shapes)
    assert abs(np.mean(s.kept) - np.mean(s.kept_flipped)) < 0.1
    x = shapes.test.x[:4]
    flipped = augment_lesson.transform_rows(x, ["flip"], 1.0, seed=3)[0][1]
    for original, out in zip(x, flipped, strict=True):  # each image: mirrored or not
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))
    for name in augment_lesson.TRANSFORMS:
        out = augment_lesson.transform_rows(x, [name], 0.8)[0][1]
        assert out.shape == x.shape and out.dtype == torch.uint8 and not torch.equal(out, x)
