r"""The self-diffusion iteration for a z-stack with one 3D PSF, and its 3D Richardson-Lucy restoration.

The 2D algorithm of :mod:`.loop` (Yang & Luo, arXiv 2510.27439) with the 3D forward model of
:mod:`.forward3d`: the object x lives on the extended domain (Z + Kz - 1, H + K - 1, W + K - 1),
the kernel model G (:mod:`.psf3d`) maps a latent code to a (Kz, K, K) PSF, and for
t = T, ..., 1

.. math::

    \hat x_t = x_t + \sigma_t \epsilon_x, \quad \hat c_t = c_t + \mu \sigma_t \epsilon_c, \quad
    \text{S Adam steps on } \lVert A_{G(\hat c_t)} D_\theta(\hat x_t) - y \rVert_2^2
    + N\, R(G(\hat c_t)),

    x_{t-1} = D_\theta(\hat x_t), \quad c_{t-1} = G.\mathrm{feedback}(G(\hat c_t)).

The image network is "2.5D": the 2D U-Net of :mod:`.nets` with the Z + Kz - 1 extended planes
as its channels, so one pass serves the whole stack and its 2D convolutions mix the planes in
their first layer (about the cost of one plane; a 3D U-Net costs Z times more per iteration).
Its widths are ``config.stack3d.widths``: with fewer features than planes, the output planes
are combinations of too few maps to be independent, and the network cannot fit a stack.

Choices measured on synthetic 16 x 48 x 48 stacks (``benchmarks/stacks_cases.py``, one CPU
thread): the kernel is held at the model's start for the first
``config.stack3d.kernel_warmup_fraction`` of the outer steps while the image network fits
(learnt from the first step, it drifted away from the truth fastest while the image was still
noise); widths 8-16-32 left the loss falling after 1000 iterations, 32-48-64 fitted.
The data term is the plain sum of squares (the 2D ``gradient_weight`` is not used) and the
prior R of the kernel model is weighted by the number N of observed voxels, as the data term
is a sum over them: its weights are per voxel, independent of the stack's size. The section
``config.stack3d`` holds the network widths and the learning rates; the schedule, the kernel
generator's size and mode and ``kernel_freeze_fraction`` are the 2D run's.

:func:`napari_selfdiff.restoration.classic.richardson_lucy` restores the stack with the PSF
found (RL with a lateral TV term, Dey et al. 2006; the same function as in 2D).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator

import numpy as np
import torch
from torch import nn

from napari_selfdiff.blind.selfdiff.loop import check_cancel
from napari_selfdiff.blind.selfdiff.losses import data_fidelity
from napari_selfdiff.blind.selfdiff.memory import FLOAT_BYTES, estimate_bytes
from napari_selfdiff.blind.selfdiff.nets import UNet
from napari_selfdiff.blind.selfdiff.schedule import reverse_sigmas
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.ops.fft import blur_valid, register
from napari_selfdiff.resources import make_generator
from napari_selfdiff.results import Progress, StepRecord

__all__ = ["estimate_bytes_3d", "run_stack3d"]


def estimate_bytes_3d(
    shape: tuple[int, int, int], kernel_shape: tuple[int, int, int], config: DeblurConfig
) -> int:
    """Approximate peak memory (bytes) of :func:`run_stack3d` on a (Z, H, W) stack.

    The 2.5D network (``config.stack3d.widths``) on one (Z + Kz - 1)-channel image
    (:func:`.memory.estimate_bytes`), the
    complex spectra of the 3D FFT blur forward and backward, and the kernel generator's
    parameters with their gradients and Adam moments.
    """
    (z, h, w), (kz, ky, _) = shape, kernel_shape
    as_built = config.replace(**{"image_net.widths": config.stack3d.widths, "image_net.attention_levels": 0})
    network = estimate_bytes(1, z + kz - 1, h, w, ky, as_built)
    voxels = (z + kz - 1) * (h + ky - 1) * (w + ky - 1)
    code, hidden = math.prod(kernel_shape), config.kernel_net.hidden
    generator = 2 * code * hidden + (config.kernel_net.depth - 1) * hidden * hidden
    return network + FLOAT_BYTES * (6 * voxels + 4 * generator)


def run_stack3d(
    y: torch.Tensor,
    model: nn.Module,
    config: DeblurConfig,
    seed: int,
    *,
    start: float,
    cancel: threading.Event | None = None,
    to_image: Callable[[torch.Tensor], np.ndarray],
    scorer: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
) -> Generator[Progress, None, tuple[torch.Tensor, torch.Tensor, list[StepRecord]]]:
    """Blind self-diffusion of one normalised (Z, H, W) stack with the kernel ``model``.

    Yields :class:`Progress` every ``config.progress_every`` inner iterations and at the end of
    each outer step (``image``: the current estimate's middle plane; ``psf``: the current PSF's
    focal plane). ``scorer(estimate, psf)`` observes each outer step's registered estimate
    (Z, H, W, input intensities via ``to_image``) and 3D PSF. Returns the registered estimate
    (Z, H, W), the centred PSF (Kz, K, K) and the history.
    """
    device = y.device
    (z, h, w), (kz, ky, kx) = y.shape, model.shape
    extended = (z + kz - 1, h + ky - 1, w + kx - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = UNet(extended[0], config.stack3d.widths, attention_levels=0)
    network, model = network.to(device), model.to(device)
    optimiser = torch.optim.Adam(
        [{"params": network.parameters(), "lr": config.stack3d.lr},
         {"params": model.parameters(), "lr": config.stack3d.kernel_lr}]
    )  # fmt: skip
    rng = make_generator(seed, device)
    x = torch.randn((1, *extended), generator=rng, device=device)
    code = torch.randn((model.code_size,), generator=rng, device=device)
    schedule = config.schedule
    diffusion = config.kernel_net.mode == "diffusion"
    sigmas = reverse_sigmas(schedule.steps, schedule.beta_start, schedule.beta_end)
    n_steps, n_inner = schedule.steps, schedule.inner_steps
    frozen_from = n_steps - round(config.kernel_freeze_fraction * n_steps)
    warm_until = round(config.stack3d.kernel_warmup_fraction * n_steps)
    records: list[StepRecord] = []
    kernel, voxels = None, y.numel()
    for index, sigma in enumerate(sigmas):
        step_start, step = time.perf_counter(), index + 1
        x_hat = x + float(sigma) * torch.randn(x.shape, generator=rng, device=device)
        code_hat = code
        if diffusion:
            noise = torch.randn(code.shape, generator=rng, device=device)
            code_hat = code + schedule.kernel_noise_scale * float(sigma) * noise
        if index < warm_until and kernel is None:
            with torch.no_grad():
                kernel = model(code_hat)  # the model's start, held while the network warms up
        frozen = (index >= frozen_from or index < warm_until) and kernel is not None
        model.requires_grad_(not frozen)
        for inner in range(1, n_inner + 1):
            check_cancel(cancel)
            optimiser.zero_grad(set_to_none=True)
            estimate_kernel = kernel if frozen else model(code_hat)
            loss = data_fidelity(blur_valid(network(x_hat)[0], estimate_kernel), y)
            if not frozen:
                loss = loss + voxels * model.prior(estimate_kernel)
            loss.backward()
            optimiser.step()
            if inner % config.progress_every == 0 and inner < n_inner:
                yield Progress(0, 1, step, n_steps, inner, n_inner, float(loss.detach()),
                               time.perf_counter() - start, float(sigma))  # fmt: skip
        with torch.no_grad():
            x = network(x_hat)
            if not frozen:
                kernel = model(code_hat)
            final = float(data_fidelity(blur_valid(x[0], kernel), y))
            estimate, psf = register(x[0], kernel, (z, h, w))
        if diffusion:
            code = model.feedback(kernel)
        preview = to_image(estimate)
        psf_values = psf.cpu().numpy().astype(np.float32)
        scores = scorer(preview, psf_values) if scorer is not None else {}
        records.append(StepRecord(0, step, float(sigma), final, time.perf_counter() - step_start,
                                  **scores, iterations=n_inner))  # fmt: skip
        yield Progress(
            0, 1, step, n_steps, n_inner, n_inner, final, time.perf_counter() - start, float(sigma),
            image=preview[z // 2], psf=psf_values[kz // 2], psnr=scores.get("psnr"), ssim=scores.get("ssim"),
        )  # fmt: skip
    return estimate, psf, records
