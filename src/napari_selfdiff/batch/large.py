"""One large file's planes or volumes restored across Dask workers, in order, as a single process does.

:func:`dask_units` returns the ``restore_units`` executor of
:func:`napari_selfdiff.large.iter_deblur_large`: the PSFs are estimated once by the caller,
then each unit of work (a plane in the "2d" mode, a (time point, channel) volume in "3d") is
a Dask task running :func:`napari_selfdiff.large.iter_restore_unit` on the file, opened
lazily by the worker; the results come back in output order (a few units ahead at most, so the
caller's memory stays bounded) and the caller writes them. The same function restores each
unit in both cases, so the result is the same as a single process's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from napari_selfdiff.batch.cluster import _distributed, start_cluster
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.noise import NoiseModel
from napari_selfdiff.plan.large import LargePlan

__all__ = ["DaskUnits", "dask_units", "restore_unit_task"]


def restore_unit_task(
    path: str,
    unit: tuple[int, int, int | None],
    channel: Any,
    plan: LargePlan,
    config: DeblurConfig,
    noise: NoiseModel | None,
    keep_dtype: bool,
) -> list[np.ndarray]:
    """One unit of :func:`~napari_selfdiff.large.iter_restore_unit` on the file at ``path``: its planes."""
    from napari_selfdiff.io.lazy import open_lazy
    from napari_selfdiff.large import iter_restore_unit
    from napari_selfdiff.results import drive

    planes: list[np.ndarray] = []
    with open_lazy(path) as image:
        dtype = image.dtype if keep_dtype else np.dtype(np.float32)
        drive(iter_restore_unit(image, unit, channel, plan, config, planes.append, noise=noise, dtype=dtype))
    return planes


class DaskUnits:
    """The units of one file restored on a Dask cluster (see :func:`dask_units`)."""

    def __init__(self, path: str, config: DeblurConfig, client: Any, owned: list[Any],
                 noise: NoiseModel | None, keep_dtype: bool, ahead: int) -> None:  # fmt: skip
        self.path, self.config, self.client = path, config, client
        self.owned, self.noise, self.keep_dtype, self.ahead = owned, noise, keep_dtype, ahead

    def __call__(
        self, plan: LargePlan, work: list[tuple[int, int, int | None]], channels: Any
    ) -> Iterator[tuple[Any, list]]:
        """Yield ``(unit, planes)`` in the order of ``work``, at most ``ahead`` units in flight."""
        pending: deque[tuple[Any, Any]] = deque()
        queued = iter(work)
        for unit in queued:
            future = self.client.submit(
                restore_unit_task, self.path, unit, channels[unit[1]], plan, self.config,
                self.noise, self.keep_dtype, pure=False,
            )  # fmt: skip
            pending.append((unit, future))
            if len(pending) >= self.ahead:
                unit_done, done = pending.popleft()
                yield unit_done, done.result()
        while pending:
            unit_done, done = pending.popleft()
            yield unit_done, done.result()

    @property
    def workers(self) -> int:
        """How many workers the cluster has now (at least 1)."""
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def close(self) -> None:
        """Close the client and the cluster this executor started (not a given client)."""
        for thing in self.owned:
            thing.close()


def dask_units(
    path: str,
    config: DeblurConfig,
    *,
    noise: NoiseModel | None = None,
    keep_dtype: bool = False,
    scheduler: str | None = None,
    n_workers: int | None = None,
    client: Any = None,
) -> DaskUnits:
    """An executor of a large file's units on Dask (module docstring).

    Parameters
    ----------
    path : str
        The input file (TIFF or OME-Zarr), which every worker opens lazily.
    config : DeblurConfig
        The run's settings (3D restoration iterations and TV weight).
    noise : NoiseModel, optional
        The camera's noise; estimated per plane when None.
    keep_dtype : bool
        Planes in the input's dtype instead of float32.
    scheduler : str, optional
        Address of a running scheduler; default an embedded cluster
        (:func:`~napari_selfdiff.batch.cluster.start_cluster`).
    n_workers : int, optional
        Workers of the embedded cluster.
    client : distributed.Client, optional
        A client to use as it is (not closed by :meth:`DaskUnits.close`).

    Returns
    -------
    DaskUnits
        Callable as ``restore_units(plan, units, channels)``; close it when done.
    """
    owned: list[Any] = []
    if client is None:
        (Client,) = _distributed("Client")
        if scheduler is None:
            cluster = start_cluster(n_workers)
            client = Client(cluster)
            owned = [client, cluster]
        else:
            client = Client(scheduler)
            owned = [client]
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    return DaskUnits(path, config, client, owned, noise, keep_dtype, ahead=2 * workers)
