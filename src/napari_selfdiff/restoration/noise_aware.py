r"""Noise-aware non-blind restoration (weighted TV deconvolution) and reliability measures.

Given a PSF ``k`` and a :class:`~napari_selfdiff.noise.NoiseModel`, the restoration solves

.. math::

    \min_x \tfrac12 \sum_i w_i \big((k * x)_i - y_i\big)^2 + \mu \sum_i |(\nabla x)_i|,
    \qquad w_i = \frac{\bar\sigma^2}{\operatorname{Var}(\tilde y_i)}, \quad
    \mu = c\, \bar\sigma^{p},

where :math:`\tilde y` is a smoothed copy of the observation (the variance of
Poisson-Gaussian noise depends on the unknown clean intensity, which it approximates),
:math:`\bar\sigma^2` the mean noise variance over the image, and ``c``, ``p`` the constants
:data:`TV_SCALE` and :data:`TV_POWER` chosen on a tuning set (``benchmarks/noise_pipeline_probe.py``).
The weighted data term is the Gaussian approximation of the Poisson-Gaussian likelihood; the
TV weight grows with the noise, so clean images are sharpened and noisy ones smoothed.

The image lives on a domain extended by twice the PSF size whose added pixels have
``w = 0``: they are not observed, so nothing is assumed about the boundary and the FFTs'
periodic wrap falls where no data is compared. ADMM with the splits ``z = k * x`` and
``v = \nabla x`` (Afonso, Bioucas-Dias & Figueiredo, IEEE TIP 2010, doi:10.1109/TIP.2010.2047910)
gives closed-form steps: an FFT solve for ``x``, a per-pixel weighted average for ``z``,
and isotropic soft-thresholding for ``v``. With a ``lower`` bound (intensities cannot go below
zero photons, or a camera's dark level), a third split ``s = x`` projected onto
:math:`s \ge \text{lower}` makes the solution feasible: no negative pixels and no dark halos
around bright structures.

The reliability measures at the end score a (PSF, restoration) pair without ground truth.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from napari_selfdiff.inputs import check_psf, to_planes
from napari_selfdiff.metrics import mnc
from napari_selfdiff.noise import NoiseModel, estimate_noise
from napari_selfdiff.ops.fft import psf_to_otf

__all__ = [
    "TV_POWER",
    "TV_SCALE",
    "border_energy",
    "kernel_agreement",
    "mean_variance",
    "restore_tv",
    "tv_weight",
    "weighted_discrepancy",
]

#: ``c`` of the TV weight ``mu = c sigma^p``: best of 0.1, 0.3, 1, 3 with p = 1.5 on even seeds
#: 0-10 x 5 noise groups, true PSF (+6.25 dB mean, +0.61 worst; `--tune` of the probe).
TV_SCALE = 1.0
#: ``p`` of the TV weight ``mu = c sigma^p``: 1.5 beat 1 (+6.19 dB) and 2 (+5.97) at their best c.
TV_POWER = 1.5
#: Floor of the noise variance relative to its mean, so that dark pixels do not dominate.
VARIANCE_FLOOR = 0.05


def tv_weight(
    noise: NoiseModel, image: np.ndarray, scale: float = TV_SCALE, power: float = TV_POWER
) -> float:
    """The TV weight ``mu = scale * sigma^power`` of :func:`restore_tv` for ``image``'s noise."""
    return scale * noise.effective_sigma(image) ** power


def mean_variance(observation: np.ndarray, noise: NoiseModel) -> float:
    """Mean noise variance at a smoothed copy of ``observation``: the reference of the pixel weights."""
    return float(noise.variance(gaussian_filter(observation, 1.0, mode="reflect")).mean())


def _pixel_weights(observation: np.ndarray, noise: NoiseModel, mean: float | None = None) -> np.ndarray:
    """``w = mean variance / variance`` at a smoothed copy of the observation, floored.

    ``mean``: the reference variance (default the observation's own mean; a tile of a larger
    image passes the whole image's, so that every tile weighs its data alike).
    """
    variance = noise.variance(gaussian_filter(observation, 1.0, mode="reflect"))
    mean = float(variance.mean()) if mean is None else float(mean)
    if mean <= 0:
        return np.ones_like(observation)
    return mean / np.maximum(variance, VARIANCE_FLOOR * mean)


