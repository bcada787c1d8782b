"""Blind deconvolution of microscope-size data: the PSF from regions, the restoration in tiles.

A stack of 64 x 2048 x 2048 pixels (several channels, time points) does not fit the
whole-array engine (:mod:`napari_selfdiff.api`), and does not need to: the PSF is a property
of the optics. :func:`iter_deblur_large` therefore

1. plans the run once (:func:`napari_selfdiff.plan.large.plan_large`: regions, tiles, peak
   memory, stated before any work);
2. per channel, at the first time point, estimates the PSF on regions of the field: in the
   "2d" mode the classic blind estimate on each of ``plan.regions`` windows richest in
   coherent edges (one per part of the field, :func:`choose_regions`), their agreement (MNC)
   reported and the estimate agreeing best with the others kept; that agreement is the
   do-no-harm guard's reliability (one region: the guard's second opinion on it). In the "3d"
   mode the 3D blind run of :func:`napari_selfdiff.api.deblur` on the best region's column;
3. restores every plane ("2d": the noise-aware TV with the settings of the whole plane) or
   every volume ("3d": 3D RL-TV with one intensity map for the volume) in overlapping tiles
   blended without seams (:mod:`napari_selfdiff.restoration.tiled`), the PSF of its channel
   reused at every time point, and hands each finished plane to the writer
   (:mod:`napari_selfdiff.io.stream`) as it is produced.

The unit of work (:func:`iter_restore_unit`: one plane, or one volume) is also what
:mod:`napari_selfdiff.batch.large` sends to Dask workers, so both give the same result.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from napari_selfdiff.blind.guarded import classic_psfs, group_image, physical_floor, second_opinion, verdict
from napari_selfdiff.blind.regions import edge_usefulness, informative_window
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import Cancelled, InputError
from napari_selfdiff.io.lazy import LazyImage
from napari_selfdiff.noise import NoiseModel, estimate_noise
from napari_selfdiff.ops.intensity import IntensityMap, to_dtype
from napari_selfdiff.optics.aberrations import Aberrations
from napari_selfdiff.plan.large import LargePlan, LargeTime
from napari_selfdiff.restoration.noise_aware import kernel_agreement, mean_variance, restore_tv, tv_weight
from napari_selfdiff.restoration.tiled import iter_restore_tiled
from napari_selfdiff.results import Progress, drive, relay, renumbered

__all__ = [
    "ChannelPsf",
    "LargeResult",
    "choose_regions",
    "deblur_large",
    "estimate_channel_psf",
    "expected_time",
    "iter_deblur_large",
    "iter_restore_unit",
    "units",
]

logger = logging.getLogger(__name__)

Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class ChannelPsf:
    """One channel's PSF and how it was found.

    ``psf``: (k, k) or (kz, k, k); ``regions``: the (top, left, height, width) windows it
    was estimated on; ``agreement``: the MNC of each region's estimate with the one kept (1
    for the kept one itself); ``reliability``: the guard's measure (2D: mean agreement of the
    kept estimate with the others, or with the second opinion for one region; 3D: the
    containment of the focal plane, or the pupil fit's likelihood ratio); ``deconvolved``: False
    when the guard did not trust it (the channel is then only denoised, or returned as it is
    in 3D); ``method``: how the PSF was found (the words of ``DeblurResult.method``; "given"
    for a PSF the user gave). 3D only: ``verdict``, the guard's finding in words
    (:func:`~napari_selfdiff.blind.guarded.verdict`), and ``aberrations``, the pupil the fit
    found (None when none was found or trusted).
    """

    psf: np.ndarray
    regions: tuple[Region, ...]
    agreement: tuple[float, ...]
    reliability: float
    deconvolved: bool
    method: str = "classic"
    verdict: str | None = None
    aberrations: Aberrations | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "regions": [list(r) for r in self.regions],
            "agreement": [round(a, 4) for a in self.agreement],
            "reliability": round(self.reliability, 4),
            "deconvolved": self.deconvolved,
            "method": self.method,
            "verdict": self.verdict,
            "aberrations": None if self.aberrations is None else self.aberrations.to_dict(),
        }


@dataclass(frozen=True)
class LargeResult:
    """What a large-data run did: its plan, the PSF of each channel, its time; the image was written."""

    plan: LargePlan
    channels: tuple[ChannelPsf, ...]
    seconds: float
    seed: int
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def psf(self) -> np.ndarray:
        """The PSFs: (k, k) or (kz, k, k) for one channel, stacked over channels for several."""
        psfs = [c.psf for c in self.channels]
        return psfs[0] if len(psfs) == 1 else np.stack(psfs)

    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable provenance (written into the output with the image)."""
        return {
            "method": ", ".join(sorted({c.method for c in self.channels})),
            "large": self.plan.describe(),
            "channels": [c.to_dict() for c in self.channels],
            "seconds": round(self.seconds, 3),
            "seed": self.seed,
            "config": self.config,
        }


def choose_regions(grey: np.ndarray, count: int, size: int, kernel_size: int) -> list[Region]:
    """``count`` windows of ``size`` px spread over the field, each the most edge-rich of its part.

    The field is cut into a grid of about ``count`` parts (rows x columns as square as the
    image allows); in each part the window with the most coherent-edge energy
    (:func:`~napari_selfdiff.blind.regions.edge_usefulness`) is found, and the ``count``
    best-scoring parts' windows are returned, best first, as (top, left, height, width).
    """
    height, width = grey.shape
    size = min(size, height, width)
    rows = max(1, min(round(math.sqrt(count * height / width)), height // size))
    cols = max(1, min(math.ceil(count / rows), width // size))
    found = []
    for r in range(rows):
        for c in range(cols):
            top, bottom = r * height // rows, (r + 1) * height // rows
            left, right = c * width // cols, (c + 1) * width // cols
            part = grey[top:bottom, left:right]
            ys, xs = informative_window(part, size, kernel_size)
            score = float(edge_usefulness(part, kernel_size)[ys, xs].sum())
            found.append((score, (top + ys.start, left + xs.start, ys.stop - ys.start, xs.stop - xs.start)))
    found.sort(key=lambda item: -item[0])
    return [window for _, window in found[:count]]


def _projection(image: LazyImage, t: int, c: int) -> np.ndarray:
    """The mean over z of one (time point, channel) volume, read plane by plane (float64)."""
    depth = image.shape[2]
    total = np.zeros(image.shape[3:], np.float64)
    for z in range(depth):
        total += image.data[t, c, z]
    return total / depth


def estimate_channel_psf(
    image: LazyImage,
    channel: int,
    plan: LargePlan,
    config: DeblurConfig,
    *,
    region: Region | None = None,
    noise: NoiseModel | None = None,
    seed: int = 0,
    device: Any = None,
    start: float,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, ChannelPsf]:
    """The PSF of one channel from regions of its first time point (module docstring, step 2)."""
    k = plan.kernel_shape[2]
    if region is not None:
        windows = [_check_region(region, image.shape, k)]
    else:
        windows = choose_regions(_projection(image, 0, channel), plan.regions, plan.region_size, k)
    if plan.mode == "3d":
        return (
            yield from _estimate_3d(image, channel, windows[0], plan, config, seed, device, start, cancel)
        )
    classic = config.classic
    psfs = []
    for index, (top, left, height, width) in enumerate(windows):
        crop = image.data[0, channel, :, top : top + height, left : left + width].astype(np.float64)
        planes = crop[:, None]
        found = yield from renumbered(
            classic_psfs(planes, [np.arange(len(planes))], k, noise, classic, start=start, cancel=cancel),
            index,
            len(windows),
            "estimate_psf",
        )
        psfs.append(found[0])
    if len(psfs) > 1:
        table = np.array([[kernel_agreement(a, b) if a is not b else 1.0 for b in psfs] for a in psfs])
        kept = int(np.argmax(table.sum(axis=1)))
        agreement = tuple(float(v) for v in table[kept])
        reliability = float((table[kept].sum() - 1.0) / (len(psfs) - 1))
    else:
        kept, agreement = 0, (1.0,)
        top, left, height, width = windows[0]
        grey = group_image(image.data[0, channel, :, top : top + height, left : left + width][:, None])
        reliability = kernel_agreement(psfs[0], second_opinion(grey.astype(np.float64), k, noise, classic))
    deconvolved = not config.guard or reliability >= classic.reliable_from
    if not deconvolved:
        logger.warning(
            "do no harm: channel %d's PSF agreement %.2f < %.2f: the channel is only denoised",
            channel, reliability, classic.reliable_from,
        )  # fmt: skip
    order = [kept] + [i for i in range(len(windows)) if i != kept]
    return ChannelPsf(
        psfs[kept],
        tuple(windows[i] for i in order),
        tuple(agreement[i] for i in order),
        reliability,
        deconvolved,
    )


def _estimate_3d(
    image: LazyImage,
    channel: int,
    window: Region,
    plan: LargePlan,
    config: DeblurConfig,
    seed: int,
    device: Any,
    start: float,
    cancel: threading.Event | None,
) -> Generator[Progress, None, ChannelPsf]:
    """The 3D PSF by the whole-array 3D run on the region's (Z, h, w) column."""
    from napari_selfdiff.api import iter_deblur

    top, left, height, width = window
    column = image.data[0, channel, :, top : top + height, left : left + width].astype(np.float32)
    config3d = replace(config, stack_mode="3d")
    result = yield from iter_deblur(
        column, plan.kernel_shape, config3d, seed=seed, device=device, cancel=cancel,
        z_step=image.z_spacing, pixel_size=None if image.pixel_size is None else image.pixel_size[1],
    )  # fmt: skip
    psf = np.asarray(result.psf, np.float32)
    if result.reliability is not None:
        reliability, deconvolved = float(result.reliability), bool(result.deconvolved)
    else:  # the run restored by its network: the 3D guard's measure, taken here
        from napari_selfdiff.blind.selfdiff.volume_run import psf_reliability

        reliability = psf_reliability(psf)
        deconvolved = not config.guard or reliability >= config.stack3d.reliable_from
    found = result.aberrations[0] if result.aberrations else None
    return ChannelPsf(psf, (window,), (1.0,), reliability, deconvolved, result.method, verdict(result), found)


def expected_time(
    plan: LargePlan,
    config: DeblurConfig,
    *,
    z_spacing: float | None,
    pixel_size: tuple[float, float] | None,
    workers: int = 1,
    device: Any = None,
) -> LargeTime:
    """The run's expected time (:meth:`LargePlan.expected_time`) with its blind 3D PSF estimate.

    A 3D plan estimates its PSF by the whole-array 3D run on one (Z, ``region_size``,
    ``region_size``) column (:func:`estimate_channel_psf`): that run's own model
    (:func:`~napari_selfdiff.plan.estimate.estimate_run`, not calibrated) gives the stage's
    seconds, once per channel, so the progress bar weighs the two stages by their cost.
    """
    from napari_selfdiff.inputs import make_problem
    from napari_selfdiff.plan.estimate import estimate_run
    from napari_selfdiff.plan.policy import plan_run

    expected = plan.expected_time(config.restore_iterations, workers)
    if plan.mode != "3d" or not plan.regions:
        return expected
    side = min(plan.region_size, *plan.shape[3:])
    column = np.zeros((plan.shape[2], side, side), np.float32)  # its shape is what counts:
    column.flat[0] = 1.0  # nothing is run on it (a constant image is refused)
    problem = make_problem(column, plan.kernel_shape, "ZYX")
    run = plan_run(
        problem, replace(config, stack_mode="3d"), device=device, z_step=z_spacing,
        pixel_size=None if pixel_size is None else pixel_size[1],
    )  # fmt: skip
    return replace(expected, psf=plan.shape[1] * estimate_run(run, len(column), 1).seconds)


def _check_region(region: Region, shape: tuple[int, ...], kernel_size: int) -> Region:
    """A user's (top, left, height, width) rectangle, checked against the image."""
    try:
        top, left, height, width = (int(v) for v in region)
    except (TypeError, ValueError):
        raise InputError(f"`region` must be (top, left, height, width), got {region!r}") from None
    rows, cols = shape[-2:]
    if top < 0 or left < 0 or top + height > rows or left + width > cols:
        raise InputError(f"`region` {region} lies outside the {rows} x {cols} image")
    if min(height, width) < 4 * kernel_size:
        raise InputError(
            f"`region` must be at least 4 kernel sizes ({4 * kernel_size} px) on each side, got {region}"
        )
    return top, left, height, width


def units(plan: LargePlan) -> list[tuple[int, int, int | None]]:
    """The units of work in output order: (t, c, z) planes ("2d") or (t, c, None) volumes ("3d")."""
    t, c, z = plan.shape[:3]
    if plan.mode == "3d":
        return [(ti, ci, None) for ti in range(t) for ci in range(c)]
    return [(ti, ci, zi) for ti in range(t) for ci in range(c) for zi in range(z)]


def iter_restore_unit(
    image: LazyImage,
    unit: tuple[int, int, int | None],
    channel: ChannelPsf,
    plan: LargePlan,
    config: DeblurConfig,
    emit: Callable[[np.ndarray], None],
    *,
    noise: NoiseModel | None = None,
    dtype: Any = np.float32,
    device: Any = None,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, None]:
    """Restore one unit (a plane, or a volume) in tiles; ``emit`` each output plane in z order.

    "2d": the plane's intensity map, noise (``noise`` or estimated from the plane), lower
    bound, TV weight and reference variance are fitted on the whole plane, so that every tile
    solves the same problem as the whole-plane restoration of
    :func:`~napari_selfdiff.blind.guarded.restore_guarded`. "3d": one intensity map for the
    volume (fitted on every fourth pixel of each plane), 3D RL-TV per tile with
    ``config.restore_iterations`` and ``config.restore_tv_weight``.
    """
    t, c, z = unit
    dtype = np.dtype(dtype)
    if plan.mode == "2d":
        values = image.data[t, c, z].astype(np.float64)
        restore, floor = _tv_settings(values, channel, noise)
        source = values[None]
    else:
        source = _VolumeView(image, t, c)
        restore, floor = _rl_settings(image, t, c, channel, config, device, cancel)

    def finished(_: int, plane: np.ndarray) -> None:
        if floor is not None:
            plane = np.maximum(plane, floor)
        emit(to_dtype(plane, None if dtype == np.float32 else dtype))

    yield from iter_restore_tiled(source, restore, plan.tiles(), finished, start=start, cancel=cancel)


class _VolumeView:
    """``image.data[t, c]`` as a (Z, Y, X) array-like read only where sliced."""

    def __init__(self, image: LazyImage, t: int, c: int) -> None:
        self.image, self.t, self.c = image, t, c
        self.shape = image.shape[2:]

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        return self.image.data[(self.t, self.c, *key)]


def _tv_settings(
    values: np.ndarray, channel: ChannelPsf, noise: NoiseModel | None
) -> tuple[Callable[[np.ndarray], np.ndarray], float | None]:
    """The tile restoration of one plane with the plane's settings, and its floor (input units)."""
    mapping = IntensityMap.fit(values)
    model = estimate_noise(values) if noise is None else noise
    floor = physical_floor(values, model, given=noise is not None)
    lower = None if floor is None else float(mapping.forward(floor))
    mapped_noise = mapping.noise(model)
    working = mapping.forward(values)
    weight, reference = tv_weight(mapped_noise, working), mean_variance(working, mapped_noise)
    psf = channel.psf if channel.deconvolved else np.ones((1, 1))

    def restore(block: np.ndarray) -> np.ndarray:
        out = restore_tv(
            mapping.forward(block[0]),
            psf,
            mapped_noise,
            weight=weight,
            reference_variance=reference,
            lower=lower,
        )
        return mapping.inverse(out)[None]

    return restore, floor


def _rl_settings(
    image: LazyImage,
    t: int,
    c: int,
    channel: ChannelPsf,
    config: DeblurConfig,
    device: Any,
    cancel: threading.Event | None,
) -> tuple[Callable[[np.ndarray], np.ndarray], float | None]:
    """The tile restoration of one volume by 3D RL-TV with the volume's intensity map."""
    sample = np.stack([image.data[t, c, z, ::4, ::4] for z in range(image.shape[2])]).astype(np.float64)
    mapping, non_negative = IntensityMap.fit(sample), bool(sample.min() >= 0)
    del sample
    if not channel.deconvolved:
        return (lambda block: block), None
    import torch

    from napari_selfdiff.blind.selfdiff.volume_run import rl_in_working_range
    from napari_selfdiff.resources import resolve_device

    kernel = torch.as_tensor(channel.psf, dtype=torch.float32, device=resolve_device(device))

    def restore(block: np.ndarray) -> np.ndarray:
        return rl_in_working_range(block, kernel, mapping, non_negative, config, cancel)

    return restore, None


def iter_deblur_large(
    image: LazyImage,
    plan: LargePlan,
    writer: Any,
    config: DeblurConfig | None = None,
    *,
    region: Region | None = None,
    noise: NoiseModel | None = None,
    psfs: list[np.ndarray] | None = None,
    keep_dtype: bool = False,
    seed: int = 0,
    device: Any = None,
    cancel: threading.Event | None = None,
    restore_units: Callable[..., Any] | None = None,
) -> Generator[Progress, None, LargeResult]:
    """Blind deconvolution of large data: PSFs from regions, restoration in tiles, written as produced.

    Parameters
    ----------
    image : LazyImage
        The data, opened lazily (:func:`napari_selfdiff.io.lazy.open_lazy` or ``lazy_array``).
    plan : LargePlan
        From :func:`napari_selfdiff.plan.large.plan_large` for ``image.shape``.
    writer : object
        Receives each output plane in (T, C, Z) order by ``writer.write(plane)``
        (:func:`napari_selfdiff.io.stream.open_writer`); committing it is the caller's.
    config : DeblurConfig, optional
        The classic estimator, guard and 3D settings; default ``DeblurConfig()``.
    region : tuple of int, optional
        (top, left, height, width) of the rectangle to estimate the PSF on, instead of the
        automatically chosen regions.
    noise : NoiseModel, optional
        The camera's noise in the data's units; estimated per plane when None.
    psfs : list of numpy.ndarray, optional
        A known PSF per channel (non-blind: no estimate, no guard).
    keep_dtype : bool
        Write the input's dtype (rounded, clipped) instead of float32.
    seed : int
        Seed of the 3D estimate.
    device : str, optional
        Where the 3D run computes ("auto", "cpu", "cuda").
    cancel : threading.Event, optional
        Set it to stop the run within one tile; :class:`Cancelled` is raised.
    restore_units : callable, optional
        ``restore_units(plan, units, channels) -> iterator of (unit, planes)`` in order: another
        executor of :func:`iter_restore_unit` (Dask, :mod:`napari_selfdiff.batch.large`).

    Yields
    ------
    Progress
        Part 0 the PSF estimates, part 1 the restoration (one event per tile).

    Returns
    -------
    LargeResult
    """
    config = DeblurConfig() if config is None else config
    if tuple(image.shape) != plan.shape:
        raise InputError(f"the plan is for shape {plan.shape}, the image has {image.shape}")
    if psfs is None and region is None and plan.regions == 0:
        raise InputError("the plan estimates no PSF (regions=0): pass `psfs`, a `region`, or plan regions")
    start = time.perf_counter()
    n_channels = plan.shape[1]
    channels = []
    for c in range(n_channels):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the run was cancelled")
        if psfs is not None:
            channels.append(ChannelPsf(np.asarray(psfs[c], np.float32), (), (), float("nan"), True, "given"))
            continue
        found = yield from renumbered(
            _relabel(estimate_channel_psf(
                image, c, plan, config, region=region, noise=noise, seed=seed, device=device,
                start=start, cancel=cancel,
            ), c, n_channels),
            0, 2, "estimate_psf",
        )  # fmt: skip
        channels.append(found)
    dtype = image.dtype if keep_dtype else np.dtype(np.float32)
    work = units(plan)
    if restore_units is not None:
        for index, (_, planes) in enumerate(restore_units(plan, work, channels)):
            for plane in planes:
                writer.write(plane)
            yield Progress(index, len(work), 1, 1, 1, 1, float("nan"), time.perf_counter() - start,
                           stage="restore", part=1, n_parts=2)  # fmt: skip
    else:
        for index, unit in enumerate(work):
            run = iter_restore_unit(
                image, unit, channels[unit[1]], plan, config, writer.write, noise=noise, dtype=dtype,
                device=device, start=start, cancel=cancel,
            )  # fmt: skip
            for event in run:
                yield Progress(index, len(work), 1, 1, event.inner, event.n_inner, float("nan"),
                               event.elapsed, stage="restore", part=1, n_parts=2)  # fmt: skip
    return LargeResult(plan, tuple(channels), time.perf_counter() - start, seed, config.to_dict())


def deblur_large(
    source: Any,
    kernel_size: int | tuple[int, int, int],
    output: Any,
    config: DeblurConfig | None = None,
    *,
    axes: str | None = None,
    memory_limit: int | None = None,
    tile: int | None = None,
    regions: int = 4,
    region_size: int = 256,
    region: Region | None = None,
    noise: NoiseModel | None = None,
    psfs: list[np.ndarray] | None = None,
    keep_dtype: bool = False,
    seed: int = 0,
    device: Any = None,
    overwrite: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[Progress], Any] | None = None,
    on_plan: Callable[[LargePlan], None] | None = None,
    restore_units: Callable[..., Any] | None = None,
) -> LargeResult:
    """Deblur a large TIFF, OME-Zarr or array into a TIFF or OME-Zarr, in bounded memory.

    Opens ``source`` lazily (:func:`~napari_selfdiff.io.lazy.open_lazy`, or
    :func:`~napari_selfdiff.io.lazy.lazy_array` for an array), plans the run
    (:func:`~napari_selfdiff.plan.large.plan_large`), runs :func:`iter_deblur_large` and
    commits the output, written plane by plane (:func:`~napari_selfdiff.io.stream.open_writer`).

    Parameters
    ----------
    source : path-like or array-like
        A TIFF file, an OME-Zarr folder, or an array (NumPy, memory map, Zarr, Dask).
    kernel_size : int or tuple of int
        Odd PSF side K (2D mode: each plane restored with its channel's PSF), or (kz, k, k)
        (3D mode).
    output : path-like
        ``.tif`` or ``.zarr`` to write.
    config : DeblurConfig, optional
        Estimator, guard and 3D settings (default ``DeblurConfig()``).
    axes : str, optional
        An array ``source``'s axes (letters of "TCZYX"); files say their own.
    memory_limit, tile, regions, region_size
        As in :func:`~napari_selfdiff.plan.large.plan_large`.
    region, noise, psfs, keep_dtype, seed, device, cancel, restore_units
        As in :func:`iter_deblur_large`.
    overwrite : bool
        Replace an existing output.
    progress : callable, optional
        Receives each :class:`Progress` event; returning False cancels the run.
    on_plan : callable, optional
        Receives the :class:`LargePlan` before any work (the CLI prints it).

    Returns
    -------
    LargeResult
        The plan, each channel's PSF with its regions and agreement, and the time.

    Raises
    ------
    InputError
        The source cannot be read or its axes mapped, or ``region`` is outside the image.
    ValueError
        No tile fits ``memory_limit``.
    FileExistsError
        ``output`` exists and ``overwrite`` is false.
    Cancelled
        The run was cancelled (nothing is left at ``output``).
    """
    from napari_selfdiff.io.lazy import lazy_array, open_lazy
    from napari_selfdiff.io.stream import open_writer
    from napari_selfdiff.plan.large import plan_large

    image = lazy_array(source, axes) if hasattr(source, "shape") else open_lazy(source)
    with image:
        three_d = isinstance(kernel_size, tuple)
        kernel = tuple(kernel_size) if three_d else (1, int(kernel_size), int(kernel_size))
        plan = plan_large(
            image.shape, kernel, "3d" if three_d else "2d", memory_limit=memory_limit, tile=tile,
            regions=0 if psfs is not None else regions, region_size=region_size,
        )  # fmt: skip
        if on_plan is not None:
            on_plan(plan)
        writer = open_writer(
            output, image.shape, image.axes, image.dtype if keep_dtype else np.float32,
            pixel_size=image.pixel_size, z_spacing=image.z_spacing,
            provenance={"input": image.source, "plan": plan.describe()}, overwrite=overwrite,
        )  # fmt: skip
        try:
            run = iter_deblur_large(
                image, plan, writer, config, region=region, noise=noise, psfs=psfs, keep_dtype=keep_dtype,
                seed=seed, device=device, cancel=cancel, restore_units=restore_units,
            )  # fmt: skip
            result = drive(run, progress)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return result


def _relabel(run: Generator[Progress, None, Any], channel: int, count: int) -> Generator[Progress, None, Any]:
    """The events of one channel's estimate placed among the channels' (``plane`` of ``n_planes``)."""

    def placed(event: Progress) -> Progress:
        done = round(1000 * event.fraction)
        return replace(event, plane=channel, n_planes=count, step=1, n_steps=1, inner=done, n_inner=1000,
                       batch=None, part=0, n_parts=1, psf=None, image=None)  # fmt: skip

    return (yield from relay(run, placed))
