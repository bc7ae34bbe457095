"""The Learn page's lessons written out in numpy: convolution, activations, pooling, softmax and
cross-entropy, and gradient descent on a 2-parameter loss surface.

Each function is the textbook formula, short enough to read next to the page that shows it;
tests/test_learn.py checks every one against PyTorch (torch.nn.functional, torch.optim.SGD).
Images here are single-channel float arrays (H, W) in [0, 1]; "convolution" is what deep learning
means by it (cross-correlation, the kernel is not flipped), exactly like `torch.nn.Conv2d`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import erf
from torch import nn

from cnnlab.config import Preprocess
from cnnlab.data import ImageDataset
from cnnlab.data.images import tensor_to_pil
from cnnlab.explain import feature_maps
from cnnlab.inference import prepare_image
from cnnlab.registry import Registry

# -- images ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LessonImage:
    """The image every lesson uses."""

    gray: np.ndarray  # float64 (H, W) in [0, 1]: what the lessons convolve
    picture: PIL.Image.Image  # the original ("L" or "RGB"): shown, and fed to the user's model
    caption: str  # markdown: what and where from, e.g. "a **triangle**, test image 12 (32×32)"
    label: int | None  # its class index in `class_names`, None for an upload
    class_names: list[str]  # the classes of its dataset (an upload borrows a dataset's)


def dataset_image(dataset: ImageDataset, index: int) -> LessonImage:
    """Test image `index` of `dataset` (wrapped around when out of range)."""
    index = index % len(dataset.test)
    x = dataset.test.x[index]  # uint8 (C, H, W)
    label = int(dataset.test.y[index])
    caption = f"a **{dataset.class_names[label]}**, test image {index} ({x.shape[1]}×{x.shape[2]})"
    return LessonImage(to_gray(x), tensor_to_pil(x), caption, label, list(dataset.class_names))


def uploaded_image(img: PIL.Image.Image, name: str, class_names: list[str]) -> LessonImage:
    """A decoded upload (see `cnnlab.data.images.open_image`), shrunk for the lessons."""
    gray = lesson_image(img)
    caption = f"**{name}**, shown {gray.shape[0]}×{gray.shape[1]} in gray"
    return LessonImage(gray, img, caption, None, list(class_names))


def to_gray(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 image (C, H, W) -> float64 (H, W) in [0, 1], the mean over the channels."""
    x = np.asarray(torch.as_tensor(x).cpu().numpy(), dtype=np.float64)  # (C, H, W)
    return x.mean(axis=0) / 255.0


def lesson_image(img: PIL.Image.Image, max_side: int = 64) -> np.ndarray:
    """A decoded upload -> float64 (H, W) in [0, 1], shrunk so its longer side is <= max_side
    (a phone photo would give a feature map too fine to see and slow the page)."""
    gray = img.convert("L")
    gray.thumbnail((max_side, max_side), PIL.Image.Resampling.LANCZOS)  # keeps the aspect ratio
    return np.asarray(gray, dtype=np.float64) / 255.0


def enlarged(img: PIL.Image.Image, side: int) -> PIL.Image.Image:
    """`img` scaled up by a whole factor (nearest neighbour: pixels stay sharp squares) until its
    longer side reaches `side`; larger images are returned unchanged."""
    factor = side // max(img.size)
    if factor <= 1:
        return img
    return img.resize((img.width * factor, img.height * factor), PIL.Image.Resampling.NEAREST)


