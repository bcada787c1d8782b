"""What values an input array may hold: dtype, finiteness, magnitude, and the host memory it needs.

Part of the boundary checks of :mod:`._checks` (import them from there); every message names the
value, the rule and the fix.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .errors import InputError

__all__ = [
    "BLIND_HOST_BYTES_PER_PIXEL",
    "HOST_BYTES_PER_PIXEL",
    "MAX_MAGNITUDE",
    "MIN_MAGNITUDE",
    "NanPolicy",
    "check_dtype",
    "check_host_memory",
    "check_values",
]

NanPolicy = Literal["raise", "replace"]

#: Largest magnitude accepted: results are computed and returned in float32 (max 3.4e38),
#: with head-room for deconvolution's overshoot.
MAX_MAGNITUDE = 1e30
#: Smallest largest-magnitude accepted for a non-zero image (float32's normal range ends at 1.2e-38).
MIN_MAGNITUDE = 1e-30
#: Host bytes per pixel of the input a run holds at its peak: a non-blind run or a blur (the
#: float64 planes and a few working copies), and a blind one (measured: 352 B/px peak RSS for the
#: default pipeline, classic PSF and guarded TV restoration, on a 1024 x 1024 image on the CPU).
#: The input is refused before its first float64 copy when they exceed the free host memory.
HOST_BYTES_PER_PIXEL = 64
BLIND_HOST_BYTES_PER_PIXEL = 384


def check_dtype(image: np.ndarray, what: str) -> None:
    kind = image.dtype.kind
    if kind == "b":
        raise TypeError(
            f"`{what}` has boolean dtype: deblurring needs intensities; convert it with "
            f"{what}.astype(np.float32) if that is intended"
        )
    if kind == "c":
        raise TypeError(
            f"`{what}` has complex dtype {image.dtype}: pass a real intensity image (e.g. np.abs(image))"
        )
    if kind in "mM":
        raise TypeError(f"`{what}` has dtype {image.dtype} (dates or durations), not intensities")
    if kind not in "uif":
        raise TypeError(f"`{what}` must have a numeric dtype, got {image.dtype}")
    if image.size == 0:
        raise InputError(f"`{what}` is empty (shape {image.shape})")


def check_host_memory(image: np.ndarray, what: str, per_pixel: int) -> None:
    from ._host import free_host_memory

    free = free_host_memory()
    needed = image.size * per_pixel
    if free is not None and needed > free:
        from .errors import OutOfMemory

        raise OutOfMemory(
            f"`{what}` of shape {image.shape} ({image.size / 1e6:.0f} Mpixel) needs about "
            f"{needed / 1024**3:.1f} GiB of host memory for its working copies, {free / 1024**3:.1f} GiB "
            "free: deblur a crop, or a binned image"
        )


def check_values(image: np.ndarray, mask: np.ndarray | None, what: str, nan_policy: NanPolicy) -> np.ndarray:
    """``image`` as float64, NaN/Inf (and masked) pixels refused or replaced, magnitude checked."""
    bad = ~np.isfinite(image) if image.dtype.kind == "f" else None
    if mask is not None and mask.any():
        bad = mask if bad is None else bad | mask
    n_bad = 0 if bad is None else int(np.count_nonzero(bad))
    if n_bad and nan_policy != "replace":
        masked = "" if mask is None else " (or masked)"
        raise InputError(
            f"`{what}` has {n_bad} NaN or infinite{masked} pixel(s) of {image.size}: clean them, or "
            "pass nan_policy='replace' (CLI: --nan-policy replace) to fill them with the median of "
            "the other pixels"
        )
    if n_bad == image.size:
        raise InputError(f"`{what}` has no finite pixel at all ({n_bad} NaN, infinite or masked)")
    values = image.astype(np.float64, copy=bool(n_bad))
    if n_bad:
        values[bad] = np.median(values[~bad])
    magnitude = max(abs(float(values.min())), abs(float(values.max())))
    if magnitude > MAX_MAGNITUDE or 0 < magnitude < MIN_MAGNITUDE:
        raise InputError(
            f"`{what}` has values up to {magnitude:.3g} in magnitude, outside the range results are "
            f"computed and returned in ({MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g}, float32): multiply "
            "it by a constant first (the result scales with it)"
        )
    return values
