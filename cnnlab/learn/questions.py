"""Checks for understanding: a few multiple-choice questions per lesson, each with the reason.

"predict" questions ask what a control of the lesson will do before the student moves it (the
page says which control). The same registry serves the Learn page (answered alone, explained
at once) and classroom mode (`cnnlab.classroom.quiz`: the teacher pushes one to everyone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cnnlab.registry import Registry

QID = re.compile(r"^[a-z0-9-]{1,40}$")  # a question id is also part of a file name


@dataclass(frozen=True)
class Question:
    qid: str  # stable id, e.g. "backprop-pool" (file names, widget keys)
    lesson: str  # the lesson it checks: one of LESSONS
    prompt: str  # markdown
    choices: tuple[str, ...]  # 2-5 answers, shown in this order
    answer: int  # index of the right choice
    why: str  # the explanation shown after answering (markdown)
    predict: str = ""  # for a "predict what happens" question: the control to move afterwards

    def __post_init__(self) -> None:
        if not QID.match(self.qid) or not 2 <= len(self.choices) <= 5:
            raise ValueError(f"bad question {self.qid!r}")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"question {self.qid!r}: answer {self.answer} is not a choice")


LESSONS = {  # lesson key -> its title (the Learn page's tab of the same number)
    "convolution": "Convolution",
    "activation": "Activation",
    "pooling": "Pooling",
    "classes": "From maps to classes",
    "learning": "Gradient descent",
    "backprop": "Backpropagation",
    "norm": "Batch-norm and dropout",
    "overfit": "Overfitting",
    "augment": "Augmentation",
}
QUESTIONS: Registry[Question] = Registry("question")


def _add(*args: object, **kw: object) -> None:
    q = Question(*args, **kw)  # type: ignore[arg-type]
    if q.lesson not in LESSONS:
        raise ValueError(f"question {q.qid!r}: unknown lesson {q.lesson!r}")
    QUESTIONS.add(q.qid, q)


def for_lesson(lesson: str) -> list[Question]:
    """The lesson's questions in the order they were written."""
    return [q for q in (QUESTIONS.get(n) for n in QUESTIONS.names()) if q.lesson == lesson]


def is_right(question: Question, choice: int) -> bool:
    return choice == question.answer


