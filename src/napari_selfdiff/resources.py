"""The machine's resources: the compute device, free device and host memory, seeded generators.

torch is imported only by the functions that need a device, so that a NumPy-only run (the
classic default pipeline) and the input checks never load it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["describe_device", "free_host_memory", "free_memory", "make_generator", "resolve_device"]


def free_host_memory() -> int | None:
    """Bytes this process may still allocate on the host, or None where that cannot be read.

    The kernel's ``MemAvailable`` (what can be allocated without swapping), capped by the
    process's cgroup limit when one is set, as in containers and batch schedulers, whose
    limit the host figure does not show.
    """
    available = _meminfo_available()
    limit = _cgroup_headroom()
    if available is None:
        return limit
    return available if limit is None else min(available, limit)


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_headroom() -> int | None:
    """Limit minus usage of this process's cgroup (v2, then v1), None when unlimited or unknown."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 1 << 60:  # v1 reports "unlimited" as a huge number
            return None
        return max(int(limit) - usage, 0)
    return None


logger = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve ``"auto"`` (or None) to CUDA, then Apple MPS, then CPU; validate the rest."""
    import torch

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
    import torch

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
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    return free_host_memory()


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator
