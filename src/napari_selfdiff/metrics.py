"""Image and kernel quality metrics with the blind-deblurring evaluation convention.

A blind estimate is only defined up to a translation (shifting the kernel shifts the
image the other way), so PSNR and SSIM are taken at the best integer shift within
``max_shift`` pixels, ignoring a border (Levin et al., CVPR 2009). Kernel accuracy is
the maximum of the normalised cross-correlation (MNC) over all relative shifts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve
from skimage.metrics import structural_similarity

__all__ = ["AlignedScore", "aligned_scores", "ground_truth_scorer", "mnc", "psnr"]


def psnr(estimate: np.ndarray, reference: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(range^2 / MSE)``."""
    mse = float(np.mean((np.asarray(estimate, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


@dataclass(frozen=True)
class AlignedScore:
    """PSNR/SSIM of an estimate at its best integer shift against the reference."""

    psnr: float
    ssim: float
    shift: tuple[int, int]


def aligned_scores(
    estimate: np.ndarray,
    reference: np.ndarray,
    *,
    max_shift: int,
    border: int | None = None,
    data_range: float = 1.0,
) -> AlignedScore:
    """PSNR and SSIM of ``estimate`` at the integer shift (|dy|, |dx| <= max_shift) of best PSNR.

    Both images are (H, W) or (H, W, C). A border of ``border`` pixels (default
    ``max_shift``) is ignored on every side of the reference.
    """
    est = np.asarray(estimate, np.float64)
    ref = np.asarray(reference, np.float64)
    if est.shape != ref.shape:
        raise ValueError(f"estimate shape {est.shape} differs from reference shape {ref.shape}")
    border = max_shift if border is None else border
    h, w = ref.shape[:2]
    inner = (slice(border, h - border), slice(border, w - border))
    ref_inner = ref[inner]
    best = (-np.inf, (0, 0))
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            window = (slice(border + dy, h - border + dy), slice(border + dx, w - border + dx))
            value = psnr(est[window], ref_inner, data_range)
            if value > best[0]:
                best = (value, (dy, dx))
    dy, dx = best[1]
    window = (slice(border + dy, h - border + dy), slice(border + dx, w - border + dx))
    channel_axis = -1 if est.ndim == 3 else None
    ssim = structural_similarity(est[window], ref_inner, data_range=data_range, channel_axis=channel_axis)
    return AlignedScore(psnr=float(best[0]), ssim=float(ssim), shift=(dy, dx))


def mnc(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Maximum normalised cross-correlation of two kernels over all relative shifts.

    ``max_s <k1, shift_s(k2)> / (||k1|| ||k2||)``, in [0, 1] for non-negative kernels; 1 means
    equal up to a translation. The kernels may have different sizes; 2D or 3D (both the same).
    """
    a = np.asarray(estimate, np.float64)
    b = np.asarray(reference, np.float64)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0:
        return 0.0
    correlation = fftconvolve(a, np.flip(b), mode="full")
    return float(correlation.max() / norm)


def ground_truth_scorer(
    truth: np.ndarray | None, true_psf: np.ndarray | None, kernel_size: int
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]] | None:
    """An ``evaluate(estimate, psf, members)`` callback scoring against a ground truth.

    ``truth`` holds the sharp image's (Z, C, H, W) planes (PSNR/SSIM at the best shift within
    half a kernel, averaged over the planes of the group ``members``); ``true_psf`` the PSF
    (MNC). None when neither is given.
    """
    if truth is None and true_psf is None:
        return None
    span = float(np.ptp(truth)) or 1.0 if truth is not None else 1.0

    def one_plane(planes: np.ndarray) -> np.ndarray:
        return planes[0] if planes.shape[0] == 1 else np.moveaxis(planes, 0, -1)

    def evaluate(estimate: np.ndarray, psf: np.ndarray, members: np.ndarray) -> dict[str, float]:
        scores: dict[str, float] = {}
        if truth is not None:
            values = [
                aligned_scores(one_plane(est), one_plane(ref), max_shift=kernel_size // 2, data_range=span)
                for est, ref in zip(estimate, truth[members], strict=True)
            ]
            scores["psnr"] = float(np.mean([v.psnr for v in values]))
            scores["ssim"] = float(np.mean([v.ssim for v in values]))
        if true_psf is not None:
            scores["mnc"] = mnc(psf, true_psf)
        return scores

    return evaluate
