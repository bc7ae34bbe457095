"""inference.py: photo-style image preparation (size, channels, auto-invert) and batched
predictions. The digit style and crop/pad are tested in tests/test_preprocess.py."""

from __future__ import annotations

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest
import torch
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.data.images import image_to_tensor
from cnnlab.inference import Prediction, predict_images, prepare_image

# one grey channel, light-on-dark training images, photo style (e.g. Fashion-MNIST)
MNIST_LIKE = Preprocess(
    input_shape=(1, 28, 28), mean=(0.13,), std=(0.31,), light_background=False, style="photo"
)
RGB_32 = Preprocess(input_shape=(3, 32, 32))


def digit_on_paper(mode: str = "L", size: tuple[int, int] = (80, 80)) -> PIL.Image.Image:
    """A dark stroke on white paper (a photo of a handwritten digit), size = (W, H), square:
    centre crop and resize are then the same as the plain resize these tests compare with."""
    img = PIL.Image.new(mode, size, "white")
    PIL.ImageDraw.Draw(img).line([(40, 15), (40, 65)], fill="black", width=8)
    return img


def test_prepare_image_resizes_and_converts_channels():
    photo = PIL.Image.linear_gradient("L").resize((40, 40)).convert("RGB")  # square, not blank
    x = prepare_image(photo, RGB_32)
    assert x.dtype == torch.uint8 and x.shape == (3, 32, 32)
    torch.testing.assert_close(x, image_to_tensor(photo, size=(32, 32), channels=3))

    gray = prepare_image(PIL.Image.linear_gradient("L").resize((10, 10)), RGB_32)  # L -> RGB
    assert gray.shape == (3, 32, 32) and (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all()

    to_l = prepare_image(photo, MNIST_LIKE, invert=False)
    assert to_l.shape == (1, 28, 28)  # RGB -> L
    torch.testing.assert_close(to_l, image_to_tensor(photo, (28, 28), 1))


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_auto_invert_light_image_for_dark_background_gray_model(mode):
    img = digit_on_paper(mode)
    x = prepare_image(img, MNIST_LIKE)  # auto: light paper, MNIST-like model -> inverted
    plain = image_to_tensor(img, size=(28, 28), channels=1)
    torch.testing.assert_close(x, 255 - plain)
    assert x[0, 0, 0] == 0 and x[0, 14, 14] > 200  # dark background, bright stroke


def test_auto_invert_only_when_all_conditions_hold():
    img = digit_on_paper()
    plain = image_to_tensor(img, size=(28, 28), channels=1)
    light_model = Preprocess(
        input_shape=(1, 28, 28), mean=(0.9,), std=(0.3,), light_background=True
    )
    torch.testing.assert_close(prepare_image(img, light_model), plain)
    # RGB models are never auto-inverted
    torch.testing.assert_close(prepare_image(img, RGB_32), image_to_tensor(img, (32, 32), 3))
    # a dark image (already MNIST-like) is left alone
    dark = PIL.Image.eval(img, lambda v: 255 - v)
    torch.testing.assert_close(prepare_image(dark, MNIST_LIKE), 255 - plain)


def test_explicit_invert_overrides_auto():
    img = digit_on_paper()
    plain = image_to_tensor(img, size=(28, 28), channels=1)
    torch.testing.assert_close(prepare_image(img, MNIST_LIKE, invert=False), plain)
    rgb = prepare_image(img, RGB_32, invert=True)
    torch.testing.assert_close(rgb, 255 - image_to_tensor(img, (32, 32), 3))


def small_net(num_classes: int = 4) -> nn.Module:
    # (B, 1, 28, 28) -> conv (B, 4, 28, 28) -> pool (B, 4, 7, 7) -> (B, 196) -> (B, K)
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, num_classes),
    )


def test_predict_images_one_batched_forward_matching_softmax():
    model = small_net()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    images = [torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8) for _ in range(3)]
    names = ["zero", "one", "two", "three"]
    preds = predict_images(model, images, names, k=3)
    assert calls == [(3, 1, 28, 28)]
    with torch.no_grad():
        expected = torch.softmax(model(torch.stack(images).float() / 255), dim=1).numpy()
    assert len(preds) == 3 and all(isinstance(p, Prediction) for p in preds)
    for pred, ref in zip(preds, expected, strict=True):
        np.testing.assert_allclose(pred.probs, ref, rtol=1e-5, atol=1e-7)
        assert pred.probs.shape == (4,) and pred.probs.sum() == pytest.approx(1.0, abs=1e-5)
        order = np.argsort(-ref)[:3]
        assert [name for name, _ in pred.top] == [names[i] for i in order]
        assert [p for _, p in pred.top] == pytest.approx(ref[order].tolist(), rel=1e-5)
        assert all(isinstance(p, float) for _, p in pred.top)


def test_predict_images_edge_cases():
    model = small_net(num_classes=2)
    image = torch.zeros((1, 28, 28), dtype=torch.uint8)
    assert predict_images(model, [], ["a", "b"]) == []
    (pred,) = predict_images(model, [image], ["a", "b"], k=5)
    assert len(pred.top) == 2  # k capped at the number of classes
    with pytest.raises(ValueError, match="class names"):
        predict_images(model, [image], ["a", "b", "c"])
