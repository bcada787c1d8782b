r"""3D PSF models of the blind stack solver: a latent code -> a (Kz, K, K) kernel, with its prior.

A kernel model is a ``torch.nn.Module`` with

* ``shape``: (Kz, K, K); ``code_size``: the length of its latent code;
* ``forward(code) -> kernel``: a non-negative, unit-sum (Kz, K, K) kernel;
* ``feedback(kernel) -> code``: the code fed back at the next outer step (the 2D loop's
  :func:`~napari_selfdiff.blind.selfdiff.loop.kernel_feedback`);
* ``prior(kernel) -> scalar``: its regulariser, added to the data term.

The 3D self-diffusion loop (:mod:`.stack3d`) perturbs the code with ``mu sigma_t`` noise on the
schedule, as the 2D loop does the kernel latent. :class:`FreePsf3d` is the free model; a
parametric model, :class:`ZernikePsf3d` (Zernike through focus), implements the same four members.

The free model's prior, for a kernel k with planes k_w, ``w = -Kz//2 .. Kz//2`` (w = 0 the
focal plane) and the voxel aspect ``a = dz / dx`` (z step over pixel size):

.. math::

    R(k) = \lambda_s \frac{\lVert \partial_x k\rVert^2 + \lVert \partial_y k\rVert^2
           + a^{-2} \lVert \partial_z k\rVert^2}{\lVert k \rVert^2}
         + \lambda_f \sum_w \Big(\frac{w}{K_z // 2}\Big)^2
           \frac{\lVert k_w \rVert^2}{\lVert k \rVert^2},

smoothness in physical units (an optical PSF is band-limited), and the squared energy, which
is highest where the PSF is sharp, kept near the focal plane (the box is centred on focus).
Both ratios are scale-free, so the weights do not depend on the kernel's size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from napari_selfdiff.blind.selfdiff.nets.kernel_generator import hidden_layers
from napari_selfdiff.blind.selfdiff.nets.pupil_generator import MAX_WAVES
from napari_selfdiff.config import OpticsConfig
from napari_selfdiff.errors import ConfigError
from napari_selfdiff.optics.pupil_torch import through_focus_psf

__all__ = ["FreePsf3d", "ZernikePsf3d", "widefield_log_prior"]


def widefield_log_prior(shape: tuple[int, int, int], sigma: float, aspect: float) -> torch.Tensor:
    r"""Log-density of a Gaussian-beam-like widefield PSF on a (Kz, K, K) grid.

    Plane w is a centred Gaussian of width :math:`s(w) = \sigma \sqrt{1 + (a w / z_R)^2}` with
    the Rayleigh-like range :math:`z_R = 4 \sigma` (pixels) and each plane normalised to the
    same energy, as defocused planes of a widefield PSF carry the same light, spread wider.
    """
    kz, ky, kx = shape
    w = torch.arange(kz, dtype=torch.float32) - kz // 2
    y = torch.arange(ky, dtype=torch.float32) - ky // 2
    x = torch.arange(kx, dtype=torch.float32) - kx // 2
    width = sigma * torch.sqrt(1 + (aspect * w / (4 * sigma)) ** 2)
    radius2 = y[:, None] ** 2 + x[None, :] ** 2
    return -radius2[None] / (2 * width[:, None, None] ** 2) - 2 * torch.log(width)[:, None, None]


class FreePsf3d(nn.Module):
    """Free 3D kernel generator: a fully connected network ending in a softmax.

    ``G(c) = reshape(softmax(W_n ReLU(... ReLU(W_1 c + b_1) ...) + b_n), Kz, K, K)``, started
    near :func:`widefield_log_prior` (the last bias holds it, the weights are scaled down).
    With ``plane_energy="equal"`` the softmax runs over each plane's K x K logits and every plane
    gets ``1 / Kz`` of the light: a widefield PSF carries the same light through every plane
    (energy conservation), and without it a blind estimate collapses towards the focal plane
    (no blur along z, which the image network can then absorb). ``"free"``: one softmax over
    all voxels (confocal or light-sheet PSFs, whose planes dim away from focus).

    Parameters
    ----------
    shape : tuple of int
        (Kz, K, K), odd sides.
    hidden, depth : int
        Width and number of the hidden ReLU layers.
    sigma : float
        In-focus lateral width (pixels) of the starting PSF.
    aspect : float
        Voxel aspect ``z step / pixel size`` (1: isotropic voxels).
    smoothness, focus : float
        Weights lambda_s and lambda_f of the prior (module docstring).
    plane_energy : {"equal", "free"}
        Light per plane: ``1 / Kz`` each (widefield), or free.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        *,
        hidden: int = 500,
        depth: int = 1,
        sigma: float = 1.5,
        aspect: float = 1.0,
        smoothness: float = 0.0,
        focus: float = 0.0,
        plane_energy: str = "equal",
    ) -> None:
        super().__init__()
        if plane_energy not in ("equal", "free"):
            raise ValueError(f"`plane_energy` must be 'equal' or 'free', got {plane_energy!r}")
        self.plane_energy = plane_energy
        self.shape = tuple(int(n) for n in shape)
        self.code_size = math.prod(self.shape)
        self.aspect, self.smoothness, self.focus = float(aspect), float(smoothness), float(focus)
        layers: list[nn.Module] = []
        previous = self.code_size
        for _ in range(depth):
            layers += [nn.Linear(previous, hidden), nn.ReLU(inplace=True)]
            previous = hidden
        last = nn.Linear(previous, self.code_size)
        with torch.no_grad():
            last.weight.mul_(0.1)
            last.bias.copy_(widefield_log_prior(self.shape, sigma, self.aspect).flatten())
        layers.append(last)
        self.body = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        logits = self.body(code.reshape(1, -1)).float()
        if self.plane_energy == "free":
            return torch.softmax(logits, dim=-1).reshape(self.shape)
        planes = logits.reshape(self.shape[0], -1)
        return (torch.softmax(planes, dim=-1) / self.shape[0]).reshape(self.shape)

    @staticmethod
    def feedback(kernel: torch.Tensor) -> torch.Tensor:
        """The kernel divided by its maximum, flattened (peak 1, the scale of the N(0, I) start)."""
        kernel = kernel.detach().flatten()
        return kernel / kernel.max().clamp_min(1e-12)

    def prior(self, kernel: torch.Tensor) -> torch.Tensor:
        """The smoothness and focal-energy prior R(k) of the module docstring."""
        energy = kernel.square().sum().clamp_min(1e-20)
        total = kernel.new_zeros(())
        if self.smoothness > 0:
            dz, dy, dx = (torch.diff(kernel, dim=axis).square().sum() for axis in range(3))
            total = total + self.smoothness * (dx + dy + dz / self.aspect**2) / energy
        if self.focus > 0:
            kz = self.shape[0]
            w = (torch.arange(kz, device=kernel.device, dtype=kernel.dtype) - kz // 2) / max(kz // 2, 1)
            total = total + self.focus * (w.square() * kernel.square().sum(dim=(1, 2))).sum() / energy
        return total


class ZernikePsf3d(nn.Module):
    r"""Zernike through-focus 3D PSF model: a network gives the pupil's aberrations.

    Plane w of the (Kz, K, K) kernel is the widefield PSF at depth ``z_w = w dz`` (w = -Kz//2 ..
    Kz//2): ``|F{A exp(2 pi i (sum_j a_j Z_j + W_{z_w}))}|^2 / Kz`` with the angular-spectrum
    defocus ``W_z`` of :mod:`napari_selfdiff.optics.pupil`, rendered by
    :class:`~.pupil_psf.PupilPsf` from the microscope's NA, wavelength, immersion index and pixel
    size (every plane carries ``1 / Kz`` of the light, as in :class:`FreePsf3d`'s "equal" mode).
    A fully connected network maps the code to the coefficients ``a`` (Noll ``noll``, waves RMS,
    bounded by :data:`~.nets.pupil_generator.MAX_WAVES`), starting near the perfect pupil. The
    pupil is the prior (:meth:`prior` is zero), and defocus breaks the 2D image's even-sign
    ambiguity (:mod:`.aberrations`). ``found`` holds the coefficients of the last kernel made.

    Parameters
    ----------
    shape : tuple of int
        (Kz, K, K), odd sides.
    optics : OpticsConfig
        NA, wavelength, pixel size and immersion index (all given).
    z_step : float
        Distance between planes, um.
    noll : list of int
        Noll indices estimated.
    hidden, depth : int
        Width and number of the hidden ReLU layers.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        optics: OpticsConfig,
        z_step: float,
        noll: list[int],
        *,
        hidden: int = 500,
        depth: int = 1,
    ) -> None:
        super().__init__()
        if not optics.known:
            raise ConfigError(
                "the 3D Zernike PSF model needs the microscope: `optics.na`, `wavelength`, `pixel_size`"
            )
        self.shape = tuple(int(n) for n in shape)
        self.code_size = math.prod(self.shape)
        self.noll = list(noll)
        self.render = through_focus_psf(
            self.noll,
            self.shape,
            wavelength=optics.wavelength,
            na=optics.na,
            pixel_size=optics.pixel_size,
            immersion_index=optics.immersion_index,
            z_step=z_step,
        )
        self.radius, self.grid = self.render.radius, self.render.grid
        last = nn.Linear(hidden, len(self.noll))
        with torch.no_grad():
            last.weight.mul_(0.01)
            last.bias.zero_()
        self.body = nn.Sequential(*hidden_layers(self.code_size, hidden, depth), last)
        self.found = torch.zeros(len(self.noll))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        raw = self.body(code.reshape(1, -1)).float()[0]
        coefficients = MAX_WAVES * torch.tanh(raw / MAX_WAVES)
        self.found = coefficients.detach()
        return self.render(coefficients) / self.shape[0]

    feedback = staticmethod(FreePsf3d.feedback)

    def prior(self, kernel: torch.Tensor) -> torch.Tensor:
        """Zero: the pupil is the prior."""
        return kernel.new_zeros(())
