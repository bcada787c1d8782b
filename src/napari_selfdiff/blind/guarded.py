r"""The noise-aware stages: a classic blind PSF estimate, and a restoration that does no harm.

**PSF** (``method="classic"``): the classic estimator ``config.classic.estimator``
(:mod:`.l0` or :mod:`.tv`) on each plane group, averaged over its planes and channels (one PSF
per group, as the self-diffusion estimate gives).

**Restoration** (``restore="tv"``): each plane and channel, mapped to the working range
(:class:`~napari_selfdiff.ops.intensity.IntensityMap`, the noise model mapped with it), is
restored by variance-weighted TV deconvolution with a TV weight set by its noise
(:func:`~napari_selfdiff.restoration.noise_aware.restore_tv`), bounded below where the input
holds a non-negative signal (:func:`physical_floor`); the noise is the user's model, or
estimated from the plane.

**Do no harm.** A blind PSF can be wrong in ways the data term cannot see. Its *reliability*
is the agreement (MNC, :func:`~napari_selfdiff.restoration.noise_aware.kernel_agreement`) of
the PSF with a second opinion (``config.classic.second_opinion``): the other estimator, or the
same one in a wider box. Below ``config.classic.reliable_from`` the group is restored with no
deconvolution (the same TV restoration with a point PSF, i.e. noise removal only) and the
result says so. The evidence: ``docs/benchmarks/validation/README.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_selfdiff.blind.l0 import ClassicBlindStep, iter_estimate_psf_classic
from napari_selfdiff.blind.tv import iter_estimate_psf_tv
from napari_selfdiff.config import ClassicConfig
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.noise import NoiseModel, estimate_noise
from napari_selfdiff.ops.intensity import IntensityMap
from napari_selfdiff.restoration.noise_aware import kernel_agreement, restore_tv
from napari_selfdiff.results import Progress, drive, relay

if TYPE_CHECKING:
    from napari_selfdiff.results import DeblurResult

__all__ = [
    "Guard",
    "classic_psfs",
    "group_image",
    "restore_guarded",
    "verdict",
]


@dataclass(frozen=True)
class Guard:
    """The do-no-harm verdict on one plane group's PSF.

    ``reliability``: MNC of the PSF with the second opinion (1: the same up to a shift);
    ``deconvolved``: False when the group was only denoised because the PSF was not trusted;
    ``noise``: the noise model used, in input intensities, of the group's first plane.
    """

    reliability: float
    deconvolved: bool
    noise: NoiseModel


def group_image(group: np.ndarray) -> np.ndarray:
    """The (H, W) mean over a (Z, C, H, W) group's planes and channels."""
    return group.reshape(-1, *group.shape[-2:]).mean(axis=0)


def _estimate(
    image: np.ndarray,
    kernel_size: int,
    noise: NoiseModel | None,
    classic: ClassicConfig,
    cancel: threading.Event | None,
    estimator: str | None = None,
) -> Generator[tuple[int, int, np.ndarray], None, np.ndarray]:
    """A classic PSF of ``image`` (``classic.estimator`` unless named): yields progress, returns it."""
    iterate = {"l0": iter_estimate_psf_classic, "tv": iter_estimate_psf_tv}[estimator or classic.estimator]
    options = {} if classic.iterations is None else {"iterations": classic.iterations}

    def counted(step: ClassicBlindStep) -> tuple[int, int, np.ndarray]:
        done = (step.level - 1) * step.iterations + step.iteration
        return done, step.levels * step.iterations, step.kernel

    steps = iterate(image, kernel_size, noise, levels=classic.levels, cancel=cancel, **options)
    return (yield from relay(steps, counted))


def classic_psfs(
    planes: np.ndarray,
    groups: list[np.ndarray],
    kernel_size: int,
    noise: NoiseModel | None,
    classic: ClassicConfig,
    *,
    start: float,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, list[np.ndarray]]:
    """One classic blind PSF per plane group of (Z, C, H, W) ``planes``, with progress events."""
    psfs = []
    for index, members in enumerate(groups):

        def event(counted: tuple[int, int, np.ndarray], index: int = index) -> Progress:
            step, steps, kernel = counted
            return Progress(
                index, len(groups), step, steps, 1, 1, float("nan"), time.perf_counter() - start,
                psf=np.asarray(kernel, np.float32),
            )  # fmt: skip

        psf = yield from relay(
            _estimate(group_image(planes[members]), kernel_size, noise, classic, cancel), event
        )
        psfs.append(np.asarray(psf, np.float32))
    return psfs


