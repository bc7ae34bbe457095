"""The Learn page's lessons written out in numpy, one module per lesson, each with its figures:
convolution, activations, pooling, softmax and cross-entropy, gradient descent on a 2-parameter
loss surface, and the user's own model on the same image.

Each function is the textbook formula, short enough to read next to the page that shows it;
tests/test_learn.py checks every one against PyTorch (torch.nn.functional, torch.optim.SGD).
Images are single-channel float arrays (H, W) in [0, 1]. Import from here:
`from cnnlab import learn; learn.conv2d(...)`.
"""

from cnnlab.learn.activations import (
    ACTIVATION_FORMULAS,
    ACTIVATIONS,
    LEAKY_SLOPE,
    activation_curves,
    gelu,
    leaky_relu,
    relu,
    sigmoid,
    tanh,
    zero_share,
)
from cnnlab.learn.convolution import (
    KERNEL_NAMES,
    KERNEL_NOTES,
    ConvStep,
    busiest_patch,
    conv2d,
    conv_step,
    kernel,
    multiply_figure,
    output_size,
    pad,
    size_formula,
    slide_figure,
)
from cnnlab.learn.descent import (
    DIVERGE_FACTOR,
    SURFACES,
    Descent,
    Surface,
    descent_figure,
    gradient_descent,
    loss_curve,
    loss_text,
    lr_presets,
    outcome_message,
)
from cnnlab.learn.figures import dims, maps_figure
from cnnlab.learn.picture import (
    LessonImage,
    dataset_image,
    enlarged,
    lesson_image,
    to_gray,
    uploaded_image,
)
from cnnlab.learn.pooling import pool2d
from cnnlab.learn.softmax_loss import (
    cross_entropy,
    cross_entropy_formula,
    dense,
    dense_figure,
    dense_weights,
    probability_figure,
    softmax,
)
from cnnlab.learn.your_model import ModelView, first_feature_maps

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_FORMULAS",
    "DIVERGE_FACTOR",
    "KERNEL_NAMES",
    "KERNEL_NOTES",
    "LEAKY_SLOPE",
    "SURFACES",
    "ConvStep",
    "Descent",
    "LessonImage",
    "ModelView",
    "Surface",
    "activation_curves",
    "busiest_patch",
    "conv2d",
    "conv_step",
    "cross_entropy",
    "cross_entropy_formula",
    "dataset_image",
    "dense",
    "dense_figure",
    "dense_weights",
    "descent_figure",
    "dims",
    "enlarged",
    "first_feature_maps",
    "gelu",
    "gradient_descent",
    "kernel",
    "leaky_relu",
    "lesson_image",
    "loss_curve",
    "loss_text",
    "lr_presets",
    "maps_figure",
    "multiply_figure",
    "outcome_message",
    "output_size",
    "pad",
    "pool2d",
    "probability_figure",
    "relu",
    "sigmoid",
    "size_formula",
    "slide_figure",
    "softmax",
    "tanh",
    "to_gray",
    "uploaded_image",
    "zero_share",
]
