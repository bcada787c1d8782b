"""Robust affine map of input intensities to the solver's [0, 1] working range and back.

The image network ends in a sigmoid, so the sharp estimate lives in (0, 1). The
observation is mapped so that its 0.01 % and 99.99 % quantiles land on ``margin`` and
``1 - margin``: a few hot pixels do not compress the contrast, and the sharp image
(whose range exceeds the blurred one, since blur averages) has head-room on both sides.
The inverse map returns the estimate to the input's intensity units; nothing is
clipped except when an integer or float16 dtype is requested (:func:`to_dtype`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from napari_selfdiff.noise import NoiseModel

__all__ = ["IntensityMap", "to_dtype"]

#: Brightest (and darkest) pixels always left out of the range, whatever the image size.
OUTLIER_PIXELS = 4


@dataclass(frozen=True)
class IntensityMap:
    """``normalised = margin + (1 - 2 margin) (value - low) / (high - low)``."""

    low: float
    high: float
    margin: float = 0.1

    @classmethod
    def fit(cls, values: np.ndarray, margin: float = 0.1, quantile: float = 1e-4) -> IntensityMap:
        """Fit the map to the robust range of ``values``; constant images are rejected."""
        quantile = min(max(quantile, OUTLIER_PIXELS / max(values.size, 1)), 0.01)
        low, high = np.quantile(values, [quantile, 1.0 - quantile])
        if not high > low:
            low, high = float(values.min()), float(values.max())
        if not high > low:
            from napari_selfdiff.errors import InputError

            raise InputError(
                f"the image is constant (every pixel equals {low:.6g}): there is nothing to deblur"
            )
        return cls(float(low), float(high), margin)

    @property
    def gain(self) -> float:
        return (1.0 - 2.0 * self.margin) / (self.high - self.low)

    def forward(self, values: np.ndarray) -> np.ndarray:
        return self.margin + (values - self.low) * self.gain

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return self.low + (values - self.margin) / self.gain

    def noise(self, model: NoiseModel) -> NoiseModel:
        """``model`` (input units) in the working range: the noise of :meth:`forward`'s output."""
        return model.scaled(self.gain, self.margin - self.low * self.gain)


def to_dtype(values: np.ndarray, dtype: np.dtype | None, what: str = "result") -> np.ndarray:
    """Cast a float result to ``dtype`` (float32 when None); integers are rounded and clipped.

    A non-finite result raises :class:`~napari_selfdiff.errors.NumericalError` instead of
    being returned. Values beyond a float dtype's range (float16: 65504) are clipped to it
    with a warning rather than becoming infinite.
    """
    from napari_selfdiff.errors import NumericalError

    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:
        raise NumericalError(
            f"the {what} has {bad} NaN or infinite value(s) of {values.size}: the computation "
            "overflowed; rescale the input (e.g. to [0, 1]) and try again"
        )
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        # float(info.max) of a 64-bit integer rounds up past it (2**64 - 1 -> 2**64): the float below.
        high = float(info.max) if float(info.max) <= info.max else np.nextafter(float(info.max), 0.0)
        return np.clip(np.rint(values), info.min, high).astype(dtype)
    if dtype.kind != "f":
        return values.astype(np.float32)
    limit = float(np.finfo(dtype).max)
    outside = int(np.count_nonzero(np.abs(values) > limit))
    if outside:
        warnings.warn(
            f"{outside} value(s) of the {what} lie beyond {dtype}'s range (+-{limit:.6g}) and were "
            "clipped to it; leave keep_dtype off for a float32 result",
            RuntimeWarning,
            stacklevel=3,
        )
        values = np.clip(values, -limit, limit)
    return values.astype(dtype)
