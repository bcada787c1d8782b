"""Small frozen records the solvers yield (progress) and return (results)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ..errors import Cancelled

__all__ = ["Cancelled", "DeblurResult", "Progress", "StepRecord", "renumbered"]

Returned = TypeVar("Returned")


@dataclass(frozen=True)
class Progress:
    """One progress event of a solver run.

    ``image`` and ``psf`` are set only at the end of an outer step (live previews);
    ``image`` is the current estimate of the current plane, in input intensities, with
    the (H, W) or (H, W, C) layout of one plane.
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

    @property
    def fraction(self) -> float:
        """Fraction of the whole run done, in [0, 1]."""
        per_plane = self.n_steps * self.n_inner
        done = self.plane * per_plane + (self.step - 1) * self.n_inner + self.inner
        return done / max(self.n_planes * per_plane, 1)

    @property
    def remaining(self) -> float:
        """Estimated seconds left, from the elapsed time and the fraction done."""
        fraction = self.fraction
        return self.elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")


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
class DeblurResult:
    """Output of a blind or non-blind deconvolution run.

    Attributes
    ----------
    image : numpy.ndarray
        The sharp estimate with the input's shape (float32 unless the dtype was kept).
    psf : numpy.ndarray
        (K, K) PSF, non-negative, unit sum, float32; (Z, K, K) for stacks solved per plane.
    history : list of StepRecord
        Loss and time per outer step (PSNR/SSIM/MNC when a ground truth was given).
    config : dict
        The full configuration (``DeblurConfig.to_dict()`` or the non-blind parameters).
    seed : int
        Seed of the run.
    device : str
        The device the run used, in words.
    seconds : float
        Wall-clock time of the run.
    """

    image: np.ndarray
    psf: np.ndarray
    history: list[StepRecord]
    config: dict[str, Any]
    seed: int
    device: str
    seconds: float
    method: str = "selfdiff-blind"
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable provenance: method, config, seed, device, time and history."""
        return {
            "method": self.method,
            "config": self.config,
            "seed": self.seed,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "history": [record.__dict__ for record in self.history],
            **self.extra,
        }


def renumbered(
    run: Generator[Progress, None, Returned], part: int, parts: int
) -> Generator[Progress, None, Returned]:
    """Pass on the events of ``run`` as part ``part`` of ``parts`` sub-runs; return its result.

    ``plane``/``n_planes`` are set to count the sub-runs, so :attr:`Progress.fraction` keeps
    rising across a run made of several solver runs (tiles, stages). Closing this generator
    closes ``run``.
    """
    with contextlib.closing(run):
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                return stop.value
            yield dataclasses.replace(event, plane=part, n_planes=parts)
