"""Robust affine map of input intensities to the solver's [0, 1] working range and back.

The image network ends in a sigmoid, so the sharp estimate lives in (0, 1). The
observation is mapped so that its 0.01 % and 99.99 % quantiles land on ``margin`` and
``1 - margin``: a few hot pixels do not compress the contrast, and the sharp image
(whose range exceeds the blurred one, since blur averages) has head-room on both sides.
The inverse map returns the estimate to the input's intensity units; nothing is
clipped except when an integer dtype is requested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
            from ..errors import InputError

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


def to_dtype(values: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    """Cast a float result to ``dtype`` (float32 when None); integers are rounded and clipped."""
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    return values.astype(np.float32)
