"""Where and how training computes: the device, its threads and its precision."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import torch


def pick_device(name: str = "auto") -> torch.device:
    """CUDA or MPS when present (for "auto"), else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively (CPU: AVX512-BF16 or AMX; CUDA: Ampere+).
    Elsewhere bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision `train` really uses: "bf16" only where `device` has native bf16; "auto"
    is bf16 on a CUDA device that has it (Ampere+), fp32 elsewhere (the CPU's bf16 is slower
    than fp32 on most cores)."""
    if name not in ("fp32", "bf16", "auto"):
        raise ValueError(f"unknown precision {name!r}; choose fp32, bf16 or auto")
    if name == "auto":
        name = "bf16" if device.type == "cuda" else "fp32"
    return "bf16" if name == "bf16" and native_bf16(device) else "fp32"


def tune_cuda(device: torch.device) -> None:
    """On CUDA: cuDNN picks the fastest convolution for each shape (the shapes repeat every
    step), and fp32 matmuls/convolutions use TF32 tensor cores (Ampere+; ~1e-3 relative error,
    harmless for training). Nothing elsewhere."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def use_compile(setting: str, device: torch.device) -> bool:
    """Whether to `torch.compile` the training forward: "on", "off", or "auto" = on CUDA only
    (on the CPU the compile time, tens of seconds, would delay the first point on screen)."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"unknown compile setting {setting!r}; choose auto, on or off")
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def augment_generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on `device` for the augmentation's random numbers (drawn where the batch is,
    so a GPU step never waits for the CPU to make them)."""
    return torch.Generator(device=device).manual_seed(seed)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for "bf16" (convs and matmuls in bf16, weights and optimiser in fp32)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def set_threads(threads: int) -> int:
    """Intra-op threads for the CPU: `threads`; when 0, env CNNLAB_THREADS (set by the job manager
    to share cores between parallel jobs) or all cores. Returns the count used."""
    count = threads or int(os.environ.get("CNNLAB_THREADS") or 0) or (os.cpu_count() or 1)
    torch.set_num_threads(count)
    # numpy's BLAS too (scikit-learn's threadpoolctl): its threads on tiny products (the digit
    # cleaning's 6-coefficient fits) cost ~10x on a busy CPU (a live frame: 55 ms -> 200 ms)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count, user_api="blas")
    return count


DEVICE_DATA_BYTES = 2 << 30  # a training split up to 2 GiB (uint8) moves to the GPU once


def split_on_device(split: Any, device: torch.device) -> Any:
    """The training split moved to `device` once (uint8, so CIFAR-10's is 138 MB), or as it is
    on the CPU or when it is larger than DEVICE_DATA_BYTES (then each batch is copied)."""
    if device.type == "cpu" or split.x.numel() > DEVICE_DATA_BYTES:
        return split
    return dataclasses.replace(split, x=split.x.to(device), y=split.y.to(device))
