"""Batch blind deconvolution of many image files on Dask distributed.

One task per file runs :func:`process_file` on a Dask worker: it reads the image (TIFF,
PNG, JPEG or BMP, see :mod:`.io.formats`), deblurs
it, writes ``<stem>_deblurred.tif`` and ``<stem>_psf.tif`` atomically and a JSON record
(``<stem>.json``: input checksum, config, seed, device, seconds, status, error text).
Failures are recorded, never raised, so one corrupt file or out-of-memory task does not
stop the others. A re-run skips the files whose record says "done" for the same input
checksum, kernel size, seed and config (``force=True`` redoes them).

Without a scheduler address an embedded cluster is started: one single-threaded worker
process per GPU, pinned with ``CUDA_VISIBLE_DEVICES``, or CPU workers sized to the cores.
A worker that dies mid-task is replaced by its nanny and Dask reschedules the task.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari_selfdiff.batch.cluster import _distributed, gpu_count, start_cluster
from napari_selfdiff.batch.files import (
    _checksum,
    expand_inputs,
    is_complete,
    load_record,
    output_paths,
    plan_batch,
    write_summary,
)
from napari_selfdiff.batch.worker import process_file
from napari_selfdiff.config import DeblurConfig, Scale, default_config
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.inputs import check_scale

__all__ = [
    "expand_inputs",
    "gpu_count",
    "is_complete",
    "process_file",
    "run",
    "start_cluster",
    "write_summary",
]

logger = logging.getLogger(__name__)


def run(
    inputs: str | Sequence[str],
    out_dir: str | Path,
    kernel_size: int | tuple[int, int, int],
    config: DeblurConfig | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    scale: Scale = "auto",
    noise: Any = None,
    scheduler: str | None = None,
    client: Any = None,
    n_workers: int | None = None,
    force: bool = False,
    overwrite: bool = False,
    nan_policy: str = "raise",
    retries: int = 1,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    on_client: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Deblur every input file on a Dask cluster; return one record per file.

    Parameters
    ----------
    inputs : str or sequence of str
        Glob patterns or paths of image files (TIFF, PNG, JPEG, BMP).
    out_dir : path
        Output folder (created); outputs are ``<stem>_deblurred.tif``, ``<stem>_psf.tif`` and
        the record ``<stem>.json``; ``summary.csv`` and ``summary.md`` list every file.
    kernel_size : int or tuple of int
        Odd PSF size, or (kz, k, k) for a 3D PSF (``config.stack_mode="3d"``; each file's z
        spacing and pixel size are read from its metadata unless the config sets them).
    config : DeblurConfig, optional
        Solver parameters (default: the "fast" preset without GPUs, "paper" with).
    seed, device
        As in :func:`napari_selfdiff.deblur`; ``device="auto"`` resolves on each worker.
    scale : int or "auto"
        1: blind at full resolution; N > 1: the PSF estimated at ``1 / N`` scale and the image
        restored by Richardson-Lucy (:func:`napari_selfdiff.deblur` with ``scale``); "auto": chosen
        per file by :func:`napari_selfdiff.plan.policy.plan_run` (each record's ``factor``).
    noise : NoiseModel, optional
        The camera's noise, shared by every file; None: estimated per file.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); else an embedded cluster.
    client : distributed.Client, optional
        An existing client to use instead (not closed here).
    n_workers : int, optional
        Workers of the embedded cluster.
    force : bool
        Redo files whose outputs are complete.
    overwrite : bool
        Replace existing outputs this batch did not write (never an input). Inputs that are
        outputs of an earlier run into ``out_dir`` are always left out (logged).
    nan_policy : {"raise", "replace"}
        As in :func:`napari_selfdiff.deblur`.
    retries : int
        Extra attempts of a task that raised on the worker (a dead worker is always retried).
    progress : callable, optional
        Called as ``progress(done, total, record)`` after each file.
    on_client : callable, optional
        Called with the Dask client once connected (e.g. to print the dashboard address).
    cancel : threading.Event, optional
        When set, the remaining tasks are cancelled after the next file finishes and
        :class:`~napari_selfdiff.errors.Cancelled` is raised; so is Ctrl-C. Finished outputs
        stay; the message lists the outputs this run wrote (and ``summary.md`` their files).

    Raises
    ------
    InputError
        An output would replace an input or another output (:func:`.files.plan_batch`);
        nothing has run. An output that exists and that this batch did not write (without
        ``overwrite``), or a directory in an output's place, fails only its file: its record
        in the list and the summary says why, and nothing of it is written.
    ImportError
        Dask distributed (the ``batch`` extra) is not installed.
    """
    Client, as_completed = _distributed("Client", "as_completed")

    scale = check_scale(scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    found = expand_inputs(inputs)
    files, own, blocked = plan_batch(found, out, overwrite)
    if own:
        logger.warning(
            "batch: leaving out %d file(s) an earlier run of this batch wrote: %s",
            len(own), ", ".join(path.name for path in own),
        )  # fmt: skip
    if config is None:
        config = default_config("cuda" if gpu_count() else "cpu")
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for path in files:
        if path in blocked:  # an output's place is taken by the user's file: this file fails alone
            records[str(path)] = {"input": str(path), "status": "failed", "error": blocked[path]}
            logger.warning("batch: %s failed: %s", path, blocked[path])
        elif not force and is_complete(path, out, kernel_size, config, seed, scale):
            records[str(path)] = {**load_record(output_paths(path, out)["record"]), "status": "skipped"}
        else:
            todo.append(path)
    total = len(files)
    done = len(records)
    if progress is not None:
        for record in records.values():
            progress(done, total, record)
    own_cluster = None
    if client is None:
        if scheduler is None:
            own_cluster = start_cluster(n_workers)
            client = Client(own_cluster)
        else:
            client = Client(scheduler)
        own_client = True
    else:
        own_client = False
    logger.info("dask dashboard: %s (scheduler %s)", client.dashboard_link, client.scheduler.address)
    if on_client is not None:
        on_client(client)
    config_dict = config.to_dict()
    planned = [target for path in todo for target in output_paths(path, out).values()]
    before = {target: _stamp(target) for target in planned}
    futures, interrupted = [], False
    try:
        futures = [
            client.submit(
                process_file,
                str(path),
                str(out),
                kernel_size,
                config_dict,
                seed,
                device,
                scale=scale,
                noise=None if noise is None else noise.to_dict(),
                nan_policy=nan_policy,
                key=f"deblur-{path.name}-{_checksum(path)[:12]}-{time.time_ns()}",
                pure=False,
                retries=retries,
            )
            for path in todo
        ]
        paths = {future.key: path for future, path in zip(futures, todo, strict=True)}
        for future in as_completed(futures):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the batch was cancelled")
            try:
                record = future.result()
            except Exception as error:  # noqa: BLE001 - the task itself failed; the batch goes on
                path = paths[future.key]
                record = {"input": str(path), "status": "failed", "error": f"{type(error).__name__}: {error}"}
            records[record["input"]] = record
            done += 1
            if progress is not None:
                progress(done, total, record)
    except (KeyboardInterrupt, Cancelled):
        client.cancel(futures)
        interrupted = True
    finally:
        if own_client:
            client.close()
        if own_cluster is not None:
            own_cluster.close()
    finished = [records[str(path)] for path in files if str(path) in records]
    write_summary(finished, out)
    if interrupted:
        written = [str(target) for target in planned if _stamp(target) not in (None, before[target])]
        raise Cancelled(
            f"the batch was cancelled after {done} of {total} file(s); outputs written by this run: "
            f"{', '.join(written) if written else 'none'}"
            + ("" if own_cluster is not None else " (tasks already running elsewhere may still write theirs)")
        )
    return finished


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode, modification time) of ``path``, or None when it does not exist."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def iter_batch(
    inputs: str | Sequence[str],
    out_dir: str | Path,
    kernel_size: int | tuple[int, int, int],
    config: DeblurConfig | None = None,
    **options: Any,
) -> Any:
    """:func:`run` as a generator of Progress events (one per file), returning the records.

    The batch runs in a helper thread; this generator relays its progress, so a GUI thread
    worker can drive it exactly like :func:`napari_selfdiff.api.iter_deblur`.
    """
    from napari_selfdiff.results import Progress

    events: queue.Queue = queue.Queue()
    start = time.perf_counter()

    def progress(done: int, total: int, record: dict[str, Any]) -> None:
        events.put(("progress", done, total))

    def work() -> None:
        try:
            events.put(("done", run(inputs, out_dir, kernel_size, config, progress=progress, **options)))
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer's thread
            events.put(("error", error))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, *payload = events.get()
        if kind == "progress":
            done, total = payload
            yield Progress(done - 1, total, 1, 1, 1, 1, float("nan"), time.perf_counter() - start)
        elif kind == "done":
            return payload[0]
        else:
            raise payload[0]
