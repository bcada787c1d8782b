r"""Differentiable pupil -> PSF in PyTorch: the optics of :mod:`napari_selfdiff.optics` on tensors.

The same scalar Fourier-optics model and conventions as :func:`..optics.zernike_psf` (see
:mod:`napari_selfdiff.optics.psf`: +Z2 moves the PSF to +x, +Z3 to +y, +Z4 moves best focus
to +z):

.. math::

    \mathrm{PSF}_z = \frac{B\big(|\mathcal F\{A\, e^{2 \pi i (\sum_j a_j Z_j + W_z)}\}|^2\big)}
                          {\sum B(\cdot)},

with ``A`` the pupil disk of radius ``R`` grid pixels, ``W_z`` the angular-spectrum defocus of
the depth z (through-focus stacks), ``F`` the centred forward FFT on a G x G grid and ``B``
the crop of the central ``K * oversample`` pixels binned to K x K. The coefficients ``a`` (waves
RMS, Noll indices) may carry any leading batch axes, and so may the radius.

The radius is differentiable: the Zernike terms are evaluated at ``rho = r / R`` in torch, and
the disk's hard edge ``1{r <= R}`` (the NumPy optics' values, exactly) passes the gradient of a
one-pixel linear ramp (a straight-through estimate), so the pupil's sampling can be learned
when the microscope's NA, wavelength and pixel size are unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from napari_selfdiff.optics.pupil import angular_spectrum_defocus, pupil_coordinates
from napari_selfdiff.optics.sampling import known_sampling
from napari_selfdiff.optics.zernike import noll_to_nm

__all__ = ["PupilPsf", "through_focus_psf"]


def _radial_terms(n: int, m: int) -> list[tuple[float, int]]:
    """(coefficient, power) pairs of the radial polynomial R_n^|m|(rho)."""
    m = abs(m)
    return [
        (
            (-1) ** s
            * math.factorial(n - s)
            / (math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s)),
            n - 2 * s,
        )
        for s in range((n - m) // 2 + 1)
    ]


class PupilPsf(torch.nn.Module):
    """Render (K, K) PSFs, or (Z, K, K) through-focus stacks, from Zernike coefficients.

    Parameters
    ----------
    noll : sequence of int
        Noll indices of the coefficients, in the order of their last axis.
    size : int
        Odd side K of the PSF.
    grid : int
        Even side G of the FFT grid (at least ``K * oversample``).
    oversample : int
        Odd sub-pixels per PSF pixel side; the intensity is integrated over each pixel.
    defocus : array_like, optional
        (Z, G, G) defocus wavefronts in waves, one per depth (for example
        :func:`..optics.pupil.angular_spectrum_defocus` on this grid); they are valid for
        one pupil radius only, the one they were computed for.
    radius : float, optional
        A pupil radius known in advance (the microscope given): the Zernike terms and the disk are
        then computed once, not at every call, and :meth:`forward` needs no radius.
    dtype : torch.dtype
        float32 for the engine, float64 for gradient checks.
    """

    def __init__(
        self,
        noll: Sequence[int],
        size: int,
        grid: int,
        *,
        oversample: int = 1,
        defocus: np.ndarray | None = None,
        radius: float | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if size % 2 == 0 or oversample % 2 == 0 or grid % 2 or grid < size * oversample:
            raise ValueError(
                f"need an odd size and oversample and an even grid >= size * oversample, got "
                f"size={size}, oversample={oversample}, grid={grid}"
            )
        self.size, self.grid, self.oversample = int(size), int(grid), int(oversample)
        self.noll = [int(j) for j in noll]
        self.terms = [noll_to_nm(j) for j in self.noll]
        rho, theta = pupil_coordinates(grid, 1.0)  # rho in grid pixels here
        # Z_j = norm_j * (sum_p C[j, p] rho^p) * angular_j: one matrix product for the radial parts.
        top = max(n for n, _ in self.terms)
        radial = np.zeros((len(self.terms), top + 1))
        angular = []
        for index, (n, m) in enumerate(self.terms):
            for coefficient, power in _radial_terms(n, m):
                radial[index, power] = coefficient
            norm = math.sqrt(n + 1) if m == 0 else math.sqrt(2 * (n + 1))
            part = np.ones_like(theta) if m == 0 else (np.cos(m * theta) if m > 0 else np.sin(-m * theta))
            angular.append(norm * part)
        self.register_buffer("distance", torch.as_tensor(rho, dtype=dtype), persistent=False)
        self.register_buffer("radial", torch.as_tensor(radial, dtype=dtype), persistent=False)
        self.register_buffer("powers", torch.arange(top + 1, dtype=dtype), persistent=False)
        self.register_buffer("angular", torch.as_tensor(np.stack(angular), dtype=dtype), persistent=False)
        extra = None if defocus is None else torch.as_tensor(np.asarray(defocus), dtype=dtype)
        self.register_buffer("defocus", extra, persistent=False)
        self.radius = None if radius is None else float(radius)
        basis = disk = None
        if radius is not None:  # (J, G, G) terms and the disk, once: the hot loop only mixes them
            fixed = torch.tensor(float(radius), dtype=dtype)
            basis = self.wavefront(torch.eye(len(self.terms), dtype=dtype), fixed.expand(len(self.terms)))
            disk = self.aperture(fixed).detach()
        self.register_buffer("basis", basis, persistent=False)
        self.register_buffer("disk", disk, persistent=False)

    def wavefront(self, coefficients: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        """``sum_j a_j Z_j(r / R, theta)`` in waves, shape (..., G, G)."""
        rho = self.distance / radius[..., None, None]
        powers = rho[..., None, :, :] ** self.powers[:, None, None]  # (..., P, G, G)
        # sum_j a_j C[j, p] first: (..., J) x (J, P) -> (..., P), then per power and angle.
        weights = coefficients[..., :, None] * self.radial  # (..., J, P)
        return torch.einsum("...jp,...pyx,jyx->...yx", weights, powers, self.angular)

    def aperture(self, radius: torch.Tensor) -> torch.Tensor:
        """The disk ``1{r <= R}``, with the gradient of a one-pixel ramp ``clip(R - r + 1/2, 0, 1)``."""
        radius = radius[..., None, None]
        hard = (self.distance <= radius).to(self.distance.dtype)
        ramp = (radius - self.distance + 0.5).clamp(0.0, 1.0)
        return hard + ramp - ramp.detach()

    def forward(self, coefficients: torch.Tensor, radius: torch.Tensor | float | None = None) -> torch.Tensor:
        """PSFs (..., K, K), or (..., Z, K, K) with ``defocus``; each unit-sum and non-negative.

        ``coefficients`` (..., J) in waves RMS; ``radius`` (...) or a float: the pupil's radius
        in pixels of the G x G grid (``NA G dx / lambda`` in physical units); None: the radius
        given at construction.
        """
        if radius is None:
            if self.basis is None:
                raise ValueError("no pupil radius: give one here or at construction")
            phase = torch.einsum("...j,jyx->...yx", coefficients, self.basis)
            amplitude = self.disk.expand(phase.shape)
        else:
            radius = torch.as_tensor(radius, dtype=self.distance.dtype, device=self.distance.device)
            radius = radius.expand(coefficients.shape[:-1])
            phase = self.wavefront(coefficients, radius)
            amplitude = self.aperture(radius)
        if self.defocus is not None:
            phase = phase[..., None, :, :] + self.defocus
            amplitude = amplitude[..., None, :, :]
        pupil = torch.polar(amplitude, 2 * math.pi * phase)
        field = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(pupil, dim=(-2, -1))), dim=(-2, -1))
        intensity = field.real**2 + field.imag**2
        centre, half = self.grid // 2, (self.size * self.oversample) // 2
        window = intensity[..., centre - half : centre + half + 1, centre - half : centre + half + 1]
        k, s = self.size, self.oversample
        binned = window.reshape(*window.shape[:-2], k, s, k, s).sum(dim=(-3, -1))
        return binned / binned.sum(dim=(-2, -1), keepdim=True)


def through_focus_psf(
    noll: Sequence[int],
    shape: tuple[int, int, int],
    *,
    wavelength: float,
    na: float,
    pixel_size: float,
    immersion_index: float,
    z_step: float,
    dtype: torch.dtype = torch.float32,
) -> PupilPsf:
    """A :class:`PupilPsf` rendering the (Kz, K, K) through-focus PSF of a known microscope.

    Plane w of the box is the depth ``z_w = (w - Kz // 2) z_step`` (um): the focal plane in
    the middle. Each plane is rendered with unit sum; divide by Kz for a box of unit sum in
    which every plane carries the same light (a widefield PSF through focus).
    """
    kz, side = int(shape[0]), int(shape[-1])
    grid, oversample, radius = known_sampling(side, wavelength, na, pixel_size)
    rho, _ = pupil_coordinates(grid, radius)
    defocus = np.stack(
        [
            angular_spectrum_defocus(
                rho, (w - kz // 2) * z_step, wavelength=wavelength, na=na, immersion_index=immersion_index
            )
            for w in range(kz)
        ]
    )
    return PupilPsf(noll, side, grid, oversample=oversample, defocus=defocus, radius=radius, dtype=dtype)
