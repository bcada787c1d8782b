"""Device resolution and seeded random generators (no global singletons)."""

from __future__ import annotations

import logging

import torch

from napari_selfdiff.plan.host_memory import free_host_memory

__all__ = ["describe_device", "free_memory", "make_generator", "resolve_device"]

logger = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve ``"auto"`` (or None) to CUDA, then Apple MPS, then CPU; validate the rest."""
    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device)
    if name == "auto":
        if torch.cuda.is_available():
            chosen = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            chosen = torch.device("mps")
        else:
            chosen = torch.device("cpu")
        logger.info("device 'auto' resolved to %s", describe_device(chosen))
        return chosen
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"`device` must be one of {DEVICE_CHOICES} (or 'cuda:N'), got {name!r}")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device`='cuda' was requested but PyTorch sees no CUDA GPU; use 'cpu' or 'auto'")
    if base == "mps" and not torch.backends.mps.is_available():
        raise ValueError("`device`='mps' was requested but Apple MPS is not available; use 'cpu' or 'auto'")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """Human-readable device name, e.g. ``'cuda:0 (NVIDIA H100)'`` or ``'cpu (2 threads)'``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def free_memory(device: torch.device) -> int | None:
    """Bytes a run on ``device`` may still allocate, or None where that cannot be read.

    CUDA: the driver's free device memory. CPU: the kernel's ``MemAvailable`` (what can be
    allocated without swapping), capped by the process's cgroup limit when one is set, as
    in containers and batch schedulers, whose limit the host figure does not show.
    """
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    return free_host_memory()


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator
