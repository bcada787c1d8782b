"""What a run yields (:class:`Progress`) and returns (:class:`DeblurResult`), and the drain helper.

Every stage of a run is a generator of :class:`Progress` events; :func:`renumbered` places a
stage's events as part ``part`` of ``n_parts`` of the whole run, and :func:`drive` drains a run
for callers that want only its result.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from napari_selfdiff.errors import Cancelled
from napari_selfdiff.optics.aberrations import Aberrations

__all__ = [
    "DeblurResult",
    "Multiscale",
    "Progress",
    "ProgressCallback",
    "StepRecord",
    "Tiling",
    "drive",
    "renumbered",
]

Returned = TypeVar("Returned")

#: Names of the stages a run reports (:attr:`Progress.stage`).
Stage = Literal["estimate_psf", "refit_psf", "restore", "tile", "deconvolve", "fit_pupil"]


#: What a result's ``psf`` holds (:class:`DeblurResult`).
PsfKind = Literal["2d", "per-plane", "3d"]
#: What a result's ``reliability`` measures (:class:`DeblurResult`).
ReliabilityMeasure = Literal["agreement", "containment", "likelihood-ratio"]


@dataclass(frozen=True)
class Progress:
    """One progress event of a run.

    ``plane``/``n_planes`` count the plane groups of the stage that yields it (in the per-plane
    stack mode a group is one plane), ``batch`` = (first group, count) the groups solved
    together in the batch the event comes from (None: the group ``plane`` alone), ``part``/
    ``n_parts`` the sub-runs of the whole run (stages, tiles) and ``stage`` names the sub-run.
    ``image`` and ``psf`` are set only at the end of an outer step (live previews); ``image`` is
    the current estimate of the current plane, in input intensities, with the (H, W) or
    (H, W, C) layout of one plane.
    """

    plane: int
    n_planes: int
    step: int
    n_steps: int
    inner: int
    n_inner: int
    loss: float
    elapsed: float
    sigma: float = 0.0
    image: np.ndarray | None = None
    psf: np.ndarray | None = None
    psnr: float | None = None
    ssim: float | None = None
    stage: str = "estimate_psf"
    part: int = 0
    n_parts: int = 1
    batch: tuple[int, int] | None = None

    @property
    def stage_fraction(self) -> float:
        """Fraction of the current sub-run (``part``) done, in [0, 1]."""
        per_plane = self.n_steps * self.n_inner
        first, count = self.batch if self.batch is not None else (self.plane, 1)
        done = first * per_plane + count * ((self.step - 1) * self.n_inner + self.inner)
        return min(done / max(self.n_planes * per_plane, 1), 1.0)

    @property
    def fraction(self) -> float:
        """Fraction of the whole run done, in [0, 1] (every sub-run counted as equal)."""
        return (self.part + self.stage_fraction) / max(self.n_parts, 1)

    @property
    def remaining(self) -> float:
        """Estimated seconds left, from the elapsed time and the fraction done."""
        fraction = self.fraction
        return self.elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")


ProgressCallback = Callable[[Progress], "bool | None"]


@dataclass(frozen=True)
class StepRecord:
    """What happened in one outer step of one plane (one point of the evolution curves)."""

    plane: int
    step: int
    sigma: float
    loss: float
    seconds: float
    psnr: float | None = None
    ssim: float | None = None
    mnc: float | None = None
    iterations: int = 0


@dataclass(frozen=True)
class Multiscale:
    """How a run at reduced scale found its PSF.

    ``factor``: the reduction; ``kernel_size``: the reduced PSF's side; ``window``: (top,
    left, height, width) of the full-resolution region the PSF was estimated on; ``psf``: the
    reduced PSF; ``psf_refit``: whether it was refitted at full resolution.
    """

    factor: int
    kernel_size: int
    window: tuple[int, int, int, int]
    psf: np.ndarray
    psf_refit: bool

    def to_dict(self) -> dict[str, Any]:
        top, left, height, width = self.window
        return {
            "factor": self.factor,
            "kernel_size": self.kernel_size,
            "window": {"top": top, "left": left, "height": height, "width": width},
            "psf": np.asarray(self.psf).tolist(),
            "psf_refit": self.psf_refit,
        }


@dataclass(frozen=True)
class Tiling:
    """The tiles of a run retried in tiles after running out of memory."""

    tile: int
    overlap: int


@dataclass(frozen=True)
class DeblurResult:
    """Output of a blind or non-blind deconvolution run.

    Attributes
    ----------
    image : numpy.ndarray
        The sharp estimate with the input's shape (float32 unless the dtype was kept).
    psf : numpy.ndarray
        (K, K) PSF, non-negative, unit sum, float32; (Z, K, K) for stacks solved per plane.
    history : list of StepRecord
        Loss and time per outer step (PSNR/SSIM/MNC when scored).
    config : dict
        The full configuration (``DeblurConfig.to_dict()`` or the non-blind parameters).
    seed, device, seconds, method
        Seed, device in words, wall-clock time and method of the run.
    restore : str or None
        How the image was made: ``"network"`` or ``"richardson_lucy"`` (blind runs).
    plan : str or None
        The run plan in words (:meth:`napari_selfdiff.plan.policy.RunPlan.describe`).
    multiscale, tiling : optional
        Set when the PSF was estimated at reduced scale, or the run was tiled.
    noise : dict or None
        The noise model used by the noise-aware restoration (input intensities; of the first
        plane group): ``gain``, ``offset``, ``read_variance``.
    reliability : float or None
        Do no harm: how far the PSF can be trusted, measured as ``reliability_measure`` says;
        None when not measured (``restore`` other than "tv" in 2D).
    reliability_measure : {"agreement", "containment", "likelihood-ratio"} or None
        ``"agreement"`` (2D), in [0, 1]: the lowest MNC (1 = identical) of a plane group's
        classic PSF with an independent classic estimate in a wider box. ``"containment"``
        (self-diffusion's 3D PSF), in [0, 1]: ``1 -`` the share of the PSF's focal-plane light
        in its box's one-pixel rim. ``"likelihood-ratio"`` (the physical pupil fit, >= 0): the
        fit's likelihood-ratio statistic against the aberration-free pupil
        (:mod:`napari_selfdiff.blind.pupil3d`).
    psf_kind : {"2d", "per-plane", "3d"}
        What ``psf`` holds: one (K, K) PSF; (Z, K, K), a 2D PSF per plane of a stack solved plane
        by plane; or one (kz, k, k) 3D PSF of the whole stack.
    deconvolved : bool or None
        False when the guard found a PSF unreliable and that group was only denoised.
    aberrations : list of Aberrations or None
        With the Zernike kernel model: the pupil found for each plane group
        (:class:`~napari_selfdiff.optics.aberrations.Aberrations`).
    scores : dict
        Final scores of the returned image and PSF, when the run was scored.
    """

    image: np.ndarray
    psf: np.ndarray
    history: list[StepRecord]
    config: dict[str, Any]
    seed: int
    device: str
    seconds: float
    method: str = "selfdiff"
    axes: str = ""
    kernel_size: int | None = None
    restore: str | None = None
    plan: str | None = None
    compute: dict[str, Any] | None = None
    multiscale: Multiscale | None = None
    tiling: Tiling | None = None
    scores: dict[str, float] = field(default_factory=dict)
    noise: dict[str, float] | None = None
    reliability: float | None = None
    deconvolved: bool | None = None
    aberrations: list[Aberrations] | None = None
    psf_kind: PsfKind = "2d"
    reliability_measure: ReliabilityMeasure | None = None

    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable provenance: method, config, seed, device, time, plan and history."""
        record: dict[str, Any] = {
            "method": self.method,
            "config": self.config,
            "seed": self.seed,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "history": [record.__dict__ for record in self.history],
            "axes": self.axes,
            "psf_kind": self.psf_kind,
        }
        optional = {
            "kernel_size": self.kernel_size,
            "restore": self.restore,
            "plan": self.plan,
            "compute": self.compute,
            "multiscale": self.multiscale.to_dict() if self.multiscale else None,
            "tiling": dataclasses.asdict(self.tiling) if self.tiling else None,
            "scores": self.scores or None,
            "noise": self.noise,
            "reliability": None if self.reliability is None else round(self.reliability, 4),
            "reliability_measure": self.reliability_measure,
            "deconvolved": self.deconvolved,
            "aberrations": [a.to_dict() for a in self.aberrations] if self.aberrations else None,
        }
        record.update({key: value for key, value in optional.items() if value is not None})
        return record


def relay(
    run: Generator[Any, None, Returned], change: Callable[[Any], Any]
) -> Generator[Any, None, Returned]:
    """Yield ``change(event)`` for each event of ``run``; return its result; closing closes ``run``."""
    with contextlib.closing(run):
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                return stop.value
            yield change(event)


def renumbered(
    run: Generator[Progress, None, Returned], part: int, parts: int, stage: str | None = None
) -> Generator[Progress, None, Returned]:
    """Pass on the events of ``run`` as part ``part`` of ``parts`` sub-runs; return its result.

    ``part``/``n_parts`` (and ``stage`` when given) are set, so :attr:`Progress.fraction` keeps
    rising across a run made of several sub-runs (tiles, stages). Closing this generator
    closes ``run``.
    """
    changes: dict[str, Any] = {"part": part, "n_parts": parts}
    if stage is not None:
        changes["stage"] = stage
    return (yield from relay(run, lambda event: dataclasses.replace(event, **changes)))


def drive(run: Generator[Any, None, Any], progress: ProgressCallback | None = None) -> Any:
    """Drain a run (any generator of events), passing each event to ``progress``; return its result.

    The callback may return False to cancel: the generator is closed and
    :class:`~napari_selfdiff.errors.Cancelled` is raised.
    """

    def report(event: Progress) -> Progress:
        if progress is not None and progress(event) is False:
            raise Cancelled("the run was cancelled by the progress callback")
        return event

    result: list[Any] = []

    def collect() -> Generator[Progress, None, None]:
        result.append((yield from relay(run, report)))

    for _ in collect():
        pass
    return result[0]
