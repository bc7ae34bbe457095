"""The reference: pytorch/examples `mnist/main.py` as published, rewritten here from its description.

Two 3x3 convs (32 and 64 filters, ReLU), 2x2 max pooling, dropout 0.25, dense 128 + ReLU, dropout
0.5, dense 10 + log-softmax; Adadelta (lr 1.0), StepLR (gamma 0.7, one step per epoch), batch 64,
a torchvision `DataLoader` (shuffled, no worker processes, as the example runs on a CPU) of
`MNIST` with `ToTensor()` + `Normalize((0.1307,), (0.3081,))`; test batches of 1000.

Self-contained (torch + torchvision only). `train_epoch` takes an optional `on_step(step)` callback
so bench_train.py can measure test accuracy at fixed intervals without touching the recipe; run
this file alone for the example's own loop: `python bench/reference_mnist.py --epochs 1`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

BATCH_SIZE = 64
TEST_BATCH_SIZE = 1000
LR = 1.0  # Adadelta
GAMMA = 0.7  # StepLR, per epoch
MEAN, STD = (0.1307,), (0.3081,)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28) normalised
        x = F.relu(self.conv1(x))  # (B, 32, 26, 26)
        x = F.relu(self.conv2(x))  # (B, 64, 24, 24)
        x = F.max_pool2d(x, 2)  # (B, 64, 12, 12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)  # (B, 9216)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)  # (B, 10) log-probabilities


def make_loaders(root: str | Path, seed: int = 1) -> tuple[DataLoader, DataLoader]:
    """Train and test loaders exactly as the example builds them on a CPU."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    train_set = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    test_set = datasets.MNIST(str(root), train=False, download=False, transform=transform)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, generator=generator)
    test_loader = DataLoader(test_set, batch_size=TEST_BATCH_SIZE)
    return train_loader, test_loader


def make_optimizer(model: nn.Module) -> tuple[torch.optim.Optimizer, object]:
    optimizer = torch.optim.Adadelta(model.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=GAMMA)
    return optimizer, scheduler


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    on_step: Callable[[int], bool] | None = None,
    log_interval: int = 10,
) -> float:
    """One epoch; returns the last logged loss. `on_step(step)` runs after each optimiser step
    (step counts from 1 within the epoch); returning True ends the epoch early."""
    model.train()
    last_loss = float("nan")
    for step, (data, target) in enumerate(loader, 1):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        if step % log_interval == 0:  # the example logs (and so syncs) every 10 batches
            last_loss = loss.item()
        if on_step is not None and on_step(step):
            break
    return last_loss


@torch.inference_mode()
def test(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """(mean negative log-likelihood, accuracy) on the test loader."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    for data, target in loader:
        output = model(data)
        total_loss += F.nll_loss(output, target, reduction="sum").item()
        correct += (output.argmax(1) == target).sum().item()
        n += len(target)
    return total_loss / n, correct / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/work/shared/data", help="folder holding MNIST/raw")
    parser.add_argument("--epochs", type=int, default=14)
    args = parser.parse_args()
    torch.manual_seed(1)
    train_loader, test_loader = make_loaders(args.root)
    model = Net()
    optimizer, scheduler = make_optimizer(model)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train_epoch(model, train_loader, optimizer)
        loss, acc = test(model, test_loader)
        scheduler.step()
        print(
            f"epoch {epoch}: test loss {loss:.4f}, accuracy {acc:.2%}, "
            f"{time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