def _circular_gradient(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(2, H, W) periodic forward differences ``[x[i, j+1] - x[i, j], x[i+1, j] - x[i, j]]``.

    The operators whose transfer functions are ``Dx``, ``Dy`` of :func:`restore_tv`, applied in
    space (exact, and cheaper than an FFT pair); written into ``out`` when given.
    """
    out = np.empty((2, *x.shape), x.dtype) if out is None else out
    np.subtract(x[:, 1:], x[:, :-1], out=out[0, :, :-1])
    np.subtract(x[:, :1], x[:, -1:], out=out[0, :, -1:])
    np.subtract(x[1:], x[:-1], out=out[1, :-1])
    np.subtract(x[:1], x[-1:], out=out[1, -1:])
    return out


def _circular_gradient_adjoint(p: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of :func:`_circular_gradient`: ``p_x[i, j-1] - p_x[i, j] + p_y[i-1, j] - p_y[i, j]``."""
    out = np.empty(p.shape[1:], p.dtype) if out is None else out
    np.subtract(p[0, :, :-1], p[0, :, 1:], out=out[:, 1:])
    np.subtract(p[0, :, -1:], p[0, :, :1], out=out[:, :1])
    out[1:] += p[1, :-1]
    out[:1] += p[1, -1:]
    out -= p[1]
    return out


def restore_tv(
    observation: np.ndarray,
    psf: np.ndarray,
    noise: NoiseModel | None = None,
    *,
    weight: float | None = None,
    iterations: int = 150,
    rho: float = 1.0,
    lower: float | None = None,
    reference_variance: float | None = None,
) -> np.ndarray:
    """Weighted-TV deconvolution of a 2D ``observation`` by ``psf`` (module docstring).

    Parameters
    ----------
    observation : numpy.ndarray
        (H, W) blurred, noisy image in any intensity units.
    psf : numpy.ndarray
        Odd-sided 2D PSF (normalised here).
    noise : NoiseModel, optional
        Noise of ``observation`` in its units; estimated from it when None.
    weight : float, optional
        TV weight ``mu`` in intensity units; by default :func:`tv_weight`.
    iterations : int
        ADMM iterations.
    rho : float
        ADMM penalty of the splits (the weights average 1, so 1 is well scaled).
    lower : float, optional
        Least intensity of the restoration (e.g. 0 for photon counts, or a camera's offset);
        None: unconstrained.
    reference_variance : float, optional
        Noise variance the pixel weights are relative to (:func:`mean_variance`); by default
        the observation's own. A tile of a larger image passes the image's value, and its
        ``weight``, so that the tiles solve one problem (:mod:`napari_selfdiff.restoration.tiled`).

    Returns
    -------
    numpy.ndarray
        (H, W) restoration in the observation's units, at least ``lower`` when given.
    """
    planes, _ = to_planes(observation, "YX", what="observation")
    y = planes[0, 0]
    kernel = check_psf(psf)
    noise = estimate_noise(y) if noise is None else noise
    mu = tv_weight(noise, y) if weight is None else float(weight)
    pad = 2 * max(kernel.shape)
    h, w = y.shape
    shape = (h + 2 * pad, w + 2 * pad)
    inner = (slice(pad, pad + h), slice(pad, pad + w))
    data_w = np.zeros(shape)
    data_w[inner] = _pixel_weights(y, noise, reference_variance)
    wy = np.zeros(shape)
    wy[inner] = data_w[inner] * y
    K = psf_to_otf(kernel, shape)
    Dx, Dy = (
        psf_to_otf(np.array([[1.0, -1.0, 0.0]]), shape),
        psf_to_otf(np.array([[1.0], [-1.0], [0.0]]), shape),
    )
    bounded = lower is not None
    denominator = np.abs(K) ** 2 + np.abs(Dx) ** 2 + np.abs(Dy) ** 2 + (1.0 if bounded else 0.0)
    denominator = denominator.clip(min=1e-12)
    conj_k, z_weight = np.conj(K), 1.0 / (data_w + rho)
    x = np.pad(y, pad, mode="reflect")
    z, u = sfft.irfft2(K * sfft.rfft2(x), s=shape), np.zeros(shape)
    v = _circular_gradient(x)
    t = np.zeros_like(v)
    s, r = (np.maximum(x, lower), np.zeros(shape)) if bounded else (None, None)
    # Work arrays reused by every iteration: a fresh array of this size each time costs a page
    # fault per page (about 40 % of a 2048 x 2048 run's CPU time went to the kernel).
    rest, work, magnitude = np.empty(shape), np.empty(shape), np.empty(shape)
    grad, q = np.empty_like(v), np.empty_like(v)
    for _ in range(iterations):
        # The x-step's right-hand side K^T (z - u) + D^T (v - t) [+ (s - r)]: the differences'
        # adjoint is applied in space, so one FFT serves all the splits but the blur's.
        np.subtract(v, t, out=q)
        _circular_gradient_adjoint(q, out=rest)
        if bounded:
            rest += s
            rest -= r
        np.subtract(z, u, out=work)
        X = sfft.rfft2(work)
        X *= conj_k
        X += sfft.rfft2(rest)
        X /= denominator
        x = sfft.irfft2(X, s=shape)
        X *= K
        kx = sfft.irfft2(X, s=shape)
        _circular_gradient(x, out=grad)
        np.add(kx, u, out=z)  # z = (w y + rho (k x + u)) / (w + rho)
        z *= rho
        z += wy
        z *= z_weight
        np.add(grad, t, out=q)
        np.hypot(q[0], q[1], out=magnitude)  # soft-threshold q's length by mu / rho
        np.maximum(magnitude, 1e-12, out=magnitude)
        np.divide(mu / rho, magnitude, out=magnitude)
        np.subtract(1.0, magnitude, out=magnitude)
        np.maximum(magnitude, 0.0, out=magnitude)
        np.multiply(q, magnitude, out=v)
        u += kx
        u -= z
        t += grad
        t -= v
        if bounded:
            np.add(x, r, out=s)
            np.maximum(s, lower, out=s)
            r += x
            r -= s
    if bounded:
        return s[inner]  # the feasible split: exactly >= lower
    return x[inner]


def weighted_discrepancy(
    observation: np.ndarray,
    restored: np.ndarray,
    psf: np.ndarray,
    noise: NoiseModel,
    border: int | None = None,
) -> float:
    r"""Mean variance-normalised squared residual :math:`\frac1N \sum (y - k * x)^2 / \operatorname{Var}(y)`.

    About 1 when the restoration explains the data down to the noise; well below 1 when it
    fits the noise (over-sharpened, ringing), well above when the PSF or the restoration
    cannot explain the image (a wrong kernel, an over-smoothed result). A ``border``
    (default the PSF size) is left out, where 'same' convolution sees the boundary.
    """
    kernel = check_psf(psf)
    border = max(kernel.shape) if border is None else border
    half = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(np.asarray(restored, np.float64), (half, half), mode="reflect")
    reblurred = fftconvolve(padded, kernel, mode="valid")
    y = np.asarray(observation, np.float64)
    variance = np.maximum(noise.variance(gaussian_filter(y, 1.0)), 1e-20)
    ratio = (y - reblurred) ** 2 / variance
    inner = ratio[border:-border, border:-border] if border else ratio
    return float(inner.mean())


def border_energy(psf: np.ndarray, width: int = 1) -> float:
    """Fraction of the PSF's mass within ``width`` pixels of its box's edge.

    A kernel estimate that runs into its box's edge is truncated (box too small) or has
    fitted structure of the image: a high value flags an unreliable blind estimate.
    """
    kernel = check_psf(psf)
    if 2 * width >= min(kernel.shape):
        return 1.0
    return float(1.0 - kernel[width:-width, width:-width].sum())


def kernel_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """MNC of two kernel estimates (e.g. two methods, or two halves of the image); 1 = same up to a shift.

    Two independent estimates that disagree cannot both be right; agreement is evidence that
    the kernel is determined by the data rather than by a method's prior.
    """
    return mnc(first, second)
