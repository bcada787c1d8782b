r"""Poisson-Gaussian noise model of an image's intensities, and its estimate from one image.

Fluorescence images are photon-limited: each pixel holds a Poisson number of
photo-electrons, scaled by the camera gain, plus Gaussian read noise. In the image's units

.. math::

    \operatorname{Var}[y \mid I] = a \max(I - o, 0) + b,

with ``a`` the *gain* (variance per unit of intensity above the offset, 0 for pure
Gaussian noise), ``o`` the *offset* (the camera's dark level) and ``b`` the read-noise
variance. Under an affine map of intensities ``J = s I + t`` (the engine normalises
images) the model stays of the same form with ``a' = s a``, ``o' = s o + t``,
``b' = s^2 b`` (:meth:`NoiseModel.scaled`).

:func:`estimate_noise` fits ``a`` and ``b`` from a single image in the manner of Foi et
al. (2008): a 3 x 3 second-difference detail is pure noise where the image is smooth (blur
makes it smooth nearly everywhere), its robust variance is measured per intensity bin of a
smoothed copy, and a weighted least-squares line ``var = a I + b`` is fitted with
``a, b >= 0``.

References
----------
A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical Poissonian-Gaussian noise
modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008,
doi:10.1109/TIP.2008.2001399.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_selfdiff.inputs import InputError

__all__ = ["NoiseModel", "estimate_noise"]

#: 1 / Phi^-1(3/4): the MAD of a normal sample times this is its standard deviation.
MAD_TO_SIGMA = 1.482602218505602


def _finite_at_least(name: str, value: object, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"`{name}` must be a finite number >= {low:g}, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value >= low):
        raise InputError(f"`{name}` must be a finite number >= {low:g}, got {value!r}")
    return value


@dataclass(frozen=True)
class NoiseModel:
    """Poisson-Gaussian noise: ``variance(I) = gain * max(I - offset, 0) + read_variance``.

    Parameters
    ----------
    gain : float
        Variance added per unit of intensity above ``offset`` (the shot noise); 0 for pure
        Gaussian noise. For a camera it is 1 / (electrons per ADU) in ADU.
    offset : float
        Intensity of zero signal (the camera's dark level) in the image's units.
    read_variance : float
        Variance of the signal-independent Gaussian part (read noise) in squared units.
    """

    gain: float = 0.0
    offset: float = 0.0
    read_variance: float = 0.0

    def __post_init__(self) -> None:
        _finite_at_least("gain", self.gain)
        _finite_at_least("read_variance", self.read_variance)
        if not (isinstance(self.offset, (int, float, np.number)) and math.isfinite(float(self.offset))):
            raise InputError(f"`offset` must be a finite number, got {self.offset!r}")

    @classmethod
    def gaussian(cls, sigma: float) -> NoiseModel:
        """White Gaussian noise of standard deviation ``sigma`` (image units)."""
        return cls(read_variance=_finite_at_least("sigma", sigma) ** 2)

    @classmethod
    def from_camera(
        cls, gain_e_per_adu: float, offset_adu: float = 0.0, read_noise_e: float = 0.0
    ) -> NoiseModel:
        r"""Noise of a camera image in ADU from the numbers on its data sheet.

        With ``g`` electrons per ADU, a pixel reading ``I`` ADU collected ``g (I - o)``
        photo-electrons (Poisson, variance equal to the count) plus read noise of ``r``
        electrons rms, so in ADU :math:`\operatorname{Var} = (I - o) / g + (r / g)^2`.

        Parameters
        ----------
        gain_e_per_adu : float
            Camera conversion gain in electrons per ADU (e.g. 0.5 for an sCMOS at high
            gain, 2 to 5 for many CCDs; EM gain divides it).
        offset_adu : float
            Camera offset (dark level) in ADU, e.g. 100.
        read_noise_e : float
            Read noise in electrons rms, e.g. 1.5 for an sCMOS.
        """
        g = _finite_at_least("gain_e_per_adu", gain_e_per_adu)
        if g == 0:
            raise InputError("`gain_e_per_adu` must be > 0 electrons per ADU, got 0")
        r = _finite_at_least("read_noise_e", read_noise_e)
        return cls(gain=1.0 / g, offset=float(offset_adu), read_variance=(r / g) ** 2)

    def variance(self, intensity: np.ndarray | float) -> np.ndarray:
        """Noise variance at ``intensity`` (array or number), in squared image units."""
        signal = np.maximum(np.asarray(intensity, np.float64) - self.offset, 0.0)
        return self.gain * signal + self.read_variance

    def sigma_at(self, intensity: np.ndarray | float) -> np.ndarray:
        """Noise standard deviation at ``intensity``."""
        return np.sqrt(self.variance(intensity))

    def scaled(self, scale: float, shift: float = 0.0) -> NoiseModel:
        """The model of ``scale * I + shift`` (e.g. after :class:`.engine.intensity.IntensityMap`)."""
        scale = _finite_at_least("scale", scale)
        if scale == 0 or not math.isfinite(float(shift)):
            raise InputError(f"`scale` must be > 0 and `shift` finite, got {scale!r}, {shift!r}")
        return NoiseModel(
            gain=scale * self.gain,
            offset=scale * self.offset + float(shift),
            read_variance=scale**2 * self.read_variance,
        )

    def effective_sigma(self, image: np.ndarray) -> float:
        """Root-mean noise variance over ``image``'s intensities: one number for a noise level."""
        return float(np.sqrt(np.mean(self.variance(image))))

    def describe(self) -> str:
        """One line for logs and the run plan."""
        if self.gain == 0:
            return f"Gaussian noise, sigma {math.sqrt(self.read_variance):.3g}"
        return (
            f"Poisson-Gaussian noise: variance {self.gain:.3g} * (I - {self.offset:.3g}) + "
            f"{self.read_variance:.3g} (read sigma {math.sqrt(self.read_variance):.3g})"
        )

    def to_dict(self) -> dict[str, float]:
        """Plain numbers for provenance (TIFF and layer metadata)."""
        return {key: float(value) for key, value in asdict(self).items()}


def _detail(image: np.ndarray) -> np.ndarray:
    """Finest second-difference detail on overlapping 3 x 3 blocks, noise gain 1.

    The separable filter ``[1, -2, 1]^T [1, -2, 1] / 6`` has unit sum of squares, so white
    noise of variance ``sigma^2`` keeps it, and it is zero on every polynomial of degree < 2
    along either axis (constants, ramps, ``xy``, ``x^2``, ``x^2 y``): what a blurred image is
    locally. The Haar diagonal detail of wavelet MAD estimators lets ``xy`` curvature through.
    """
    rows = image[:-2] - 2.0 * image[1:-1] + image[2:]
    return (rows[:, :-2] - 2.0 * rows[:, 1:-1] + rows[:, 2:]) / 6.0


def _robust_variance(values: np.ndarray) -> float:
    """Variance of a noise sample with outliers (edges) left out.

    The MAD sets a 3-sigma window; the variance inside it is divided by the fraction of a
    normal law's variance such a window keeps (0.9733), which stays unbiased where MAD
    alone is not (the few discrete levels of photon-starved pixels).
    """
    centred = values - np.median(values)
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(centred)))
    if sigma == 0:
        sigma = float(np.std(centred))
    if sigma == 0:
        return 0.0
    inside = centred[np.abs(centred) <= 3.0 * sigma]
    return float(np.mean(inside**2)) / 0.9733


