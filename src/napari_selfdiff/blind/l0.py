r"""Classic blind PSF estimate: L0-gradient alternating minimisation, coarse to fine, noise-aware.

The kernel ``k`` of ``y = k * x + n`` is estimated by alternating two closed-form steps
(Xu, Zheng & Jia, CVPR 2013; Pan et al., CVPR 2014), on a pyramid from a kernel of about
five pixels to the requested size, each level starting from the previous level's kernel.

**Latent image** (sparse gradients, which keep only the strong edges that carry the
kernel's information):

.. math::

    \min_x \|k * x - y\|^2 + \lambda \|\nabla x\|_0,

by half-quadratic splitting: with ``g = \nabla x`` kept where
:math:`|\nabla x|^2 \ge \lambda / \beta` and zeroed elsewhere, ``x`` is solved in the Fourier
domain, :math:`X = (\bar K Y + \beta (\bar D_x G_x + \bar D_y G_y)) / (|K|^2 + \beta (|D_x|^2 +
|D_y|^2))`, while ``beta`` doubles from ``2 lambda`` to ``1e5``.

**Kernel** (least squares on gradients, Tikhonov-damped), then projected:

.. math::

    K = \frac{\sum_d \overline{\mathcal F(\partial_d x)}\, \mathcal F(\partial_d y)}
             {\sum_d |\mathcal F(\partial_d x)|^2 + \gamma},

with ``gamma`` a fraction (default 0.5) of the mean gradient energy :math:`\overline{\sum_d |\mathcal
F(\partial_d x)|^2}` (0.02 let noise spread mass to the box's edge: -12 and -8 dB blind gains on
two even-seed cases of the probe at Gaussian 0.01, +0.3 and +2.3 dB with 0.5), then
cropped to its ``K x K`` box, negative and faint (< 5 % of the peak) values set to zero,
normalised to unit sum and re-centred on its centre of mass.

**Noise.** Kernel least squares is biased by noise in ``\nabla y``. Where the noise model's
level ``sigma`` (of the level's image: downsampling by ``s`` divides it by ``1/s``) exceeds
:data:`NOISE_TARGET`, both sides of the model are pre-filtered by one Gaussian ``G`` whose
width brings the noise down to the target (white noise filtered by a Gaussian of width
``w`` keeps :math:`\sigma / (2 \sqrt{\pi} w)`): the latent step sees the kernel ``G * k`` and
the kernel step compares ``\nabla (G * x)`` with ``\nabla (G * y)``, so the model stays
exact (Zhong et al., CVPR 2013, with a Gaussian for their directional filters). The level is
measured over the working range (intensities clipped to [0, 1]), so a few hot pixels far
beyond the robust range do not set it, and the width is capped at :data:`MAX_PREFILTER`
of the padded level: a wider Gaussian would remove every gradient the kernel step compares
(on mostly-constant images, whose noise estimate takes the few bright pixels for noise).
A latent without gradients determines no kernel: the step then returns the point PSF.

Boundaries: each level is reflect-padded by twice its kernel size and tapered to its mean,
so the FFTs see no jump, and the kernel step weights out the padding.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from napari_selfdiff.errors import Cancelled, NumericalError
from napari_selfdiff.inputs import check_kernel_size, to_planes
from napari_selfdiff.noise import NoiseModel, estimate_noise
from napari_selfdiff.ops.fft import psf_to_otf
from napari_selfdiff.ops.intensity import IntensityMap
from napari_selfdiff.results import drive

__all__ = ["ClassicBlindStep", "estimate_psf_classic", "iter_estimate_psf_classic"]

#: Noise standard deviation (working range [0.1, 0.9]) above which the input is pre-filtered.
NOISE_TARGET = 0.01
#: Ratio between pyramid levels.
LEVEL_RATIO = math.sqrt(2.0)
#: Widest pre-filter Gaussian, as a fraction of the padded level's smaller side.
MAX_PREFILTER = 0.25
#: Largest HQS penalty; gradients are then equal to the latent's within rounding.
BETA_MAX = 1e5


@dataclass(frozen=True)
class ClassicBlindStep:
    """Progress of :func:`iter_estimate_psf_classic`: level and iteration (from 1), and the kernel."""

    level: int
    levels: int
    iteration: int
    iterations: int
    kernel: np.ndarray


def _gaussian_otf(width: float, shape: tuple[int, int]) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    return np.exp(-2.0 * (math.pi * width) ** 2 * (fy**2 + fx**2))


def _taper_pad(image: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Reflect-pad by ``pad``, fade the padding to the mean; also the interior weight (0 in the pad)."""
    padded = np.pad(image, pad, mode="reflect")
    ramp = np.ones(padded.shape[0]), np.ones(padded.shape[1])
    for r in ramp:
        edge = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, pad))
        r[:pad], r[-pad:] = edge, edge[::-1]
    fade = np.outer(*ramp)
    mean = float(image.mean())
    inside = np.zeros_like(padded)
    inside[pad:-pad, pad:-pad] = 1.0
    return mean + (padded - mean) * fade, inside


