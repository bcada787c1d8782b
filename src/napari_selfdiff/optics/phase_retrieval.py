r"""Phase retrieval of the pupil from a through-focus bead stack, and bead averaging.

**Model.** The scalar through-focus model of :mod:`.psf`: the pupil ``P = A exp(2 pi i phi)``
(magnitude ``A``, phase ``phi`` in waves) on the NA disk of an N x N FFT grid, the plane at a
distance ``z`` from focus

.. math::

    I_z = \big| \mathcal F\{ P\, e^{2 \pi i\, D(\rho) z} \} \big|^2, \qquad
    D(\rho) = \frac{\sqrt{n^2 - (\mathrm{NA}\,\rho)^2} - n}{\lambda}
    \;\text{(waves per um, the angular-spectrum defocus)},

with the forward FFT between ``ifftshift`` and ``fftshift`` and the grid and pupil radius of
:func:`.sampling.pupil_sampling` (``R = NA N dx / lambda``), exactly as
:func:`.psf.zernike_psf` renders a stack: a positive Z2 moves the spot to +x, a positive Z3 to
+y, a positive Z4 moves the best focus to +z.

**Gerchberg-Saxton through focus** (Hanser et al. 2004). From a start pupil (below), each
iteration

1. propagates the pupil to every measured plane, ``E_k = F{P exp(2 pi i D z_k)}``;
2. replaces the magnitude by the measurement where it was measured,
   ``E_k <- s_k sqrt(I_k) E_k / |E_k|`` (``s_k`` the least-squares scale of the plane: the data
   need no absolute calibration; pixels of the grid outside the measured window keep the
   model's field);
3. back-propagates, ``P_k = F^{-1}{E_k} exp(-2 pi i D z_k)``, averages ``P = mean_k P_k`` and
   sets ``P = 0`` outside the NA disk.

The measured stack is background-subtracted (the median of its lateral border unless given),
clipped at zero and cropped to a ``window`` x ``window`` square centred on the bead, which sits
at the centre of the FFT grid as in :func:`.psf.zernike_psf`.

**Two starts.** Balanced spherical aberration moves the brightest plane away from the focus of
the Zernike terms, and a run started at the wrong focus can stall in a pupil that trades
spherical for focus. The iterations therefore run twice: from the ideal pupil focused on the
brightest plane, and from the focus and spherical aberration whose on-axis intensity best
matches the data's (:func:`_axial_start`). The run kept is the one whose *smooth model* (its
fitted Zernike phase with its ring-averaged magnitude) fits the data better: the free pupil of
either run fits the noise too, so its own misfit does not rank them.

**Zernike decomposition.** The pupil phase is unwrapped by a modal fit: first to the wrapped
phase differences between neighbouring pixels (unambiguous while the phase changes by less
than half a wave per pixel), of the pupil and of the pupil smoothed by one pixel (against
pixel noise), each then refined on the wrapped residual ``arg(P exp(-2 pi i phi_fit))`` of the
pupil; the better of the two is kept. The fit is a least-squares fit
over the disk weighted by the pupil magnitude, on the basis ``Z_1, Z_2, Z_3, D, Z_5 ... Z_N``
(Noll, RMS-normalised): the exact defocus ``D`` takes the place of ``Z_4``, so that a focus
offset at high NA does not leak into spherical aberration (``D`` contains ``Z_11``, ``Z_22``
beyond the paraxial limit). Piston, tip, tilt and focus describe where the bead is, not the
optics: they are reported as :attr:`PupilEstimate.focus_um` and :attr:`PupilEstimate.shift_um`,
the aberrations as Noll ``5 ... N``.

**Not modelled**: pixel integration (oversampling), vectorial effects and a pupil apodisation
other than what the retrieved magnitude holds; a pixel coarser than Nyquist
(``lambda / (4 NA)``) aliases the model and is refused. The bead is taken as a point: the
blur of a bead of finite size is not in the model. The retrieved magnitude fits noise pixel
by pixel (about 30 % RMS at 1e4 photons a bead); its ring average, the apodisation, is sound.

References
----------
B. M. Hanser, M. G. L. Gustafsson, D. A. Agard, J. W. Sedat, "Phase-retrieved pupil functions
in wide-field fluorescence microscopy", J. Microsc. 216, 32-48 (2004),
doi:10.1111/j.0022-2720.2004.01393.x.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from napari_selfdiff.optics.aberrations import strehl_ratio
from napari_selfdiff.optics.psf import _positive, zernike_psf
from napari_selfdiff.optics.pupil import angular_spectrum_defocus, pupil_coordinates
from napari_selfdiff.optics.sampling import nyquist_pixel_size, pupil_sampling
from napari_selfdiff.optics.zernike import nm_to_ansi, noll_to_nm, zernike

__all__ = ["PupilEstimate", "average_beads", "fwhm_um", "retrieve_pupil"]

logger = logging.getLogger(__name__)

RADIAL_NODES = 256
START_SPHERICAL = 0.5  # waves: the range of the starting search
FIRST_ABERRATION = 5  # Noll 1-4: piston, tip, tilt, defocus (position and focus)
NEIGHBOUR_FRACTION = 0.1  # a local maximum this bright relative to a bead near it is another object
ON_AXIS = 2  # pixels: maxima this close laterally belong to the bead itself (its axial lobes)


def _odd_int(name: str, value: object, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
        or value % 2 == 0
    ):
        raise ValueError(f"`{name}` must be an odd integer >= {minimum}, got {value!r}")
    return int(value)


def _forward(pupil: np.ndarray) -> np.ndarray:
    # The Fraunhofer propagation of psf._intensity, batched over leading axes.
    return sfft.fftshift(sfft.fft2(sfft.ifftshift(pupil, axes=(-2, -1))), axes=(-2, -1))


def _backward(field: np.ndarray) -> np.ndarray:
    return sfft.fftshift(sfft.ifft2(sfft.ifftshift(field, axes=(-2, -1))), axes=(-2, -1))


def fwhm_um(stack: np.ndarray, pixel_size: float, z_step: float) -> dict[str, float]:
    """Full widths at half maximum (um) of a (Z, Y, X) PSF through its brightest voxel.

    The profiles along x, y and z through the maximum of the stack (lightly smoothed to find
    it), each crossing of half the peak located by linear interpolation. ``nan`` where a
    profile does not fall to half its peak inside the stack.

    Parameters
    ----------
    stack : numpy.ndarray
        (Z, Y, X) background-free PSF.
    pixel_size : float
        Lateral pixel size, um.
    z_step : float
        Distance between planes, um.

    Returns
    -------
    dict of str to float
        ``{"x": ..., "y": ..., "z": ...}`` in um.
    """
    stack = np.asarray(stack, dtype=np.float64)
    if stack.ndim != 3:
        raise ValueError(f"`stack` must be (Z, Y, X), got shape {stack.shape}")
    smooth = ndimage.uniform_filter(stack, 3, mode="nearest")
    pz, py, px = np.unravel_index(int(np.argmax(smooth)), stack.shape)
    profiles = {"x": stack[pz, py, :], "y": stack[pz, :, px], "z": stack[:, py, px]}
    centres = {"x": px, "y": py, "z": pz}
    steps = {"x": pixel_size, "y": pixel_size, "z": z_step}
    return {axis: _profile_fwhm(profiles[axis], centres[axis]) * steps[axis] for axis in "xyz"}


def _profile_fwhm(profile: np.ndarray, peak: int) -> float:
    half = profile[peak] / 2.0
    if not half > 0:
        return math.nan

    def crossing(direction: int) -> float:
        i = peak
        while 0 <= i + direction < profile.size:
            nxt = i + direction
            if profile[nxt] <= half:
                fraction = (profile[i] - half) / (profile[i] - profile[nxt])
                return i + direction * fraction
            i = nxt
        return math.nan

    return abs(crossing(1) - crossing(-1))


@dataclass(frozen=True, eq=False)
class PupilEstimate:
    r"""A pupil retrieved from a through-focus bead stack (:func:`retrieve_pupil`).

    Attributes
    ----------
    magnitude : numpy.ndarray
        (N, N) pupil magnitude, mean 1 over the NA disk, zero outside it (noisy pixel by pixel
        with noisy data: the module docstring).
    phase : numpy.ndarray
        (N, N) unwrapped aberration phase in waves: the retrieved phase less its fitted piston,
        tip, tilt and focus terms (zero outside the disk).
    noll : dict of int to float
        Noll index (5 ... N) -> coefficient, waves RMS.
    ansi : dict of int to float
        The same coefficients under their OSA/ANSI indices.
    rms_waves : float
        RMS wavefront error of Noll 5 ... N, ``sqrt(sum a_j^2)``, waves.
    strehl : float
        Strehl ratio of the fitted wavefront, ``|<exp(2 pi i W)>_disk|^2`` (Noll 5 ... N).
    strehl_marechal : float
        Marechal's approximation ``exp(-(2 pi sigma)^2)``, sigma = ``rms_waves``.
    focus_um : float
        z (in the stack's coordinates, um) at which the aberration-free part of the pupil is in
        focus: the origin of the Zernike terms.
    shift_um : tuple of float
        (y, x) position of the bead relative to the window's centre pixel, um, from tip and tilt
        (a Z2 coefficient ``c`` waves is ``2 c lambda / NA`` um).
    fwhm_um : dict of str to float
        Measured FWHM (x, y, z) of the stack, um (:func:`fwhm_um`).
    fwhm_nominal_um : dict of str to float
        FWHM of the aberration-free model PSF on the same planes and pixels.
    relative_residual : float
        ``||s I_model - I_measured|| / ||I_measured||`` over the measured window after the last
        iteration (``s`` per plane, least squares).
    residual_history : tuple of float
        The same before each iteration: convergence.
    wavelength, na, pixel_size, immersion_index : float
        The optics (um).
    radius_px : float
        Pupil radius in pixels of the N x N grid.
    window : int
        Side of the measured window, pixels.
    z_positions_um : numpy.ndarray
        The stack's planes, as given.
    tilt_waves : tuple of float
        Fitted (Z2, Z3) coefficients, waves RMS.
    centre_yx : tuple of int
        (row, column) of the window's centre pixel in the stack (the bead's brightest pixel).
    """

    magnitude: np.ndarray
    phase: np.ndarray
    noll: dict[int, float]
    ansi: dict[int, float]
    rms_waves: float
    strehl: float
    strehl_marechal: float
    focus_um: float
    shift_um: tuple[float, float]
    fwhm_um: dict[str, float]
    fwhm_nominal_um: dict[str, float]
    relative_residual: float
    residual_history: tuple[float, ...]
    wavelength: float
    na: float
    pixel_size: float
    immersion_index: float
    radius_px: float
    window: int
    z_positions_um: np.ndarray = field(repr=False)
    tilt_waves: tuple[float, float] = (0.0, 0.0)
    centre_yx: tuple[int, int] = (0, 0)

    def pupil(self, *, with_position: bool = True) -> np.ndarray:
        """Complex pupil ``A exp(2 pi i phi)`` (N, N), with the fitted tip and tilt unless told not."""
        phase = self.phase
        if with_position:
            rho, theta = pupil_coordinates(self.phase.shape[0], self.radius_px)
            phase = phase + self.tilt_waves[0] * zernike(1, 1, rho, theta)
            phase = phase + self.tilt_waves[1] * zernike(1, -1, rho, theta)
        return self.magnitude * np.exp(2j * np.pi * phase)

    def psf(self, z_um: float | Sequence[float] | None = None, size: int | None = None) -> np.ndarray:
        """The retrieved pupil's PSF at ``z_um`` (stack coordinates; default: the stack's planes).

        Plane ``z`` is rendered with the defocus ``z - focus_um``, tip and tilt included, so the
        model lies where the bead was in the window. Each plane sums to 1 over the ``size``
        window (default: the retrieval window).
        """
        z = self.z_positions_um if z_um is None else np.atleast_1d(np.asarray(z_um, dtype=np.float64))
        size = self.window if size is None else _odd_int("size", size, 1)
        grid = self.phase.shape[0]
        rho, _ = pupil_coordinates(grid, self.radius_px)
        defocus = angular_spectrum_defocus(
            rho, 1.0, wavelength=self.wavelength, na=self.na, immersion_index=self.immersion_index
        )
        pupils = self.pupil()[None] * np.exp(2j * np.pi * defocus[None] * (z - self.focus_um)[:, None, None])
        intensity = np.abs(_forward(pupils)) ** 2
        centre, half = grid // 2, size // 2
        window = intensity[:, centre - half : centre + half + 1, centre - half : centre + half + 1]
        window = window / window.sum(axis=(1, 2), keepdims=True)
        return window[0] if np.ndim(z_um) == 0 and z_um is not None else window

    def table(self) -> list[dict[str, float | int]]:
        """One row per aberration term: Noll and ANSI indices, (n, m), waves RMS."""
        rows = []
        for j, value in sorted(self.noll.items()):
            n, m = noll_to_nm(j)
            rows.append({"noll": j, "ansi": nm_to_ansi(n, m), "n": n, "m": m, "waves": value})
        return rows


def _prepare(
    stack: np.ndarray, window: int, background: float | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Background-subtracted (Z, K, K) crop centred on the bead, the measured mask and the centre."""
    planes, height, width = stack.shape
    if background is None:
        border = np.concatenate(
            [stack[:, 0, :], stack[:, -1, :], stack[:, 1:-1, 0], stack[:, 1:-1, -1]], axis=1
        )
        background = float(np.median(border))
    data = np.clip(stack - background, 0.0, None)
    projection = ndimage.gaussian_filter(data.max(axis=0), 1.0)
    cy, cx = np.unravel_index(int(np.argmax(projection)), projection.shape)
    half = window // 2
    crop = np.zeros((planes, window, window))
    mask = np.zeros((window, window), dtype=bool)
    y0, y1 = max(cy - half, 0), min(cy + half + 1, height)
    x0, x1 = max(cx - half, 0), min(cx + half + 1, width)
    crop[:, y0 - cy + half : y1 - cy + half, x0 - cx + half : x1 - cx + half] = data[:, y0:y1, x0:x1]
    mask[y0 - cy + half : y1 - cy + half, x0 - cx + half : x1 - cx + half] = True
    return crop, mask, (int(cy), int(cx))


