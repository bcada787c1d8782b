"""Free host memory, read without torch (the input checks run before the engine is imported)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["free_host_memory"]


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