def busiest_patch(image: np.ndarray, size: int = 8) -> tuple[int, int]:
    """(top, left) of the size x size patch with the most contrast (highest std), searched on a grid
    of step size // 2, so the step-through shows an edge rather than flat background."""
    h, w = image.shape
    if h <= size and w <= size:
        return 0, 0
    step = max(1, size // 2)
    best, best_std = (0, 0), -1.0
    for top in range(0, max(1, h - size + 1), step):
        for left in range(0, max(1, w - size + 1), step):
            spread = float(image[top : top + size, left : left + size].std())
            if spread > best_std:
                best, best_std = (top, left), spread
    return best


# -- convolution -------------------------------------------------------------------------------

KERNEL_NOTES = {  # name -> what it does, in a few words (shown next to the choice)
    "identity": "copies the image: one 1 in the middle",
    "blur": "a weighted average of the neighbours (Gaussian)",
    "sharpen": "the pixel minus its blurred neighbours, added back",
    "sobel x": "responds to vertical edges (left-right changes)",
    "sobel y": "responds to horizontal edges (top-bottom changes)",
    "laplacian": "responds to edges in every direction",
    "emboss": "light from the top left: edges look raised",
}
KERNEL_NAMES = tuple(KERNEL_NOTES)


def kernel(name: str, size: int = 3) -> np.ndarray:
    """A classic image-processing kernel, float64 (size, size), size 3 or 5."""
    if size not in (3, 5):
        raise ValueError(f"kernel size must be 3 or 5, got {size}")
    if name not in KERNEL_NOTES:
        raise KeyError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNEL_NAMES)}")
    c = size // 2
    identity = np.zeros((size, size))
    identity[c, c] = 1.0
    smooth = np.array([1.0, 2, 1]) if size == 3 else np.array([1.0, 4, 6, 4, 1])  # binomial
    slope = np.array([-1.0, 0, 1]) if size == 3 else np.array([-1.0, -2, 0, 2, 1])  # derivative
    blur = np.outer(smooth, smooth) / smooth.sum() ** 2  # sums to 1
    if name == "identity":
        return identity
    if name == "blur":
        return blur
    if name == "sharpen":
        if size == 3:
            return np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
        return 2 * identity - blur  # unsharp masking
    if name == "sobel x":
        return np.outer(smooth, slope)
    if name == "sobel y":
        return np.outer(slope, smooth)
    if name == "laplacian":
        if size == 3:
            return np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
        return np.array(  # a Laplacian of Gaussian, same signs as the 3x3 one, sums to 0
            [
                [0.0, 0, 1, 0, 0],
                [0, 1, 2, 1, 0],
                [1, 2, -16, 2, 1],
                [0, 1, 2, 1, 0],
                [0, 0, 1, 0, 0],
            ]
        )
    # emboss: a ramp from -2 (top left) to +2 (bottom right), 1 in the middle
    rows, cols = np.indices((size, size))
    out = (rows + cols - 2.0 * c) / c
    out[c, c] = 1.0
    return out


def output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """out = floor((n + 2p - k) / s) + 1 along one side; < 1 when the kernel does not fit."""
    return (n + 2 * padding - kernel_size) // stride + 1


def pad(image: np.ndarray, padding: int) -> np.ndarray:
    """(H, W) -> (H + 2p, W + 2p) with a border of zeros."""
    return np.pad(image, padding, mode="constant", constant_values=0.0)