def _latent(y_hat: np.ndarray, otf: np.ndarray, dx: np.ndarray, dy: np.ndarray, lam: float) -> np.ndarray:
    """L0-gradient latent image by half-quadratic splitting (module docstring)."""
    numerator = np.conj(otf) * y_hat
    data = np.abs(otf) ** 2
    smooth = np.abs(dx) ** 2 + np.abs(dy) ** 2
    x = np.real(np.fft.ifft2(numerator / (data + 1e-3 * smooth)))
    beta = 2.0 * lam
    while beta < BETA_MAX:
        gx = np.roll(x, -1, axis=1) - x
        gy = np.roll(x, -1, axis=0) - x
        keep = gx**2 + gy**2 >= lam / beta
        coupled = np.conj(dx) * np.fft.fft2(gx * keep) + np.conj(dy) * np.fft.fft2(gy * keep)
        x = np.real(np.fft.ifft2((numerator + beta * coupled) / (data + beta * smooth)))
        beta *= 2.0
    return x


def _project_kernel(full: np.ndarray, size: int) -> np.ndarray:
    """Crop the centred ``size`` box, clip, drop faint values, normalise and centre."""
    if not np.isfinite(full).all():
        raise NumericalError(
            "the classic PSF estimate has NaN or infinite values: the computation overflowed; "
            "rescale the input (e.g. to [0, 1]) and try again"
        )
    half = size // 2
    kernel = np.roll(full, (half, half), axis=(0, 1))[:size, :size]
    kernel = np.maximum(kernel, 0.0)
    if kernel.max() <= 0:
        kernel = np.zeros((size, size))
        kernel[half, half] = 1.0
        return kernel
    kernel[kernel < 0.05 * kernel.max()] = 0.0
    kernel /= kernel.sum()
    cy, cx = ndimage.center_of_mass(kernel)
    kernel = ndimage.shift(kernel, (round(half - cy), round(half - cx)), order=0, mode="constant")
    return kernel / kernel.sum()


def _kernel_step(
    x: np.ndarray, y_f: np.ndarray, inside: np.ndarray, pre: np.ndarray, size: int, gamma: float
):
    """Least-squares kernel from gradients of the pre-filtered latent and observation."""
    xf = np.real(np.fft.ifft2(np.fft.fft2(x) * pre))
    num = np.zeros(x.shape, complex)
    den = np.zeros(x.shape)
    for axis in (0, 1):
        a = np.fft.fft2(inside * (np.roll(xf, -1, axis=axis) - xf))
        b = np.fft.fft2(inside * (np.roll(y_f, -1, axis=axis) - y_f))
        num += np.conj(a) * b
        den += np.abs(a) ** 2
    damping = gamma * den.mean()
    if not damping > 0:  # a flat latent: the data determine no kernel (and 0 / 0 would be NaN)
        return _project_kernel(np.zeros((size, size)), size)
    return _project_kernel(np.real(np.fft.ifft2(num / (den + damping))), size)


def working_image(
    image: np.ndarray, kernel_size: int, noise: NoiseModel | None
) -> tuple[np.ndarray, int, float]:
    """A classic estimator's input: the image in the working range, the PSF side, the noise there.

    The noise deviation is of the working-range intensities clipped to [0, 1] (hot pixels far
    out do not set it); the model is estimated from the image when ``noise`` is None.
    """
    y, _ = to_planes(image, "YX")
    y = y[0, 0]
    size = check_kernel_size(kernel_size, *y.shape)
    noise = estimate_noise(y) if noise is None else noise
    mapping = IntensityMap.fit(y)
    y = mapping.forward(y)
    return y, size, mapping.noise(noise).effective_sigma(np.clip(y, 0.0, 1.0))


def pyramid_levels(size: int, levels: int | None) -> int:
    """``levels``, or by default enough levels (ratio :data:`LEVEL_RATIO`) for a ~5 px coarsest PSF."""
    if levels is None:
        return 1 + max(0, math.ceil(math.log(size / 5.0) / math.log(LEVEL_RATIO)))
    return levels


