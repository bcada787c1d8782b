"""Blind 3D deconvolution of a z-stack: the 3D PSF by self-diffusion, then the guarded 3D restoration.

* :func:`check_memory_3d`: refuse a run that does not fit, before any work;
* :func:`estimate_psf_3d`: the free 3D PSF model (:class:`~..psf3d.FreePsf3d`) and the 2.5D
  image network trained by :func:`~..stack3d.run_stack3d`, a generator of progress;
* :func:`restore_3d`: 3D Richardson-Lucy with the PSF found, under the do-no-harm rule: a PSF
  whose focal plane runs into its box's edge (``config.stack3d.reliable_from``) is not trusted, and the
  stack is then returned as it came, with ``deconvolved=False`` and a warning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator

import numpy as np
import torch

from napari_selfdiff.blind.guarded import Guard
from napari_selfdiff.blind.selfdiff.memory import out_of_memory_message
from napari_selfdiff.blind.selfdiff.psf3d import FreePsf3d, ZernikePsf3d
from napari_selfdiff.blind.selfdiff.volume import estimate_bytes_3d, run_stack3d
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import ConfigError, OutOfMemory
from napari_selfdiff.noise import estimate_noise
from napari_selfdiff.ops.intensity import IntensityMap
from napari_selfdiff.optics.aberrations import Aberrations
from napari_selfdiff.resources import describe_device, free_memory
from napari_selfdiff.restoration.classic import richardson_lucy
from napari_selfdiff.results import Progress, StepRecord, drive

__all__ = ["check_memory_3d", "estimate_psf_3d", "psf_reliability", "restore_3d"]

logger = logging.getLogger(__name__)


def check_memory_3d(
    shape: tuple[int, int, int],
    kernel_shape: tuple[int, int, int],
    config: DeblurConfig,
    device: torch.device,
) -> None:
    """Raise :class:`OutOfMemory` when :func:`~..stack3d.estimate_bytes_3d` exceeds the free memory."""
    free = free_memory(device)
    needed = estimate_bytes_3d(shape, kernel_shape, config)
    if free is not None and needed > free:
        raise OutOfMemory(out_of_memory_message(needed, free, describe_device(device)))


def kernel_model(kernel_shape: tuple[int, int, int], config: DeblurConfig) -> FreePsf3d | ZernikePsf3d:
    """The 3D PSF model of ``config.kernel_net.model``: free (with its start and prior) or Zernike."""
    section = config.stack3d
    if config.kernel_net.model == "zernike":
        if section.z_step_um is None:
            raise ConfigError("the 3D Zernike PSF model needs the stack's z step (`z_step`, --z-step)")
        net = config.kernel_net
        return ZernikePsf3d(
            kernel_shape, config.optics, section.z_step_um, list(range(4, net.zernike_modes + 1)),
            hidden=net.hidden, depth=net.depth,
        )  # fmt: skip
    return FreePsf3d(
        kernel_shape,
        hidden=config.kernel_net.hidden,
        depth=config.kernel_net.depth,
        sigma=section.init_width * kernel_shape[-1],
        aspect=section.aspect or 1.0,
        smoothness=section.smoothness,
        focus=section.focus,
        plane_energy=section.plane_energy,
    )


def estimate_psf_3d(
    stack: np.ndarray,
    kernel_shape: tuple[int, int, int],
    config: DeblurConfig,
    device: torch.device,
    seed: int,
    *,
    start: float,
    cancel: threading.Event | None = None,
    scorer: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, np.ndarray, list[StepRecord]]]:
    """The 3D PSF of a (Z, H, W) stack by blind self-diffusion.

    Returns the network's estimate (Z, H, W, input intensities), the PSF (Kz, K, K, float32,
    unit sum, centred), the history and, with the Zernike model, the :class:`Aberrations` found.
    Raises :class:`OutOfMemory` before any work when the run does not fit.
    """
    check_memory_3d(stack.shape, kernel_shape, config, device)
    mapping = IntensityMap.fit(stack)
    y = torch.as_tensor(mapping.forward(stack), dtype=torch.float32, device=device)

    def to_image(x: torch.Tensor) -> np.ndarray:
        return mapping.inverse(x.detach().cpu().numpy().astype(np.float64))

    with torch.random.fork_rng(devices=[]):  # its initial weights from the seed, not the global RNG
        torch.manual_seed(seed)
        model = kernel_model(kernel_shape, config)
    estimate, psf, history = yield from run_stack3d(
        y, model, config, seed, start=start, cancel=cancel, to_image=to_image, scorer=scorer
    )
    pupil = None
    if isinstance(model, ZernikePsf3d):
        optics = config.optics
        pupil = Aberrations(
            {j: float(v) for j, v in zip(model.noll, model.found.tolist(), strict=True)},
            float(model.radius), model.grid, False, optics.wavelength, even_sign_ambiguous=False,
        )  # fmt: skip
    return to_image(estimate), psf.cpu().numpy().astype(np.float32), history, pupil


def psf_reliability(psf: np.ndarray) -> float:
    """``1 -`` the share of the focal (brightest) plane's light in its box's one-pixel rim."""
    plane = np.asarray(psf, np.float64)[int(np.argmax(psf.reshape(len(psf), -1).max(axis=1)))]
    total = plane.sum()
    return float(plane[1:-1, 1:-1].sum() / total) if total > 0 else 0.0


def restore_3d(
    stack: np.ndarray, psf: np.ndarray, config: DeblurConfig, device: torch.device,
    cancel: threading.Event | None = None, *, guard: bool = True,
) -> tuple[np.ndarray, Guard]:  # fmt: skip
    """The (Z, H, W) stack restored by 3D RL-TV with ``psf``, or returned as it is when not trusted.

    ``guard=False`` deconvolves whatever the reliability (a PSF known from elsewhere).

    ``config.restore_iterations`` iterations, lateral TV weight ``config.restore_tv_weight``,
    on the stack mapped to the working range (:class:`~..intensity.IntensityMap`) and back; a
    non-negative stack's zero is RL's background, so its result is non-negative too.
    The :class:`Guard` records the reliability, whether the stack was deconvolved, and the
    noise model of the middle plane.
    """
    noise = estimate_noise(stack[len(stack) // 2])
    reliability = psf_reliability(psf)
    if guard and reliability < config.stack3d.reliable_from:
        logger.warning(
            "do no harm: the 3D PSF's focal plane has %.0f%% of its light on the box's edge; the "
            "stack is returned without deconvolution (try a larger kernel size)",
            100 * (1 - reliability),
        )
        return stack.copy(), Guard(reliability, False, noise)
    kernel = torch.as_tensor(psf, dtype=torch.float32, device=device)
    restored = rl_in_working_range(stack, kernel, IntensityMap.fit(stack), stack.min() >= 0, config, cancel)
    return restored, Guard(reliability, True, noise)


def rl_in_working_range(
    block: np.ndarray, kernel: torch.Tensor, mapping: IntensityMap, non_negative: bool,
    config: DeblurConfig, cancel: threading.Event | None = None,
) -> np.ndarray:  # fmt: skip
    """3D RL-TV of ``block`` in the working range of ``mapping`` and back to input intensities.

    ``config.restore_iterations`` iterations, lateral TV weight ``config.restore_tv_weight``.
    When the data are ``non_negative``, their zero (in working units) is RL's background ``b``
    (``y = k * x + b``), added back after: ``x >= 0`` keeps the result at or above zero (counts
    stay counts). One function for the whole-stack and the tiled (large data) restorations.
    """
    observed = torch.as_tensor(mapping.forward(block), dtype=torch.float32, device=kernel.device)
    background = max(float(mapping.forward(0.0)), 0.0) if non_negative else 0.0
    restored = drive(
        richardson_lucy(
            observed, kernel, config.restore_iterations, tv_weight=config.restore_tv_weight,
            background=background, cancel=cancel,
        )
    )  # fmt: skip
    return mapping.inverse(restored.cpu().numpy().astype(np.float64) + background)