def conv2d(image: np.ndarray, weights: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Slide `weights` (kH, kW) over `image` (H, W): every output is the sum of the elementwise
    products of the kernel and the window under it. Returns (H', W') as in `output_size`."""
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride} and {padding}")
    x = pad(np.asarray(image, dtype=np.float64), padding)  # (H + 2p, W + 2p)
    k = np.asarray(weights, dtype=np.float64)
    if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(
            f"a {k.shape[0]}x{k.shape[1]} kernel does not fit in a {x.shape[0]}x{x.shape[1]} "
            "padded image: use a smaller kernel or more padding"
        )
    windows = sliding_window_view(x, k.shape)[::stride, ::stride]  # (H', W', kH, kW)
    return np.einsum("ijkl,kl->ij", windows, k)


@dataclass(frozen=True, eq=False)
class ConvStep:
    """One position of the kernel: what it sees, the products and their sum."""

    row: int  # output row
    col: int  # output column
    top: int  # window's first row in the padded image
    left: int  # window's first column in the padded image
    window: np.ndarray  # (kH, kW) input values under the kernel
    products: np.ndarray  # (kH, kW) window * kernel, elementwise
    value: float  # products.sum() = conv2d(...)[row, col]


def conv_step(
    image: np.ndarray, weights: np.ndarray, row: int, col: int, stride: int = 1, padding: int = 0
) -> ConvStep:
    """The multiply-add that produces output (row, col) of `conv2d(image, weights, stride, padding)`."""
    x = pad(np.asarray(image, dtype=np.float64), padding)  # (H + 2p, W + 2p)
    k = np.asarray(weights, dtype=np.float64)
    out_h = output_size(image.shape[0], k.shape[0], stride, padding)
    out_w = output_size(image.shape[1], k.shape[1], stride, padding)
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"output position ({row}, {col}) is outside the {out_h}x{out_w} output")
    top, left = row * stride, col * stride
    window = x[top : top + k.shape[0], left : left + k.shape[1]]  # (kH, kW)
    products = window * k
    return ConvStep(row, col, top, left, window, products, float(products.sum()))


# -- activations -------------------------------------------------------------------------------

LEAKY_SLOPE = 0.1  # leaky ReLU's slope for x < 0 (PyTorch's default is 0.01: too flat to see)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def leaky_relu(x: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
    return np.where(x >= 0, x, slope * x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(
        -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))
    )  # 1 / (1 + e^-x), no overflow


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def gelu(x: np.ndarray) -> np.ndarray:
    """x * P(X <= x) for a standard normal X (the exact form, as torch's default)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ReLU": relu,
    "leaky ReLU": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "GELU": gelu,
}
ACTIVATION_FORMULAS = {  # LaTeX, shown under the curves
    "ReLU": r"\mathrm{ReLU}(x) = \max(0, x)",
    "leaky ReLU": rf"\mathrm{{LeakyReLU}}(x) = \max({LEAKY_SLOPE}\,x,\ x)",
    "sigmoid": r"\sigma(x) = \frac{1}{1 + e^{-x}}",
    "tanh": r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
    "GELU": r"\mathrm{GELU}(x) = x \cdot \Phi(x)",
}


def zero_share(x: np.ndarray) -> float:
    """Share of values that are exactly 0 (after ReLU: the 'switched off' units)."""
    x = np.asarray(x)
    return float((x == 0).mean()) if x.size else 0.0


# -- pooling -----------------------------------------------------------------------------------


def pool2d(
    x: np.ndarray, kind: str = "max", size: int = 2, stride: int | None = None
) -> np.ndarray:
    """Max or average of each size x size window (no padding, partial windows dropped):
    (H, W) -> (H', W') with H' = floor((H - size) / stride) + 1. stride defaults to size."""
    stride = size if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    if size > min(x.shape):
        raise ValueError(
            f"a {size}x{size} pooling window does not fit in a {x.shape[0]}x{x.shape[1]} map"
        )
    windows = sliding_window_view(x, (size, size))[::stride, ::stride]  # (H', W', size, size)
    if kind == "max":
        return windows.max(axis=(2, 3))
    if kind == "avg":
        return windows.mean(axis=(2, 3))
    raise ValueError(f"pooling kind must be 'max' or 'avg', got {kind!r}")


# -- from features to classes ------------------------------------------------------------------


def dense_weights(
    num_inputs: int, num_outputs: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """An untrained dense layer: W (K, N) ~ Normal(0, 1/N) and b (K,) = 0, seeded. The 1/N variance
    keeps the logits around 1 whatever N is (what training starts from, roughly)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0 / np.sqrt(max(1, num_inputs)), size=(num_outputs, num_inputs))
    return w, np.zeros(num_outputs)


def dense(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flatten x (any shape, N values) and apply W (K, N), b (K,) -> logits (K,)."""
    return w @ np.asarray(x, dtype=np.float64).reshape(-1) + b


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """p_i = exp(z_i / T) / sum_j exp(z_j / T), float64 (K,). Low T sharpens, high T flattens."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max()  # same result, no overflow
    e = np.exp(z)
    return e / e.sum()


def cross_entropy(logits: np.ndarray, target: int, temperature: float = 1.0) -> float:
    """-log p_target with p = softmax(logits / T), computed as logsumexp(z) - z_target (stable)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()) - z[target])


