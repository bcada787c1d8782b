"""Methods of the validation benchmark (:mod:`benchmarks.validation`), one registry entry each.

A method takes a :class:`~benchmarks.validation_cases.Case` and returns ``(image, psf)``: the
restored image (the blurred image's shape, in its units) and the estimated PSF, or ``None``
when the method does not estimate one. Oracle methods may read the truth (``case.kernel``,
``case.noise``, ``case.sharp``); blind methods read only ``case.blurred`` (or ``case.counts``
with the camera model in ``case.noise``) and the kernel side ``case.kernel.shape[0]``. Add a
method by adding an entry to :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import fftconvolve

from .validation_cases import Case

Method = Callable[[Case], tuple[np.ndarray, np.ndarray | None]]
#: skimage's default Wiener regulariser (``skimage.restoration.uft.laplacian(2, ...)``).
LAPLACIAN = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def _padded(restore: Callable[[np.ndarray], np.ndarray], case: Case) -> np.ndarray:
    """``restore`` run on the blurred image reflect-padded by K on every side, then cropped back.

    scikit-image's Wiener filters are FFT-based (periodic); the padding keeps the wrap-around
    ringing of the image's edges out of the scored area.
    """
    size = case.kernel.shape[0]
    return restore(np.pad(case.blurred, size, mode="reflect"))[size:-size, size:-size]


def noise_variance(case: Case) -> float:
    """The true noise variance averaged over the image: ``a mean(I) + b`` (``sigma^2`` if Gaussian)."""
    return case.noise["a"] * max(float(case.blurred.mean()), 0.0) + case.noise["b"]


def wiener_balance(case: Case) -> float:
    """The Gaussian-prior MAP (Wiener) balance from the truth: noise variance / Laplacian power.

    With the regulariser ``L`` (the Laplacian), the Wiener filter ``H* / (|H|^2 + lambda |L|^2)``
    is the MAP estimate when the noise is white with variance ``s_n^2`` and ``L x`` white with
    variance ``s_x^2``, at ``lambda = s_n^2 / s_x^2``. Here ``s_n^2`` is
    :func:`noise_variance` and ``s_x^2`` the mean squared Laplacian of the sharp reference.
    """
    laplacian_power = float(np.mean(fftconvolve(case.sharp, LAPLACIAN, mode="valid") ** 2))
    return noise_variance(case) / max(laplacian_power, 1e-12)


def blurred(case: Case) -> tuple[np.ndarray, None]:
    """The input itself: the bar every method must clear."""
    return case.blurred, None


def wiener_oracle(case: Case) -> tuple[np.ndarray, None]:
    """``skimage.restoration.wiener`` with the true kernel at the :func:`wiener_balance`."""
    from skimage.restoration import wiener

    balance = wiener_balance(case)
    return _padded(lambda image: wiener(image, case.kernel, balance, clip=False), case), None


def wiener_best(case: Case) -> tuple[np.ndarray, None]:
    """Wiener with the true kernel at the balance of best PSNR against the sharp reference.

    The balances tried are :func:`wiener_balance` times 10^-1.5 .. 10^2 (15 steps); the PSNR is
    taken without a shift over the image less a border of K // 2: the upper bar of linear
    deconvolution with a Laplacian regulariser.
    """
    from skimage.restoration import wiener

    from napari_selfdiff.metrics import psnr

    border = case.kernel.shape[0] // 2
    inner = (slice(border, -border), slice(border, -border))
    candidates = [
        _padded(lambda image, b=balance: wiener(image, case.kernel, b, clip=False), case)
        for balance in wiener_balance(case) * np.logspace(-1.5, 2, 15)
    ]
    return max(candidates, key=lambda x: psnr(x[inner], case.sharp[inner])), None


def uwiener_oracle(case: Case) -> tuple[np.ndarray, None]:
    """``skimage.restoration.unsupervised_wiener`` (noise and prior levels sampled) with the true kernel."""
    from skimage.restoration import unsupervised_wiener

    def restore(image: np.ndarray) -> np.ndarray:
        return unsupervised_wiener(image, case.kernel, clip=False, rng=case.seed)[0]

    return _padded(restore, case), None


def selfdiff_default(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The previous CPU default: blind self-diffusion, preset "fast", seed 0, the true kernel side."""
    from napari_selfdiff import DeblurConfig, deblur

    # The fast preset of the previous release: self-diffusion's PSF and its own image, RL-TV's
    # from 142 x 142 (the restore="auto" rule of that release; the cases are 128 or 256 px).
    restore = "richardson_lucy" if min(case.blurred.shape) >= 142 else "network"
    config = DeblurConfig.preset("fast").replace(method="selfdiff", restore=restore)
    result = deblur(case.blurred, case.kernel.shape[0], config, device="cpu", seed=0)
    return result.image, result.psf


