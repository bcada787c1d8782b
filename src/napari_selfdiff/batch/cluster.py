"""The embedded Dask cluster of a batch, on the loopback interface (:func:`start_cluster`)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["gpu_count", "start_cluster"]


def start_cluster(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    dashboard_address: str = "127.0.0.1:0",
) -> Any:
    """An embedded Dask cluster: a worker per GPU (pinned), else CPU workers sized to the cores.

    Scheduler, workers and the dashboard listen on the loopback interface only, unless
    ``dashboard_address`` asks otherwise (e.g. ``":8787"`` for every interface).
    """
    LocalCluster, Nanny, Scheduler, SpecCluster = _distributed(
        "LocalCluster", "Nanny", "Scheduler", "SpecCluster"
    )

    gpus = gpu_count()
    if gpus:
        workers = {
            f"gpu-{index}": {
                "cls": Nanny,
                "options": {"nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": str(index)}},
            }
            for index in range(n_workers or gpus)
        }
        return SpecCluster(
            scheduler={
                "cls": Scheduler,
                "options": {"dashboard_address": dashboard_address, "host": "127.0.0.1"},
            },
            workers=workers,
        )
    cores = os.cpu_count() or 1
    n_workers = n_workers or max(1, cores // 2)
    threads_per_worker = threads_per_worker or max(1, cores // n_workers)
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=dashboard_address,
        env={"OMP_NUM_THREADS": str(threads_per_worker)},
    )


def _distributed(*names: str) -> list[Any]:
    """Names from Dask's ``distributed``, or an ImportError saying which extra installs it."""
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "batch runs on Dask distributed, which is not installed: pip install 'napari-selfdiff[batch]'"
        ) from None
    return [getattr(distributed, name) for name in names]


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