# -- gradient descent --------------------------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A 2-parameter quadratic loss L(w) = 1/2 w^T H w, minimum 0 at w = (0, 0): the shape every
    smooth loss has near a minimum. H has eigenvalues `curvatures`, rotated by `angle`."""

    title: str  # shown in the UI
    curvatures: tuple[float, float]  # eigenvalues of the Hessian H (steepness of each axis)
    angle: float  # degrees the valley is turned by
    start: tuple[float, float]  # where descent starts
    extent: float  # the plot shows [-extent, extent] on both axes

    @property
    def hessian(self) -> np.ndarray:
        """H = R diag(curvatures) R^T, float64 (2, 2)."""
        a = np.deg2rad(self.angle)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return r @ np.diag(self.curvatures) @ r.T

    def loss(self, w: np.ndarray) -> np.ndarray:
        """w (..., 2) -> loss (...)."""
        w = np.asarray(w, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", w, self.hessian, w)

    def grad(self, w: np.ndarray) -> np.ndarray:
        """(2,) -> dL/dw = H w, (2,)."""
        return self.hessian @ np.asarray(w, dtype=np.float64)

    @property
    def max_stable_lr(self) -> float:
        """Plain gradient descent diverges above 2 / (largest curvature)."""
        return 2.0 / max(self.curvatures)


SURFACES: Registry[Surface] = Registry("loss surface")
SURFACES.add("bowl", Surface("round bowl", (1.0, 2.0), 0.0, (-4.0, 3.0), 5.0))
SURFACES.add("valley", Surface("narrow valley", (0.5, 10.0), 30.0, (-4.0, 3.0), 5.0))


def lr_presets(surface: Surface) -> dict[str, float]:
    """Learning rates that show the three behaviours on `surface` (3 significant digits)."""
    top = max(surface.curvatures)

    def nice(v: float) -> float:
        return float(f"{v:.3g}")

    return {
        "too small": nice(0.02 / top),  # crawls
        "about right": nice(0.9 / top),  # fast on the steep axis, no overshoot
        "too large": nice(2.3 / top),  # above 2 / top: each step overshoots more than the last
    }


DIVERGE_FACTOR = 1e3  # diverged = the loss grew to this many times its starting value


@dataclass(frozen=True, eq=False)
class Descent:
    path: np.ndarray  # float64 (n + 1, 2): the start and the parameters after each step
    losses: np.ndarray  # float64 (n + 1,): the loss at each point of the path
    diverged: bool  # the loss blew up (iteration stopped there)

    @property
    def steps(self) -> int:
        return len(self.path) - 1

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    @property
    def outcome(self) -> str:
        """ "diverged", "converged" (loss below 1/1000 of its start) or "descending"."""
        if self.diverged:
            return "diverged"
        return "converged" if self.final_loss <= 1e-3 * self.losses[0] else "descending"


def gradient_descent(
    surface: Surface,
    lr: float,
    steps: int,
    momentum: float = 0.0,
    start: tuple[float, float] | None = None,
) -> Descent:
    """Gradient descent with heavy-ball momentum, as torch.optim.SGD does it:
    v <- momentum * v + grad(w);  w <- w - lr * v.  Stops early when the loss blows up."""
    w = np.array(surface.start if start is None else start, dtype=np.float64)  # (2,)
    v = np.zeros(2)
    first = float(surface.loss(w))
    path, losses = [w.copy()], [first]
    diverged = False
    for _ in range(steps):
        v = momentum * v + surface.grad(w)
        w = w - lr * v
        loss = float(surface.loss(w))
        path.append(w.copy())
        losses.append(loss)
        if not np.isfinite(loss) or loss > DIVERGE_FACTOR * max(first, 1e-12):
            diverged = True
            break
    return Descent(np.array(path), np.array(losses), diverged)


# -- the user's model --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ModelView:
    input: torch.Tensor  # uint8 (C, H, W): the image as the model sees it
    maps: list[tuple[str, torch.Tensor]]  # (conv layer name, float (C', H', W') after activation)


def first_feature_maps(
    model: nn.Module, preprocess: Preprocess, img: PIL.Image.Image, layers: int = 2
) -> ModelView:
    """The activations of the model's first `layers` conv layers on `img`, resized and converted
    to the model's input shape as for a prediction."""
    x = prepare_image(img, preprocess)  # uint8 (C, H, W)
    return ModelView(x, feature_maps(model, x)[:layers])
