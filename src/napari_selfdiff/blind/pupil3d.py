r"""The physical 3D PSF of a z-stack: a Zernike pupil through focus, fitted without a network.

When the microscope is known (NA, emission wavelength, immersion index, pixel size and z step),
the 3D PSF is the through-focus intensity of its pupil (:func:`~..optics.pupil_torch.through_focus_psf`),
and only the pupil's aberrations ``a`` (Noll :data:`NOLL`, waves RMS) are unknown. They are
fitted by the marginal likelihood of the stack, with the object integrated out:

* the object is a stationary Gaussian field whose power spectrum ``S(|f|)`` depends only on the
  spatial frequency's length in physical units (cycles/um, z scaled by the z step): a
  piecewise-linear function of ``log |f|`` with :data:`SPECTRUM_KNOTS` free log-levels;
* the noise is white, of power ``s2``, measured where the optics pass nothing: beyond the
  incoherent lateral cut-off ``2 NA / lambda`` (only noise is there);
* the stack's spectrum ``Y(f)`` (mean removed, edges tapered) then has the Whittle likelihood

.. math::

    L(a, S) = \frac{1}{\sum_f w_f} \sum_{f \in \Omega} w_f
        \Big[\frac{|Y(f)|^2}{V(f)} + \log V(f)\Big], \qquad
    V(f) = |H_a(f)|^2 S(|f|) + s_2,

over the frequencies inside the cut-off (``w_f``: the half-spectrum's weights), minimised by
L-BFGS over ``S`` alone (the aberration-free PSF), then over ``a`` and ``S`` together. The
likelihood has local optima once the aberrations pass about 0.15 waves (a spherical aberration
mimicked by coma and trefoil, say), so the pupil is fitted coarse to fine and from more than one
start: the primary aberrations (:data:`PRIMARY`) first, then every term from there, once from
near zero and once from :data:`SPHERICAL_START` waves of spherical aberration (the commonest
large aberration, a refractive-index mismatch); the start with the higher likelihood wins. The object
is never estimated, so the fit has none of the alternating methods' bias towards the sharpest
PSF (an object restored with the aberration-free PSF explains the data, and a PSF refitted
to it stays aberration-free); and an isotropic object spectrum cannot mimic the direction-
dependent changes aberrations make to the 3D OTF (its missing cone, its axial extent).

Two things the likelihood cannot see, handled apart:

* **The global sign.** ``|H_{-a}| = |H_a|``: ``-a`` is the point reflection of the PSF
  (conjugating the pupil reverses defocus too). The sign is chosen by the Poisson deviance of
  Richardson-Lucy (a non-negative object) with each of the two mirror PSFs; they are equally
  sharp, so this comparison has no bias towards either.
* **Tip, tilt and defocus** (Noll 1-4) move the PSF, which a shift of the object absorbs: they
  are not fitted (the focal plane is where the stack puts it).

The fit is trusted (:attr:`PupilFit.reliable`) when no coefficient reaches
:data:`MAX_WAVES` (a fit at its bound has failed and is never reported as aberrations) and the
likelihood gain over the aberration-free pupil passes a likelihood-ratio test
(:data:`EVIDENCE_FLOOR`); otherwise the caller uses the aberration-free (nominal) PSF.
Measured evidence: ``docs/benchmarks/zstacks.md``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from napari_selfdiff.blind.regions import informative_window
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.ops.fft import blur_same, psf_to_otf
from napari_selfdiff.optics.pupil_torch import through_focus_psf
from napari_selfdiff.restoration.classic import richardson_lucy
from napari_selfdiff.results import Progress, drive

__all__ = ["NOLL", "PupilFit", "fit_pupil_3d", "nominal_psf_3d"]

#: Noll indices fitted: astigmatism, coma, trefoil, primary spherical and the second order.
NOLL = tuple(range(5, 16))
#: A coefficient this large (waves RMS) is a failed fit: far beyond what a usable objective has.
MAX_WAVES = 0.5
#: Fitted first, alone: astigmatism, coma and primary spherical, the aberrations objectives have.
PRIMARY = (5, 6, 7, 8, 11)
#: Primary spherical aberration (waves RMS) of the second start of the fit.
SPHERICAL_START = 0.15
#: Knots of the object's log power spectrum over log |f|.
SPECTRUM_KNOTS = 8
#: Lateral angular orders of the object's log spectrum: oriented structures (filaments, edges)
#: are anisotropic in the focal plane, which astigmatism and trefoil would otherwise explain.
ANGULAR_ORDERS = (2, 4)
#: Lateral side (pixels) of the window the fit looks at: the likelihood needs many
#: frequencies, not the whole field; the window with most structure is taken.
FIT_WINDOW = 128
#: Likelihood-ratio floor (the default of ``Stack3dConfig.evidence_from``):
#: ``2 N_eff (L_nominal - L_fit)`` must pass the chi-square(11) 1 % point; ``N_eff`` counts the
#: frequencies inside the cut-off once (the taper correlates neighbours, halving them).
EVIDENCE_FLOOR = 24.7
#: Richardson-Lucy iterations of the sign test.
SIGN_ITERATIONS = 20


@dataclass(frozen=True)
class PupilFit:
    """The fitted pupil of a z-stack and the PSF to restore it with.

    Attributes
    ----------
    psf : numpy.ndarray
        (Kz, K, K) float32 PSF, unit sum, every plane the same light: the fitted pupil's when
        :attr:`reliable`, else the aberration-free pupil's.
    coefficients : dict of int to float
        Noll index -> waves RMS as fitted (Noll :data:`NOLL`), whether reliable or not.
    evidence : float
        ``2 N_eff (L_nominal - L_fit)``: the likelihood-ratio statistic of the fit against the
        aberration-free pupil (about chi-square with 11 degrees of freedom when there are none).
    sign_margin : float
        Relative Poisson-deviance difference between the two mirror PSFs (the sign test); near
        0 the sign is not determined by the data.
    noise_power : float
        White noise power per voxel measured beyond the cut-off (input intensities squared).
    reliable : bool
        The fit passed both checks (module docstring); ``reason`` says which failed otherwise.
    reason : str
        Why the fit is or is not trusted, in words.
    seconds : float
        Wall time of the fit.
    grid, pupil_radius : int, float
        The FFT grid side and the pupil's radius on it (pixels) the PSF was rendered with.
    """

    psf: np.ndarray
    coefficients: dict[int, float]
    evidence: float
    sign_margin: float
    noise_power: float
    reliable: bool
    reason: str
    seconds: float
    grid: int
    pupil_radius: float

    @property
    def rms_waves(self) -> float:
        """RMS wavefront error of the fitted coefficients (waves): ``sqrt(sum a_j^2)``."""
        return float(math.sqrt(sum(v * v for v in self.coefficients.values())))


def _renderer(shape: tuple[int, int, int], optics, z_step: float):
    render = through_focus_psf(
        NOLL, shape, wavelength=optics.wavelength, na=optics.na, pixel_size=optics.pixel_size,
        immersion_index=optics.immersion_index, z_step=z_step, dtype=torch.float64,
    )  # fmt: skip
    return render, lambda a: render(a) / shape[0]


def nominal_psf_3d(shape: tuple[int, int, int], optics, z_step: float) -> np.ndarray:
    """The aberration-free (Kz, K, K) through-focus PSF of the microscope, unit sum, float32."""
    with torch.no_grad():
        psf = _renderer(shape, optics, z_step)[1](torch.zeros(len(NOLL), dtype=torch.float64))
    return psf.numpy().astype(np.float32)


def _frequencies(shape: tuple[int, ...], spacing: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """|f| (cycles/um), the lateral |f_xy| and its angle on the half spectrum of ``rfftn``."""
    axes = [np.fft.fftfreq(n, d) for n, d in zip(shape[:-1], spacing[:-1], strict=True)]
    axes.append(np.fft.rfftfreq(shape[-1], spacing[-1]))
    fz, fy, fx = np.meshgrid(*axes, indexing="ij")
    lateral = np.hypot(fy, fx)
    return np.sqrt(fz**2 + lateral**2), lateral, np.arctan2(fy, fx)


def _spectrum(stack: np.ndarray) -> tuple[torch.Tensor, float]:
    """``|FFT|^2`` of the stack, mean removed and every axis tapered (a square-root Hann).

    Also the taper's energy ``sum w^2``: white noise of variance v has power ``v sum w^2``.
    """
    taper = [np.sqrt(np.hanning(n + 2)[1:-1]) for n in stack.shape]
    window = taper[0][:, None, None] * taper[1][None, :, None] * taper[2][None, None, :]
    values = (stack - stack.mean()) * window
    spectrum = torch.fft.rfftn(torch.as_tensor(values, dtype=torch.float64))
    return spectrum.real**2 + spectrum.imag**2, float((window**2).sum())


def _minimise(parameters: list[torch.Tensor], loss, iterations: int) -> None:
    optimiser = torch.optim.LBFGS(
        parameters, lr=1, max_iter=iterations, line_search_fn="strong_wolfe",
        tolerance_grad=1e-10, tolerance_change=1e-12,
    )  # fmt: skip

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = loss()
        value.backward()
        return value

    optimiser.step(closure)


def _deviance(stack: torch.Tensor, psf: torch.Tensor) -> float:
    """Mean Poisson deviance of the stack against RL's non-negative object blurred by ``psf``."""
    estimate = drive(richardson_lucy(stack, psf, SIGN_ITERATIONS))
    margins = tuple(k // 2 for k in psf.shape)
    inside = tuple(slice(m, n - m) for m, n in zip(margins, stack.shape, strict=True))
    model = blur_same(estimate, psf)[inside].clamp_min(1e-9)
    observed = stack[inside].clamp_min(0)
    return float((model - observed + observed * torch.log(observed.clamp_min(1e-9) / model)).mean())


def fit_pupil_3d(
    stack: np.ndarray,
    kernel_shape: tuple[int, int, int],
    optics,
    z_step: float,
    *,
    evidence_from: float = EVIDENCE_FLOOR,
    iterations: int = 60,
    seed: int = 0,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, PupilFit]:
    """Fit the microscope's pupil aberrations to a (Z, Y, X) stack (see the module).

    Parameters
    ----------
    stack : numpy.ndarray
        (Z, Y, X) non-negative intensities (photons or counts above the camera offset).
    kernel_shape : tuple of int
        (Kz, K, K) of the returned PSF, odd sides.
    optics : OpticsConfig
        The microscope, all of NA, wavelength and pixel size given (um).
    z_step : float
        Distance between planes, um.
    evidence_from : float
        The likelihood-ratio statistic a fit must reach to be trusted
        (``Stack3dConfig.evidence_from``).
    iterations : int
        L-BFGS iterations of each of the two fits.
    seed : int
        Seed of the small random start that breaks the symmetry at ``a = 0``, where the
        likelihood's gradient vanishes (``|H_a|`` is even in ``a``).
    cancel : threading.Event, optional
        Set to stop; raises :class:`~napari_selfdiff.errors.Cancelled`.

    Yields
    ------
    Progress
        One event per stage (spectrum, nominal fit, pupil fit, sign).

    Returns
    -------
    PupilFit
    """
    start = time.perf_counter()

    def step(number: int, loss: float = float("nan")) -> Progress:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the run was cancelled")
        return Progress(0, 1, number, 4, 0, 1, loss, time.perf_counter() - start, stage="fit_pupil")

    rows, cols = informative_window(stack, FIT_WINDOW, kernel_shape[-1])
    window = np.asarray(stack[:, rows, cols], np.float64)
    power, taper_energy = _spectrum(window)
    spacing = (z_step, optics.pixel_size, optics.pixel_size)
    length, lateral, angle = _frequencies(window.shape, spacing)
    cut_off = 2 * optics.na / optics.wavelength
    weights = torch.full(power.shape, 2.0, dtype=torch.float64)
    weights[..., 0] = 1.0
    if window.shape[-1] % 2 == 0:
        weights[..., -1] = 1.0
    beyond = torch.as_tensor(lateral > 1.05 * cut_off)
    inside = torch.as_tensor(lateral < cut_off)
    inside[0, 0, 0] = False
    if int(beyond.sum()) < 16:
        noise = float(power[inside].min())  # no room beyond the cut-off: the floor inside
    else:
        noise = float((power * weights)[beyond].sum() / weights[beyond].sum())
    yield step(1)
    smallest = float(length[length > 0].min())
    log_length = np.log(np.maximum(length, smallest))
    knots = np.linspace(log_length.min(), log_length.max(), SPECTRUM_KNOTS)
    hats = np.clip(1 - np.abs(log_length[None] - knots[:, None, None, None]) / (knots[1] - knots[0]), 0, 1)
    harmonics = [f(m * angle) for m in ANGULAR_ORDERS for f in (np.cos, np.sin)]
    basis = torch.as_tensor(np.concatenate([hats, np.stack(harmonics)])[:, inside.numpy()])
    observed, weight = power[inside], weights[inside]
    pupil, render = _renderer(kernel_shape, optics, z_step)

    def likelihood(a: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        transfer = psf_to_otf(render(a), window.shape)[inside]
        variance = (transfer.real**2 + transfer.imag**2) * torch.exp(levels @ basis) + noise
        return ((observed / variance + torch.log(variance)) * weight).sum() / weight.sum()

    levels = torch.zeros(len(basis), dtype=torch.float64)
    levels[:SPECTRUM_KNOTS] = math.log(float(observed.mean()))
    levels.requires_grad_(True)
    zero = torch.zeros(len(NOLL), dtype=torch.float64)
    _minimise([levels], lambda: likelihood(zero, levels), iterations)
    with torch.no_grad():
        nominal_loss = float(likelihood(zero, levels))
    yield step(2, nominal_loss)
    generator = np.random.default_rng(seed)
    primary = torch.as_tensor([j in PRIMARY for j in NOLL], dtype=torch.float64)
    nominal_levels = levels.detach().clone()
    fit_loss, found = math.inf, torch.zeros(len(NOLL), dtype=torch.float64)
    for spherical in (0.0, SPHERICAL_START):
        a = torch.as_tensor(0.02 * generator.standard_normal(len(NOLL)), dtype=torch.float64) * primary
        a[NOLL.index(11)] += spherical
        a.requires_grad_(True)
        levels = nominal_levels.clone().requires_grad_(True)
        _minimise([a, levels], lambda: likelihood(a * primary, levels), iterations)  # noqa: B023
        a = (a.detach() * primary).requires_grad_(True)
        _minimise([a, levels], lambda: likelihood(a, levels), iterations)  # noqa: B023
        with torch.no_grad():
            loss = float(likelihood(a, levels))
        if loss < fit_loss:
            fit_loss, found = loss, a.detach().clone()
    yield step(3, fit_loss)
    # 2 x the total log-likelihood gain over the independent frequencies: the weighted sum
    # counts each of f and -f, i.e. twice; the taper correlates neighbours, halving them again.
    evidence = 2 * (float(weight.sum()) / 4) * (nominal_loss - fit_loss)
    observed_stack = torch.as_tensor(np.clip(window, 0, None), dtype=torch.float32)
    with torch.no_grad():
        plus, minus = (render(s * found).float() for s in (1, -1))
    deviance_plus, deviance_minus = _deviance(observed_stack, plus), _deviance(observed_stack, minus)
    if deviance_minus < deviance_plus:
        found = -found
    sign_margin = abs(deviance_plus - deviance_minus) / max(min(deviance_plus, deviance_minus), 1e-12)
    yield step(4)
    coefficients = {j: float(v) for j, v in zip(NOLL, found.tolist(), strict=True)}
    largest = max(abs(v) for v in coefficients.values())
    if not math.isfinite(largest) or largest >= MAX_WAVES:
        reliable, reason = False, f"a coefficient reached {MAX_WAVES:g} waves: the fit failed"
    elif evidence < evidence_from:
        reliable = False
        reason = f"no aberration the data can show (likelihood ratio {evidence:.1f} < {evidence_from:g})"
    else:
        reliable, reason = True, f"likelihood ratio {evidence:.0f} over the aberration-free pupil"
    with torch.no_grad():
        psf = render(found if reliable else torch.zeros_like(found))
    return PupilFit(
        psf.numpy().astype(np.float32), coefficients, float(evidence), float(sign_margin),
        noise / taper_energy,
        reliable, reason, time.perf_counter() - start, pupil.grid, float(pupil.radius),
    )  # fmt: skip
