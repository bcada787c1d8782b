r"""The Zernike kernel model: a generator whose output is an optical PSF.

A fully connected network maps the code (the noisy previous kernel, as for the free model of
:class:`.KernelGenerator`) to Zernike coefficients ``a_j`` (Noll 4 to ``J``, waves RMS) and,
when the microscope is not given, the pupil's radius ``R`` on the FFT grid; the kernel is
rendered by :class:`..pupil_psf.PupilPsf`:

.. math::

    k = \mathrm{PSF}(a, R), \qquad a_j = A \tanh(h_j / A), \qquad
    R = R_{lo} (R_{hi} / R_{lo})^{\mathrm{sigmoid}(u_0 + h_0)},

with ``A`` = :data:`MAX_WAVES` bounding each term (a wavefront of several waves RMS per term
wraps the phase and is no longer identifiable) and ``u_0`` placing the start at the initial
radius. The last layer starts near zero, so the first kernel is the aberration-free PSF.

The radius bounds (dimensionless mode, PSF pixel = FFT grid pixel): at most ``G / 4``, where
the intensity PSF is Nyquist-sampled, and at least the radius whose Airy disk (first dark ring
``0.61 G / R``) reaches a third of the kernel: a wider core would not fit the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from napari_selfdiff.blind.selfdiff.nets.kernel_generator import hidden_layers
from napari_selfdiff.config import OpticsConfig
from napari_selfdiff.optics.pupil_torch import PupilPsf
from napari_selfdiff.optics.sampling import fast_even_size, known_sampling

__all__ = ["MAX_WAVES", "PupilGenerator", "PupilSampling"]

#: Bound of each Zernike coefficient, waves RMS.
MAX_WAVES = 1.0


@dataclass(frozen=True)
class PupilSampling:
    """How the pupil sits on the FFT grid: ``radius`` when known, else the bounds it is searched in.

    ``grid`` (G) and ``oversample`` as :class:`..pupil_psf.PupilPsf`; ``radius`` in grid pixels
    (``NA G dx / (lambda oversample)``) or None; ``bounds`` and ``start`` for an estimated radius.
    """

    grid: int
    oversample: int
    radius: float | None
    bounds: tuple[float, float]
    start: float

    @classmethod
    def plan(cls, kernel_size: int, optics: OpticsConfig) -> PupilSampling:
        """The sampling for a K x K kernel: from the microscope when given, else estimated."""
        if optics.known:
            grid, oversample, radius = known_sampling(
                kernel_size, optics.wavelength, optics.na, optics.pixel_size
            )
            return cls(grid, oversample, radius, (radius, radius), radius)
        grid = fast_even_size(max(8 * kernel_size, 128))
        high = grid / 4
        low = min(0.61 * grid * 3 / kernel_size, high / 2)
        # The geometric middle, not the kernel generator's starting width: started at the
        # widest pupil sampling the model stayed there (a 0.05-wave case: MNC 0.63, -14 dB).
        return cls(grid, 1, None, (low, high), math.sqrt(low * high))


class PupilGenerator(nn.Module):
    """Map a code of ``in_features`` values to a (K, K) optical PSF with Zernike aberrations.

    Parameters
    ----------
    kernel_size : int
        Side K of the kernel.
    in_features : int
        Length of the input code.
    noll : sequence of int
        Noll indices of the estimated terms.
    sampling : PupilSampling
        The pupil on the FFT grid (known radius, or bounds to search).
    hidden, depth : int
        Width and number of the hidden ReLU layers.
    """

    def __init__(
        self,
        kernel_size: int,
        in_features: int,
        noll: list[int],
        sampling: PupilSampling,
        hidden: int = 1000,
        depth: int = 1,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.n_terms = len(noll)
        self.sampling = sampling
        layers = hidden_layers(in_features, hidden, depth)
        last = nn.Linear(hidden, self.n_terms + 1)
        with torch.no_grad():
            last.weight.mul_(0.01)
            last.bias.zero_()
        layers.append(last)
        self.body = nn.Sequential(*layers)
        self.render = PupilPsf(
            noll, kernel_size, sampling.grid, oversample=sampling.oversample, radius=sampling.radius
        )
        low, high = sampling.bounds
        position = 0.5 if high <= low else math.log(sampling.start / low) / math.log(high / low)
        position = min(max(position, 1e-3), 1 - 1e-3)
        self.radius_offset = math.log(position / (1 - position))

    def parameters_of(self, code: torch.Tensor) -> torch.Tensor:
        """(J + 1,): the coefficients (waves RMS) and the pupil radius (grid pixels) for ``code``."""
        raw = self.body(code.reshape(1, -1)).float()[0]
        coefficients = MAX_WAVES * torch.tanh(raw[: self.n_terms] / MAX_WAVES)
        low, high = self.sampling.bounds
        if self.sampling.radius is not None:
            radius = raw.new_tensor(self.sampling.radius)
        else:
            radius = low * (high / low) ** torch.sigmoid(self.radius_offset + raw[self.n_terms])
        return torch.cat([coefficients, radius.reshape(1)])

    def forward(self, code: torch.Tensor, readout: bool = False) -> torch.Tensor:
        values = self.parameters_of(code)
        if readout:
            return values
        # A known radius is the renderer's own (its terms computed once); else the estimated one.
        return self.render(values[:-1], None if self.sampling.radius is not None else values[-1])