def second_opinion(
    image: np.ndarray, kernel_size: int, noise: NoiseModel | None, classic: ClassicConfig
) -> np.ndarray:
    """The guard's reference PSF of ``image`` (``classic.second_opinion``: "other" or "wider")."""
    if classic.second_opinion == "other":
        other = "tv" if classic.estimator == "l0" else "l0"
        return drive(_estimate(image, kernel_size, noise, classic, None, other))
    limit = min(image.shape) // 2
    wider = min(kernel_size + classic.second_opinion_margin, limit if limit % 2 else limit - 1)
    return drive(_estimate(image, max(wider, kernel_size), noise, classic, None))


def physical_floor(values: np.ndarray, noise: NoiseModel, *, given: bool) -> float | None:
    """The least intensity a restoration of ``values`` may take, in their units; None: unbounded.

    A camera model given by the user fixes zero signal at its ``offset``. Otherwise an image
    whose darkest pixels are non-negative, or negative by no more than four read-noise
    deviations (photon counts after a background subtraction), holds a non-negative signal:
    its floor is 0. Signed data (a difference image, phase) is left unbounded.
    """
    if given:
        return float(noise.offset)
    darkest = float(np.quantile(values, 1e-3))
    return 0.0 if darkest >= -4.0 * np.sqrt(noise.read_variance) else None


def restore_guarded(
    planes: np.ndarray,
    groups: list[np.ndarray],
    psfs: list[np.ndarray],
    noise: NoiseModel | None,
    classic: ClassicConfig,
    *,
    guard: bool = True,
    measure: bool = True,
    start: float,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, list[Guard]]]:
    """Restore (Z, C, H, W) ``planes`` group by group with the noise-aware TV, under the guard.

    Returns the restored planes (input intensities) and one :class:`Guard` per group; with
    ``guard=False`` every group is deconvolved and its reliability still measured, unless
    ``measure=False`` (then no second opinion is computed and the reliability is NaN).
    """
    restored = np.empty_like(planes)
    verdicts = []
    point = np.ones((1, 1))
    for index, (members, psf) in enumerate(zip(groups, psfs, strict=True)):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the run was cancelled")
        group = planes[members]
        reliability = float("nan")
        if guard or measure:
            reference = second_opinion(group_image(group), psf.shape[-1], noise, classic)
            reliability = kernel_agreement(psf, reference)
        deconvolve = not guard or reliability >= classic.reliable_from
        first_noise = None
        flat = group.reshape(-1, *group.shape[-2:])
        out = np.empty_like(flat)
        for channel, values in enumerate(flat):
            mapping = IntensityMap.fit(values)
            model = estimate_noise(values) if noise is None else noise
            first_noise = model if first_noise is None else first_noise
            floor = physical_floor(values, model, given=noise is not None)
            lower = None if floor is None else float(mapping.forward(floor))
            result = restore_tv(
                mapping.forward(values), psf if deconvolve else point, mapping.noise(model), lower=lower
            )
            result = mapping.inverse(result)
            out[channel] = result if floor is None else np.maximum(result, floor)  # exact after the map
        restored[members] = out.reshape(group.shape)
        verdicts.append(Guard(float(reliability), bool(deconvolve), first_noise))
        yield Progress(
            index, len(groups), 1, 1, 1, 1, float("nan"), time.perf_counter() - start, stage="restore"
        )
    return restored, verdicts


def verdict(result: DeblurResult) -> str | None:
    """What the do-no-harm guard found, in words for the CLI and the widget (None when not measured)."""
    reliability, deconvolved, method = result.reliability, result.deconvolved, result.method
    if reliability is None:
        return None
    if result.reliability_measure == "likelihood-ratio":
        floor = result.config["stack3d"]["evidence_from"]
        if reliability >= floor:
            return f"pupil fit reliable (likelihood ratio {reliability:.0f} >= {floor:g})"
        return (
            f"no aberration found (likelihood ratio {reliability:.1f} < {floor:g}): restored with "
            "the aberration-free PSF of the microscope"
        )
    if result.reliability_measure == "containment":
        floor = result.config["stack3d"]["reliable_from"]
        measure = f"PSF focal plane inside its box {reliability:.2f}"
    else:
        floor = result.config["classic"]["reliable_from"]
        measure = f"PSF agreement {reliability:.2f}"
    if reliability >= floor:
        return f"PSF reliable ({measure} >= {floor})"
    if method == "classic+selfdiff":
        return f"classic PSF unreliable ({measure} < {floor}): self-diffusion's PSF used, check it"
    if not deconvolved:
        return f"PSF UNRELIABLE ({measure} < {floor}): only denoised, not deconvolved"
    return f"PSF UNRELIABLE ({measure} < {floor}): deconvolved anyway (guard off)"