def classic_tv(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Classic blind PSF (L0 alternating minimisation) and noise-aware TV restoration, noise estimated."""
    from napari_selfdiff.blind.l0 import estimate_psf_classic
    from napari_selfdiff.noise import estimate_noise
    from napari_selfdiff.restoration.noise_aware import restore_tv

    noise = estimate_noise(case.blurred)
    psf = estimate_psf_classic(case.blurred, case.kernel.shape[0], noise)
    return restore_tv(case.blurred, psf, noise), psf


def tvblind_tv(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The TV blind PSF (Perrone & Favaro style, :mod:`napari_selfdiff.blind.tv`) and the noise-aware TV."""
    from napari_selfdiff.blind.tv import estimate_psf_tv
    from napari_selfdiff.noise import estimate_noise
    from napari_selfdiff.restoration.noise_aware import restore_tv

    noise = estimate_noise(case.blurred)
    psf = estimate_psf_tv(case.blurred, case.kernel.shape[0], noise)
    return restore_tv(case.blurred, psf, noise), psf


def nominal_tv(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Optical cases: the aberration-free PSF of the same optics (known NA, wavelength, sampling)
    restored by the noise-aware TV: what a user with known optics gets without any estimate."""
    from napari_selfdiff.noise import estimate_noise
    from napari_selfdiff.restoration.noise_aware import restore_tv

    return restore_tv(case.blurred, case.nominal, estimate_noise(case.blurred)), case.nominal


def truepsf_tv(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """Oracle: the noise-aware TV restoration with the true kernel (noise still estimated)."""
    from napari_selfdiff.noise import estimate_noise
    from napari_selfdiff.restoration.noise_aware import restore_tv

    return restore_tv(case.blurred, case.kernel, estimate_noise(case.blurred)), case.kernel


def selfdiff_tv(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The shipped default's PSF (read from its cached run) with the noise-aware TV restoration."""
    from napari_selfdiff.noise import estimate_noise
    from napari_selfdiff.restoration.noise_aware import restore_tv

    psf = cached_psf("selfdiff_default", case)
    return restore_tv(case.blurred, psf, estimate_noise(case.blurred)), psf


def cached_psf(method: str, case: Case) -> np.ndarray:
    """The PSF ``method`` estimated on ``case``, from the default cache (run that method first)."""
    from pathlib import Path

    path = Path(".cache/validation") / method / f"{case.name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: run `python -m benchmarks.validation run --methods {method}` first")
    with np.load(path) as record:
        return np.asarray(record["psf"], np.float64)


def pipeline(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The product's CPU default through the public API: ``deblur(blurred, K)`` (noise estimated)."""
    from napari_selfdiff import deblur

    result = deblur(case.blurred, case.kernel.shape[0], device="cpu", seed=0)
    return result.image, result.psf


METHODS: dict[str, Method] = {
    "pipeline": pipeline,
    "classic_tv": classic_tv,
    "tvblind_tv": tvblind_tv,
    "nominal_tv": nominal_tv,
    "truepsf_tv": truepsf_tv,
    "selfdiff_tv": selfdiff_tv,
    "blurred": blurred,
    "wiener_oracle": wiener_oracle,
    "wiener_best": wiener_best,
    "uwiener_oracle": uwiener_oracle,
    "selfdiff_default": selfdiff_default,
}
#: Methods that read the truth (shown as bars, not candidates).
ORACLES = frozenset({"wiener_oracle", "wiener_best", "uwiener_oracle", "truepsf_tv"})
#: Methods that apply to some cases only (the others are left out of their rows).
APPLIES: dict[str, Callable[[Case], bool]] = {"nominal_tv": lambda case: case.nominal is not None}