def _plane_gains(
    model: np.ndarray, data: np.ndarray, measured: np.ndarray, norm: float
) -> tuple[np.ndarray, float]:
    """Per-plane least-squares gains ``t`` of ``t model ~ data`` and ``||t model - data|| / ||data||``."""
    model = model * measured
    gain = (model * data).sum(axis=(1, 2)) / np.maximum((model**2).sum(axis=(1, 2)), 1e-300)
    misfit = float(np.sqrt(((gain[:, None, None] * model - data * measured) ** 2).sum()) / norm)
    return gain, misfit


def _focus_plane(crop: np.ndarray, z: np.ndarray) -> float:
    """Z of the brightest plane (peak of the smoothed stack), refined by a parabola through three."""
    peaks = ndimage.uniform_filter(crop, (1, 3, 3)).max(axis=(1, 2))
    k = int(np.argmax(peaks))
    if 0 < k < z.size - 1:
        left, mid, right = peaks[k - 1 : k + 2]
        curvature = left - 2 * mid + right
        if curvature < 0:
            offset = 0.5 * (left - right) / curvature
            step = 0.5 * (z[k + 1] - z[k - 1])
            return float(z[k] + np.clip(offset, -0.5, 0.5) * step)
    return float(z[k])


def _axial_start(
    crop: np.ndarray,
    z: np.ndarray,
    *,
    wavelength: float,
    na: float,
    immersion_index: float,
    radius: float,
    grid: int,
) -> tuple[float, float]:
    r"""Focus (um) and primary spherical (waves) whose axial intensity best matches the data's.

    Balanced spherical aberration moves the brightest plane away from the focus of the Zernike
    terms (by about ``4 sqrt(3) a_11 n lambda / NA^2`` paraxially, more at high NA), which a
    Gerchberg-Saxton run started at the brightest plane does not always undo. For a radial
    pupil the field at ``r`` pixels from the axis is a Hankel transform,

    .. math::

        E(r; a, f, z) \propto \int_0^1 e^{2 \pi i (a Z_{11}(\rho) + D(\rho) (z - f))}
        J_0(2 \pi \rho R r / N)\, \rho\, d\rho,

    and the mean intensity of the central 3 x 3 pixels (``r = 0, 1, sqrt 2`` with weights 1, 4,
    4) is compared with the data's over a grid of ``a`` and ``f`` (least squares, free gain);
    the best pair starts the iterations.
    """
    from scipy.special import j0

    nodes = (np.arange(RADIAL_NODES) + 0.5) / RADIAL_NODES
    spherical = zernike(4, 0, nodes, np.zeros_like(nodes))
    kz = np.sqrt(immersion_index**2 - (na * nodes) ** 2)
    radial = (kz - immersion_index) / wavelength
    kernels = np.stack(
        [j0(2 * np.pi * nodes * radius * r / grid) * nodes for r in (0.0, 1.0, math.sqrt(2.0))]
    )
    c = crop.shape[1] // 2
    profile = crop[:, c - 1 : c + 2, c - 1 : c + 2].mean(axis=(1, 2))
    amplitudes = np.arange(-START_SPHERICAL, START_SPHERICAL + 1e-9, 0.025)
    peak = _focus_plane(crop, z)
    step = float(np.min(np.abs(np.diff(z))))
    # Balanced spherical of START_SPHERICAL waves moves the brightest plane by about this much.
    reach = 2.0 * START_SPHERICAL / float(np.abs(radial).max()) * 2.0 * math.sqrt(5.0)
    foci = peak + np.arange(-reach, reach + 1e-9, step / 4)
    depths = (z[None, :] - foci[:, None]).ravel()
    phases = np.exp(2j * np.pi * amplitudes[:, None] * spherical[None])  # (A, nodes)
    propagate = np.exp(2j * np.pi * radial[:, None] * depths[None])  # (nodes, F Z)
    intensity = sum(
        w * np.abs((phases * k[None]) @ propagate) ** 2 for w, k in zip((1.0, 4.0, 4.0), kernels, strict=True)
    )
    model = intensity.reshape(amplitudes.size, foci.size, z.size)
    score = (model @ profile) ** 2 / np.maximum((model**2).sum(axis=-1), 1e-300)
    i, k = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(foci[k]), float(amplitudes[i])