def pyramid(y: np.ndarray, size: int, levels: int) -> Iterator[tuple[int, float, int, np.ndarray]]:
    """Coarse to fine: ``(level, scale, kernel side, image at that scale)`` for each level."""
    for level in range(levels):
        scale = LEVEL_RATIO ** (level - levels + 1)
        k_size = size if level == levels - 1 else max(3, 2 * round(size * scale / 2) + 1)
        shape = tuple(max(2 * k_size, round(n * scale)) for n in y.shape)
        yield level, scale, k_size, (resize(y, shape, anti_aliasing=scale < 1, order=1) if scale < 1 else y)


def upsampled(kernel: np.ndarray, k_size: int) -> np.ndarray:
    """The previous level's kernel resized to ``k_size``, non-negative, of unit sum."""
    kernel = np.maximum(resize(kernel, (k_size, k_size), order=1), 0)
    return kernel / kernel.sum()


def iter_estimate_psf_classic(
    image: np.ndarray,
    kernel_size: int,
    noise: NoiseModel | None = None,
    *,
    iterations: int = 8,
    levels: int | None = None,
    lam: float = 4e-3,
    gamma: float = 0.5,
    cancel: threading.Event | None = None,
) -> Generator[ClassicBlindStep, None, np.ndarray]:
    """Generator form of :func:`estimate_psf_classic`: yields a step per iteration, returns the PSF."""
    y, size, sigma = working_image(image, kernel_size, noise)
    levels = pyramid_levels(size, levels)
    kernel = np.zeros((3, 3))
    kernel[1, 1] = 1.0
    for level, scale, k_size, y_l in pyramid(y, size, levels):
        kernel = upsampled(kernel, k_size)
        pad = 2 * k_size
        padded, inside = _taper_pad(y_l, pad)
        sigma_l = sigma * scale  # averaging 1/scale^2 pixels divides the deviation by 1/scale
        width = sigma_l / (2 * math.sqrt(math.pi) * NOISE_TARGET) if sigma_l > NOISE_TARGET else 0.0
        width = min(width, MAX_PREFILTER * min(padded.shape))
        pre = _gaussian_otf(width, padded.shape)
        y_f = np.real(np.fft.ifft2(np.fft.fft2(padded) * pre))
        y_hat = np.fft.fft2(y_f)
        # Forward differences x[i + 1] - x[i] as convolutions (kernel value +1 at offset -1).
        dx, dy = (
            psf_to_otf(np.array([[1.0, -1.0, 0.0]]), padded.shape, real=False),
            psf_to_otf(np.array([[1.0], [-1.0], [0.0]]), padded.shape, real=False),
        )
        for iteration in range(1, iterations + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the run was cancelled")
            x = _latent(y_hat, psf_to_otf(kernel, padded.shape, real=False) * pre, dx, dy, lam)
            kernel = _kernel_step(x, y_f, inside, pre, k_size, gamma)
            yield ClassicBlindStep(level + 1, levels, iteration, iterations, kernel)
    return kernel


def estimate_psf_classic(
    image: np.ndarray,
    kernel_size: int,
    noise: NoiseModel | None = None,
    *,
    iterations: int = 8,
    levels: int | None = None,
    progress: Callable[[ClassicBlindStep], object] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Blind estimate of the (kernel_size, kernel_size) PSF of a blurred 2D ``image``.

    Parameters
    ----------
    image : numpy.ndarray
        (H, W) blurred, noisy image in any intensity units.
    kernel_size : int
        Odd side of the PSF box, at least 3 and at most half the image's smaller side.
    noise : NoiseModel, optional
        Noise of ``image`` in its units; estimated from the image when None.
    iterations : int
        Alternations of latent and kernel steps per pyramid level.
    levels : int, optional
        Pyramid levels (ratio sqrt 2); by default enough for a coarsest kernel of ~5 px.
    progress : callable, optional
        Called with each :class:`ClassicBlindStep`; returning False cancels the run.
    cancel : threading.Event, optional
        When set, the run stops with :class:`napari_selfdiff.errors.Cancelled`.

    Returns
    -------
    numpy.ndarray
        Non-negative (K, K) PSF of unit sum, centre of mass within half a pixel of the centre;
        the point PSF where the image has no gradient the kernel could be measured from.

    Raises
    ------
    InputError
        The image is constant, smaller than 8 x 8, or ``kernel_size`` breaks its rule.
    NumericalError
        The estimate overflowed to NaN or infinite values.
    """
    steps = iter_estimate_psf_classic(
        image, kernel_size, noise, iterations=iterations, levels=levels, cancel=cancel
    )
    return drive(steps, progress)
