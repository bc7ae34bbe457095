"""cnnlab.learn's second part against PyTorch: backpropagation by hand vs torch.autograd,
batch-norm and dropout vs torch.nn, the augmentation lesson vs torch/scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.learn import backprop


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