def _basis(
    rho: np.ndarray, theta: np.ndarray, defocus: np.ndarray, n_zernike: int
) -> tuple[np.ndarray, list]:
    """Columns Z1, Z2, Z3, D, Z5 ... ZN on the given pixels, and their labels."""
    columns, labels = [], []
    for j in range(1, n_zernike + 1):
        if j == 4:
            columns.append(defocus)
            labels.append("focus")
        else:
            columns.append(zernike(*noll_to_nm(j), rho, theta))
            labels.append(j)
    return np.stack(columns, axis=-1), labels


def _weighted_lstsq(matrix: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``argmin_x sum_i w_i (A_i x - b_i)^2`` by the normal equations (J <= a few dozen columns)."""
    weighted = matrix * weights[:, None]
    return np.linalg.solve(weighted.T @ matrix, weighted.T @ values)


def _slope_fit(pupil: np.ndarray, inside: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Coefficients fitted to the wrapped phase differences of neighbouring disk pixels (waves)."""
    magnitude = np.abs(pupil)
    coefficients = np.zeros(basis.shape[-1])
    slopes, weights, rows = [], [], []
    for axis in (0, 1):
        ahead = np.roll(pupil, -1, axis=axis)
        both = inside & np.roll(inside, -1, axis=axis)
        both[(-1, slice(None)) if axis == 0 else (slice(None), -1)] = False
        slopes.append(np.angle(ahead[both] * np.conj(pupil[both])) / (2 * np.pi))
        weights.append(np.minimum(magnitude[both], np.roll(magnitude, -1, axis=axis)[both]))
        rows.append(np.roll(basis, -1, axis=axis)[both] - basis[both])
    coefficients[1:] = _weighted_lstsq(
        np.concatenate(rows)[:, 1:], np.concatenate(slopes), np.concatenate(weights)
    )
    return coefficients


def _fit_phase(pupil: np.ndarray, inside: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modal fit of the pupil's phase (waves): coefficients on ``basis`` and the unwrapped phase.

    ``basis`` is (N, N, J) over the grid. A fit to the wrapped phase differences of
    neighbouring disk pixels (piston excluded), of the pupil itself and of the pupil smoothed
    by a Gaussian of one pixel (pixel-to-pixel phase noise, large where the data hold much
    noise, wraps the differences of the former; steep phase, large defocus, biases the
    latter), each refined three times on the wrapped residual of the pupil; the one with the
    smaller weighted residual is kept.
    """
    smooth = ndimage.gaussian_filter(pupil.real, 1.0) + 1j * ndimage.gaussian_filter(pupil.imag, 1.0)
    on_disk = basis[inside]
    weight = np.abs(pupil[inside])
    best = (math.inf, np.zeros(basis.shape[-1]))
    for start in (pupil, np.where(inside, smooth, 0.0)):
        coefficients = _slope_fit(start, inside, basis)
        for _ in range(3):
            residual = np.angle(pupil[inside] * np.exp(-2j * np.pi * (on_disk @ coefficients))) / (2 * np.pi)
            coefficients = coefficients + _weighted_lstsq(on_disk, residual, weight)
        residual = np.angle(pupil[inside] * np.exp(-2j * np.pi * (on_disk @ coefficients))) / (2 * np.pi)
        spread = float((weight * residual**2).sum())
        if spread < best[0]:
            best = (spread, coefficients)
    coefficients = best[1]
    model = basis @ coefficients
    residual = np.angle(pupil * np.exp(-2j * np.pi * model)) / (2 * np.pi)
    return coefficients, np.where(inside, model + residual, 0.0)


class _Problem:
    """The measured window on the FFT grid: Gerchberg-Saxton iterations and model misfits."""

    def __init__(
        self, crop: np.ndarray, measured: np.ndarray, z: np.ndarray, inside: np.ndarray, defocus: np.ndarray,
        window: int,
    ) -> None:  # fmt: skip
        # The loop runs in the FFT's own frame (no fftshift): the window at the centre of the
        # shifted grid, where zernike_psf crops, is then the rows and columns -h ... h modulo N.
        grid = inside.shape[0]
        index = np.arange(-(window // 2), window // 2 + 1) % grid
        self.region = np.ix_(np.arange(z.size), index, index)
        self.crop, self.measured, self.z = crop, measured, z
        self.inside_u = sfft.ifftshift(inside)
        self.defocus_u = sfft.ifftshift(defocus)
        self.amplitude = np.sqrt(crop)
        self.norm = float(np.linalg.norm(crop))  # zero outside the measured part

    def propagators(self, z_reference: float) -> np.ndarray:
        return np.exp(2j * np.pi * self.defocus_u[None] * (self.z - z_reference)[:, None, None])

    def misfit(self, pupil_u: np.ndarray, propagators: np.ndarray) -> float:
        intensity = np.abs(sfft.fft2(pupil_u[None] * propagators)[self.region]) ** 2
        return _plane_gains(intensity, self.crop, self.measured, self.norm)[1]

    def iterate(
        self, pupil: np.ndarray, z_reference: float, iterations: int, tolerance: float
    ) -> tuple[np.ndarray, list[float], float]:
        """Gerchberg-Saxton from ``pupil`` (centred frame); the pupil, the misfits, the last misfit."""
        propagators = self.propagators(z_reference)
        pupil_u = sfft.ifftshift(pupil)
        history: list[float] = []
        for _ in range(iterations):
            fields = sfft.fft2(pupil_u[None] * propagators)
            window_fields = fields[self.region]
            gain, misfit = _plane_gains(np.abs(window_fields) ** 2, self.crop, self.measured, self.norm)
            converged = bool(history) and abs(history[-1] - misfit) < tolerance * misfit
            history.append(misfit)
            if converged:
                break
            phasor = window_fields / np.maximum(np.abs(window_fields), 1e-300)
            replaced = self.amplitude / np.sqrt(gain)[:, None, None] * phasor
            fields[self.region] = np.where(self.measured, replaced, window_fields)
            back = sfft.ifft2(fields, overwrite_x=True)
            pupil_u = np.where(self.inside_u, (back * np.conj(propagators)).mean(axis=0), 0.0)
        return sfft.fftshift(pupil_u), history, self.misfit(pupil_u, propagators)

    def model_misfit(self, pupil: np.ndarray, phase: np.ndarray, z_reference: float) -> float:
        """Misfit of the smooth model of a retrieved pupil (noise-free, unlike the pupil itself).

        The model: the fitted Zernike phase (waves) and the magnitude averaged over rings (the
        apodisation). The noise GS also fits does not lower this misfit, so it ranks the starts.
        """
        inside = sfft.fftshift(self.inside_u)
        grid = inside.shape[0]
        yy, xx = np.indices(inside.shape) - grid // 2
        rings = np.hypot(yy, xx).astype(int)
        magnitude = np.abs(pupil)
        profile = np.bincount(rings[inside], magnitude[inside]) / np.maximum(np.bincount(rings[inside]), 1)
        model = np.where(
            inside, profile[np.minimum(rings, profile.size - 1)] * np.exp(2j * np.pi * phase), 0.0
        )
        return self.misfit(sfft.ifftshift(model), self.propagators(z_reference))


def retrieve_pupil(
    psf_stack: np.ndarray,
    *,
    z_positions_um: Sequence[float] | np.ndarray,
    wavelength: float,
    na: float,
    pixel_size: float,
    immersion_index: float = 1.0,
    iterations: int = 100,
    tolerance: float = 1e-4,
    n_zernike: int = 15,
    window: int | None = None,
    background: float | None = None,
    fft_size: int | None = None,
) -> PupilEstimate:
    r"""Retrieve the pupil (magnitude and phase) from a through-focus stack of one bead.

    Gerchberg-Saxton phase retrieval with through-focus diversity (Hanser et al. 2004), then a
    Zernike decomposition of the unwrapped phase; the maths are in the module docstring.

    Parameters
    ----------
    psf_stack : numpy.ndarray
        (Z, Y, X) image of one isolated sub-resolution bead (or an average of beads,
        :func:`average_beads`), any lateral size; the bead need not be centred.
    z_positions_um : sequence of float
        Position of each plane along the optical axis, um, increasing in the direction of +z of
        :func:`.psf.zernike_psf` (away from the objective when the stage moves the sample
        towards it; flip the stack if Z4 comes out with the wrong sign on a known defocus).
    wavelength : float
        Emission wavelength, um.
    na : float
        Numerical aperture of the objective.
    pixel_size : float
        Lateral pixel size in object space, um; at most the Nyquist pixel ``lambda / (4 NA)``.
    immersion_index : float
        Refractive index of the immersion medium (1.0 air, 1.33 water, 1.518 oil).
    iterations : int
        Largest number of Gerchberg-Saxton iterations (each propagates to every plane and back).
    tolerance : float
        Stop when an iteration lowers the relative misfit (:attr:`PupilEstimate.residual_history`)
        by less than this fraction of it (0: run all ``iterations``).
    n_zernike : int
        Highest Noll index of the decomposition (15: up to the quadrafoils; at least 5).
    window : int, optional
        Odd side of the lateral window around the bead that is used, pixels (default: the
        largest odd square that fits the stack). The FFT grid is chosen from it by the rule of
        :func:`.psf.zernike_psf`; parts of the window outside the stack are left to the model.
    background : float, optional
        Camera background per pixel, subtracted before the retrieval (default: the median of
        the stack's lateral border).
    fft_size : int, optional
        Smallest FFT grid side (a finer pupil sampling).

    Returns
    -------
    PupilEstimate
        Pupil, Noll and ANSI coefficients (waves RMS), RMS, Strehl, focus and lateral position,
        the measured and nominal FWHM, and the fit's residual.

    Raises
    ------
    ValueError
        A stack that is not (Z, Y, X) with at least 3 planes, non-finite values or no signal
        above the background; ``z_positions_um`` not one finite, strictly monotonic value per
        plane; optics out of range (``na > immersion_index``); a pixel coarser than Nyquist;
        ``iterations < 1``; ``n_zernike < 5``; a ``window`` that is not an odd integer >= 9.

    Examples
    --------
    >>> from napari_selfdiff.optics import zernike_psf
    >>> z = np.linspace(-1.0, 1.0, 9)
    >>> stack = zernike_psf({11: 0.1}, 49, wavelength=0.52, na=1.2, pixel_size=0.1,
    ...                     immersion_index=1.33, z=z)
    >>> estimate = retrieve_pupil(stack, z_positions_um=z, wavelength=0.52, na=1.2,
    ...                           pixel_size=0.1, immersion_index=1.33, iterations=50)
    >>> round(estimate.noll[11], 2)
    0.1
    """
    stack = np.asarray(psf_stack, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] < 3:
        raise ValueError(f"`psf_stack` must be (Z, Y, X) with Z >= 3, got shape {stack.shape}")
    if not np.isfinite(stack).all():
        raise ValueError("`psf_stack` holds non-finite values")
    z = np.asarray(z_positions_um, dtype=np.float64)
    if z.shape != (stack.shape[0],) or not np.isfinite(z).all():
        raise ValueError(
            f"`z_positions_um` must hold one finite value per plane ({stack.shape[0]}), got shape {z.shape}"
        )
    steps = np.diff(z)
    if not ((steps > 0).all() or (steps < 0).all()):
        raise ValueError("`z_positions_um` must be strictly monotonic")
    optics = dict(wavelength=wavelength, na=na, pixel_size=pixel_size, immersion_index=immersion_index)
    wavelength, na, pixel_size, immersion_index = (_positive(name, value) for name, value in optics.items())
    if na > immersion_index:
        raise ValueError(f"`na`={na} cannot exceed `immersion_index`={immersion_index}")
    nyquist = nyquist_pixel_size(wavelength, na)
    if pixel_size > nyquist * (1 + 1e-9):
        raise ValueError(
            f"`pixel_size`={pixel_size} um is coarser than the Nyquist pixel lambda/(4 NA) = "
            f"{nyquist:.4g} um: the model does not integrate over pixels"
        )
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"`iterations` must be an integer >= 1, got {iterations!r}")
    if not (isinstance(tolerance, (int, float, np.floating)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"`tolerance` must be a finite number >= 0, got {tolerance!r}")
    if isinstance(n_zernike, bool) or not isinstance(n_zernike, (int, np.integer)) or n_zernike < 5:
        raise ValueError(f"`n_zernike` must be an integer >= 5, got {n_zernike!r}")
    if window is None:
        side = min(stack.shape[1:])
        window = side - 1 + side % 2
    window = _odd_int("window", window, 9)
    if background is not None and not math.isfinite(background):
        raise ValueError(f"`background` must be a finite number, got {background!r}")

    crop, measured, centre_yx = _prepare(stack, window, background)
    sums = crop.sum(axis=(1, 2))
    if not (sums > 0).all():
        raise ValueError("`psf_stack` has a plane with no signal above the background")
    grid, radius = pupil_sampling(window, wavelength, na, pixel_size, 1, fft_size, planes=z.size)
    rho, theta = pupil_coordinates(grid, radius)
    inside = rho <= 1.0
    defocus = angular_spectrum_defocus(
        rho, 1.0, wavelength=wavelength, na=na, immersion_index=immersion_index
    )
    basis, labels = _basis(rho, theta, defocus, n_zernike)
    problem = _Problem(crop, measured, z, inside, defocus, window)
    starts = [
        (_focus_plane(crop, z), 0.0),
        _axial_start(
            crop, z, wavelength=wavelength, na=na, immersion_index=immersion_index, radius=radius, grid=grid
        ),
    ]
    runs = []
    for z_reference, spherical in starts:
        start = np.where(inside, np.exp(2j * np.pi * spherical * zernike(4, 0, rho, theta)), 0.0)
        pupil, history, residual = problem.iterate(start, z_reference, iterations, tolerance)
        coefficients, unwrapped = _fit_phase(pupil, inside, basis)
        score = problem.model_misfit(pupil, basis @ coefficients, z_reference)
        runs.append((score, z_reference, pupil, history, residual, coefficients, unwrapped))
        logger.debug("start at z %.3f um, Z11 %.3f: Zernike-model misfit %.4g", z_reference, spherical, score)
    _, z_reference, pupil, history, residual, coefficients, unwrapped = min(runs, key=lambda run: run[0])

    magnitude = np.abs(pupil)
    magnitude = np.where(inside, magnitude / magnitude[inside].mean(), 0.0)
    fitted = dict(zip(labels, coefficients.tolist(), strict=True))
    position = basis[..., :4] @ coefficients[:4]
    phase = np.where(inside, unwrapped - position, 0.0)
    noll = {j: float(fitted[j]) for j in range(FIRST_ABERRATION, n_zernike + 1)}
    ansi = {nm_to_ansi(*noll_to_nm(j)): v for j, v in noll.items()}
    rms = float(math.sqrt(sum(v * v for v in noll.values())))
    # A pupil phase c D is the defocus of c um: the planes then see D (z - z_ref + c).
    focus = z_reference - float(fitted["focus"])
    tilt = (float(fitted[2]), float(fitted[3]))
    spot = 2.0 * wavelength / na  # um of lateral shift per wave RMS of tip or tilt
    nominal = zernike_psf({}, window, wavelength=wavelength, na=na, pixel_size=pixel_size,
                          immersion_index=immersion_index, z=z - focus, fft_size=fft_size)  # fmt: skip
    z_step = float(abs(np.median(steps)))
    estimate = PupilEstimate(
        magnitude=magnitude,
        phase=phase,
        noll=noll,
        ansi=ansi,
        rms_waves=rms,
        strehl=strehl_ratio(noll),
        strehl_marechal=float(math.exp(-((2 * math.pi * rms) ** 2))),
        focus_um=focus,
        shift_um=(tilt[1] * spot, tilt[0] * spot),
        fwhm_um=fwhm_um(crop if z[-1] > z[0] else crop[::-1], pixel_size, z_step),
        fwhm_nominal_um=fwhm_um(nominal, pixel_size, z_step),
        relative_residual=residual,
        residual_history=tuple(history),
        wavelength=wavelength,
        na=na,
        pixel_size=pixel_size,
        immersion_index=immersion_index,
        radius_px=float(radius),
        window=window,
        z_positions_um=z.copy(),
        tilt_waves=tilt,
        centre_yx=centre_yx,
    )
    logger.info(
        "phase retrieval: %d planes, window %d px, grid %d, %d iterations, residual %.3g, %.3f waves RMS",
        z.size, window, grid, iterations, residual, rms,
    )  # fmt: skip
    return estimate


def _window3(window: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(window, (int, np.integer)) and not isinstance(window, bool):
        window = (window, window, window)
    if not isinstance(window, Sequence) or len(window) != 3:
        raise ValueError(f"`window` must be an odd integer or three odd integers (Kz, K, K), got {window!r}")
    return tuple(_odd_int("window", int(k), 3) for k in window)  # type: ignore[return-value]


def _subpixel_shift(crop: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Shift (pixels, per axis) aligning ``crop`` to ``reference``.

    The peak of their circular cross-correlation, refined by a parabola along each axis.
    """
    correlation = np.real(sfft.ifftn(sfft.fftn(crop) * np.conj(sfft.fftn(reference))))
    peak = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    shift = np.zeros(3)
    for axis, size in enumerate(correlation.shape):
        index = list(peak)
        values = []
        for offset in (-1, 0, 1):
            index[axis] = (peak[axis] + offset) % size
            values.append(correlation[tuple(index)])
        left, mid, right = values
        curvature = left - 2 * mid + right
        fine = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
        whole = peak[axis] if peak[axis] <= size // 2 else peak[axis] - size
        shift[axis] = whole + float(np.clip(fine, -0.5, 0.5))
    return shift


def average_beads(
    stack: np.ndarray,
    window: int | Sequence[int],
    *,
    min_separation: float | Sequence[float] | None = None,
    max_beads: int = 50,
    threshold: float | None = None,
    subpixel: bool = True,
    min_correlation: float = 0.8,
    return_positions: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Average the isolated beads of a (Z, Y, X) stack into one PSF estimate.

    1. **Detection**: local maxima of the stack smoothed by a Gaussian (sigma 1 voxel) above
       ``threshold``, by default ``median + 10 sigma`` with sigma the noise of the smoothed stack
       (1.4826 times the median absolute deviation), no brighter voxel within the window.
    2. **Selection**: the whole window fits inside the stack; no other local maximum (3 x 3 x 3)
       brighter than a tenth of the bead closer than ``min_separation`` along every axis (so no
       neighbour's light enters the crop; maxima within 2 pixels of the bead's axis are its own
       axial lobes); the brightest ``max_beads`` are kept.
    3. **Crop and align**: a ``(Kz, K, K)`` window around each, minus its background (the median
       of the window's border), clipped at zero. With ``subpixel`` each crop is registered to the
       integer-aligned mean by the peak of their cross-correlation (parabolic refinement) and
       moved by a Fourier shift, twice.
    4. **Outliers**: crops whose normalised correlation with the mean is below
       ``min_correlation`` (doublets, aggregates, debris) are dropped.
    5. **Average**: the sum of the crops (brighter beads weigh more: the maximum-likelihood
       weighting under Poisson noise), normalised to unit sum.

    Parameters
    ----------
    stack : numpy.ndarray
        (Z, Y, X) image of sub-resolution beads.
    window : int or sequence of 3 int
        Odd side(s) of the PSF window, (Kz, K, K) voxels.
    min_separation : float or sequence of 3 float, optional
        Smallest distance (voxels, per axis) to any other detection; default the window's sides.
    max_beads : int
        Largest number of beads averaged (the brightest isolated ones).
    threshold : float, optional
        Detection level on the smoothed stack (default: median + 10 noise sigma).
    subpixel : bool
        Align the crops to a fraction of a voxel (Fourier shift); otherwise to the voxel.
    min_correlation : float
        Smallest normalised correlation of a crop with the mean for it to be kept, in [0, 1].
    return_positions : bool
        Also return the (B, 3) voxel positions of the beads used (B is how many).

    Returns
    -------
    numpy.ndarray or tuple
        The (Kz, K, K) PSF, non-negative with unit sum, its peak at the centre voxel; with
        ``return_positions`` also the positions.

    Raises
    ------
    ValueError
        A stack that is not 3D or holds non-finite values; a window that is not odd or larger
        than the stack; ``max_beads < 1``; no isolated bead found.

    Examples
    --------
    >>> from napari_selfdiff.optics import zernike_psf
    >>> psf = zernike_psf({}, 15, wavelength=0.52, na=1.0, pixel_size=0.1, z=np.linspace(-1, 1, 9))
    >>> field = np.full((20, 60, 60), 10.0)
    >>> field[5:14, 10:25, 10:25] += 1e4 * psf
    >>> field[5:14, 35:50, 30:45] += 2e4 * psf
    >>> estimate, where = average_beads(field, (9, 15, 15), return_positions=True)
    >>> len(where)
    2
    """
    data = np.asarray(stack, dtype=np.float64)
    if data.ndim != 3:
        raise ValueError(f"`stack` must be (Z, Y, X), got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("`stack` holds non-finite values")
    shape = _window3(window)
    if any(k > s for k, s in zip(shape, data.shape, strict=True)):
        raise ValueError(f"`window` {shape} is larger than the stack {data.shape}")
    if isinstance(max_beads, bool) or not isinstance(max_beads, (int, np.integer)) or max_beads < 1:
        raise ValueError(f"`max_beads` must be an integer >= 1, got {max_beads!r}")
    if not 0.0 <= float(min_correlation) <= 1.0:
        raise ValueError(f"`min_correlation` must lie in [0, 1], got {min_correlation!r}")
    if min_separation is None:
        separation = np.asarray(shape, dtype=np.float64)
    else:
        separation = np.broadcast_to(np.asarray(min_separation, dtype=np.float64), (3,)).copy()
        if not (np.isfinite(separation).all() and (separation >= 0).all()):
            raise ValueError(f"`min_separation` must be finite and >= 0, got {min_separation!r}")

    smooth = ndimage.gaussian_filter(data, 1.0)
    level = float(np.median(smooth))
    if threshold is None:
        noise = 1.4826 * float(np.median(np.abs(smooth - level)))
        threshold = level + 10.0 * max(noise, 1e-12 * max(abs(level), 1.0))
    # Candidates: the brightest voxel of their window; every local maximum (3 x 3 x 3) above the
    # threshold is a possible neighbour.
    above = smooth > threshold
    candidates = np.argwhere((smooth == ndimage.maximum_filter(smooth, size=shape, mode="nearest")) & above)
    maxima = np.argwhere((smooth == ndimage.maximum_filter(smooth, size=3, mode="nearest")) & above)
    halves = np.asarray(shape) // 2
    inner = ((candidates >= halves) & (candidates < np.asarray(data.shape) - halves)).all(axis=1)
    isolated = np.zeros(len(candidates), dtype=bool)
    for i, p in enumerate(candidates):
        offset = np.abs(maxima - p)
        near = (offset < separation).all(axis=1) & (offset[:, 1:] > ON_AXIS).any(axis=1)
        isolated[i] = not (smooth[tuple(maxima[near].T)] > NEIGHBOUR_FRACTION * smooth[tuple(p)]).any()
    chosen = candidates[inner & isolated]
    if chosen.size == 0:
        raise ValueError(
            f"no isolated bead found: {len(candidates)} local maxima above {threshold:.4g}, none with its "
            f"{shape} window inside the stack and no other object within {separation.tolist()} voxels"
        )
    order = np.argsort([-smooth[tuple(p)] for p in chosen])
    chosen = chosen[order[: int(max_beads)]]

    crops = []
    for p in chosen:
        box = tuple(slice(c - h, c + h + 1) for c, h in zip(p, halves, strict=True))
        crop = data[box]
        faces = np.concatenate([crop[[0, -1]].ravel(), crop[:, [0, -1]].ravel(), crop[:, :, [0, -1]].ravel()])
        crops.append(np.clip(crop - np.median(faces), 0.0, None))
    crops_arr = np.stack(crops)
    if subpixel:
        for _ in range(2):
            reference = crops_arr.sum(axis=0)
            crops_arr = np.stack(
                [
                    np.clip(
                        np.real(
                            sfft.ifftn(ndimage.fourier_shift(sfft.fftn(c), -_subpixel_shift(c, reference)))
                        ),
                        0.0,
                        None,
                    )
                    for c in crops_arr
                ]
            )
    mean = crops_arr.sum(axis=0)
    norms = np.linalg.norm(crops_arr.reshape(len(crops_arr), -1), axis=1) * np.linalg.norm(mean)
    correlation = (crops_arr.reshape(len(crops_arr), -1) @ mean.ravel()) / np.maximum(norms, 1e-300)
    keep = correlation >= min_correlation
    if not keep.any():
        raise ValueError(
            f"no bead kept: the correlations of the {len(crops_arr)} crops with their mean "
            f"({np.round(correlation, 3).tolist()}) are all below `min_correlation`={min_correlation}"
        )
    result = crops_arr[keep].sum(axis=0)
    total = result.sum()
    if not total > 0:
        raise ValueError("the beads found hold no signal above their background")
    result /= total
    # Centre the brightest voxel (integer roll; the crops are background-free near their edges).
    peak = np.unravel_index(int(np.argmax(ndimage.uniform_filter(result, 3))), result.shape)
    result = np.roll(result, tuple(h - p for h, p in zip(halves, peak, strict=True)), axis=(0, 1, 2))
    logger.info("average_beads: %d beads averaged (%d detected, %d isolated)", int(keep.sum()),
                len(candidates), len(chosen))  # fmt: skip
    if return_positions:
        return result, chosen[keep]
    return result