_add(
    "conv-size", "convolution",
    "A 3×3 kernel slides over a 32×32 image with stride 1 and no padding. How big is the "
    "feature map?",
    ("30×30", "32×32", "34×34", "10×10"), 0,
    "The kernel fits in 32 − 3 + 1 = 30 positions per side. Padding 1 would keep 32×32.",
)  # fmt: skip
_add(
    "conv-padding", "convolution",
    "With a 3×3 kernel and stride 1, you raise **padding** from 0 to 1. What happens to the "
    "feature map?",
    ("It becomes as large as the input", "It shrinks", "Nothing", "It doubles in size"), 0,
    "One pixel of zeros on every side gives the kernel 2 more positions per side: "
    "(32 + 2 − 3) + 1 = 32.",
    predict="Padding",
)  # fmt: skip
_add(
    "act-relu", "activation",
    "What does ReLU do to a negative value?",
    ("Sets it to 0", "Makes it positive", "Leaves it alone", "Sets it to 1"), 0,
    "ReLU(x) = max(0, x): negatives become 0, positives pass unchanged.",
)  # fmt: skip
_add(
    "pool-size", "pooling",
    "2×2 max pooling with stride 2 on a 30×30 map gives…",
    ("15×15", "28×28", "29×29", "60×60"), 0,
    "Each 2×2 window becomes one number and the windows do not overlap: 30 / 2 = 15.",
)  # fmt: skip
_add(
    "classes-temperature", "classes",
    "You lower the softmax **temperature** to 0.1. What happens to the probabilities?",
    ("The largest one moves towards 100 %", "They all become equal",
     "They no longer sum to 1", "The loss is always 0"), 0,
    "Dividing the logits by a small T stretches their differences, so the top class takes "
    "almost everything; they still sum to 1.",
    predict="Temperature",
)  # fmt: skip
_add(
    "learning-too-large", "learning",
    "On the round bowl you pick the **too large** learning rate. What will the loss do?",
    ("Grow with every step (diverge)", "Fall faster, with no downside",
     "Stay where it is", "Stop after one step"), 0,
    "Each step overshoots the minimum by more than it started from, so it swings further out "
    "every time: above 2 / curvature gradient descent diverges.",
    predict="Learning rate",
)  # fmt: skip
_add(
    "backprop-pool", "backprop",
    "Going backwards through a 2×2 **max pool**, which values of each window get a gradient?",
    ("Only the largest one", "All four equally", "None: pooling has no gradient",
     "The smallest one"), 0,
    "The pooled value is the window's maximum: nudging any other value does not change it, so "
    "their gradient is 0. Look at ∂L/∂ReLU: one coloured cell per window at most.",
)  # fmt: skip
_add(
    "backprop-lr", "backprop",
    "You double the **learning rate**. What happens to the change of the kernel after one step?",
    ("It doubles", "It stays the same", "It halves", "It becomes random"), 0,
    "The update is learning rate × gradient, and the gradient does not depend on the learning "
    "rate.",
    predict="Learning rate",
)  # fmt: skip
_add(
    "backprop-confident", "backprop",
    "The network already gives the true class a probability of 0.99. What is ∂L/∂logit of "
    "the true class?",
    ("About −0.01", "About −0.99", "About +1", "Exactly 0"), 0,
    "For softmax with cross-entropy it is p − 1 = −0.01: an image the network already gets "
    "right barely moves the weights.",
)  # fmt: skip
_add(
    "norm-dropout-scale", "norm",
    "In training, dropout with p = 0.5 sets half of the values to 0. What happens to the others?",
    ("They are doubled", "Nothing", "They are halved", "They become the mean"), 0,
    "They are divided by 1 − p = 0.5, so the layer's expected output stays the same; in eval "
    "mode dropout then does nothing at all.",
)  # fmt: skip
_add(
    "norm-eval", "norm",
    "In **eval** mode, what does batch-norm divide by?",
    ("The running averages collected during training", "The current batch's statistics",
     "Nothing: it is switched off", "The first batch's statistics"), 0,
    "At test time there may be one image, not a batch: batch-norm uses the running mean and "
    "variance it averaged over the training batches.",
)  # fmt: skip
_add(
    "norm-small-batch", "norm",
    "In train mode, you shrink the **batch** to 4 images. What happens to the normalised "
    "values from one batch to the next?",
    ("They jump around more", "They are exactly the same", "They all become 0",
     "Batch-norm stops with an error"), 0,
    "Four images give a noisy mean and variance, so the same image is normalised differently "
    "in each batch (why batch-norm wants batches of 16 or more).",
    predict="Batch size",
)  # fmt: skip
_add(
    "overfit-gap", "overfit",
    "Training accuracy is 100 %, validation accuracy 40 %. What is happening?",
    ("Overfitting: it memorised the training images", "Underfitting",
     "The learning rate is too small", "The validation set is broken"), 0,
    "A network with enough weights can learn every training image by heart, noise and all, "
    "without learning what makes a class.",
)  # fmt: skip
_add(
    "overfit-noise", "overfit",
    "You raise **label noise** from 0 to 40 %. Where does training accuracy end up, compared "
    "with validation accuracy?",
    ("Training still climbs high, validation falls", "Both fall by the same amount",
     "Training cannot go above 60 %", "Nothing changes"), 0,
    "With few images the network memorises the wrong labels too; they teach it nothing that "
    "holds on the clean validation images, so the gap widens.",
    predict="Label noise",
)  # fmt: skip
_add(
    "overfit-early", "overfit",
    "Early stopping with a patience of 3 epochs keeps which weights?",
    ("Those of the epoch with the lowest validation loss", "The last epoch's",
     "The first epoch's", "The average of all epochs"), 0,
    "It stops 3 epochs after the validation loss last improved and keeps the best weights "
    "(cnnlab's training does the same).",
)  # fmt: skip
_add(
    "augment-digits", "augment",
    "Why is a horizontal flip a bad augmentation for digits?",
    ("A mirrored digit is not the same digit", "Flipping is too slow",
     "Digits are grey", "Flipping changes the image size"), 0,
    "A mirrored 3 looks like an ε and a mirrored 7 is no digit at all: the label would be "
    "wrong, so the network learns from mislabelled images.",
)  # fmt: skip
_add(
    "augment-when", "augment",
    "Augmentation is applied to…",
    ("Training images only, drawn fresh every epoch", "Training, validation and test images",
     "Once, before training, saved to disk", "Only in the first epoch"), 0,
    "Each epoch sees new random variants of the training images; validation and test images "
    "stay as they are, so the scores measure the real images.",
)  # fmt: skip
_add(
    "augment-shapes", "augment",
    "Is a horizontal flip safe for the **shapes** set?",
    ("Yes: a mirrored shape keeps its class", "No: a triangle becomes a square",
     "No: flipping changes the colours"), 0,
    "Circles, squares, stars, crosses, rings and upright triangles look the same in a "
    "mirror, so a flip gives a new, correctly labelled image.",
)  # fmt: skip