def estimate_noise(image: np.ndarray, bins: int = 16, min_pixels: int = 200) -> NoiseModel:
    r"""Estimate a Poisson-Gaussian :class:`NoiseModel` from a single 2D image.

    The detail ``d`` (:func:`_detail`) of each overlapping 3 x 3 block is paired with the
    block's intensity in a Gaussian-smoothed copy. Blocks are split into ``bins`` bins of equal
    count by intensity; within each bin only the smoothest 30 % (by the smoothed copy's
    gradient) are kept, and the robust variance ``v_j`` of their details is taken at the bin's mean
    intensity ``I_j``. The line ``v = a I + b`` is fitted by weighted least squares, with
    weights :math:`n_j / v_j^2` (the inverse variance of a variance estimate from ``n_j``
    samples), refitted once with the fitted variances, and constrained to ``a, b >= 0``.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) image in any units (blurred images are fine: blur only helps).
    bins : int
        Number of intensity bins of the fit.
    min_pixels : int
        Fewest blocks per bin; small images get fewer bins.

    Returns
    -------
    NoiseModel
        ``offset`` 0; ``gain`` and ``read_variance`` in the image's units.

    Raises
    ------
    InputError
        If the image is not 2D, is smaller than 8 x 8 or has NaN or infinite pixels.
    """
    values = np.asarray(image, dtype=np.float64)
    if values.ndim != 2 or min(values.shape) < 8:
        raise InputError(f"`image` must be a 2D array of at least 8 x 8 pixels, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise InputError("`image` has NaN or infinite pixels: clean them before estimating the noise")
    detail = _detail(values).ravel()
    smooth = gaussian_filter(values, 1.5, mode="reflect")
    level = smooth[1:-1, 1:-1].ravel()
    gy, gx = np.gradient(smooth)
    roughness = np.hypot(gy, gx)[1:-1, 1:-1].ravel()
    bins = int(max(1, min(bins, detail.size // (2 * min_pixels))))
    order = np.argsort(level)
    levels, variances, counts = [], [], []
    for chunk in np.array_split(order, bins):
        flat = chunk[roughness[chunk] <= np.quantile(roughness[chunk], 0.3)]
        levels.append(float(level[flat].mean()))
        variances.append(_robust_variance(detail[flat]))
        counts.append(flat.size)
    levels, variances, counts = np.array(levels), np.array(variances), np.array(counts, np.float64)
    if bins < 3 or np.ptp(levels) <= 0:
        return NoiseModel(read_variance=float(np.median(variances)))
    fitted = np.maximum(variances, 1e-20)
    for _ in range(2):  # weights from the data, then from the fitted line (IRLS)
        weights = counts / np.maximum(fitted, 1e-20) ** 2
        a, b = _fit_line(levels, variances, weights)
        fitted = a * levels + b
    return NoiseModel(gain=a, read_variance=b)


def _fit_line(x: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares ``v = a x + b`` with ``a, b >= 0`` (one active constraint at most)."""
    design = np.stack([x, np.ones_like(x)], axis=1) * np.sqrt(w)[:, None]
    a, b = np.linalg.lstsq(design, v * np.sqrt(w), rcond=None)[0]
    if a >= 0 and b >= 0:
        return float(a), float(b)
    slope = float(np.sum(w * x * v) / np.sum(w * x * x)) if np.sum(w * x * x) > 0 else 0.0
    if b < 0 and slope >= 0:  # through the origin: pure shot noise
        return slope, 0.0
    return 0.0, float(max(np.sum(w * v) / np.sum(w), 0.0))  # flat: pure Gaussian
