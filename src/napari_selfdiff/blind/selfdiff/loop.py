r"""The self-diffusion iteration (DeblurSDI), on tensors, for P problems at once.

Algorithm (Yang & Luo, "Self-Diffusion Driven Blind Imaging", arXiv 2510.27439, on top of
Luo, Huang & Yang, "Self-diffusion for solving inverse problems", arXiv 2510.21417). Two
randomly initialised networks, the U-Net image denoiser D_theta and the softmax kernel
generator G_phi, are created once per image and trained continuously:

.. math::

    x_T \sim N(0, I), \; z_T \sim N(0, I); \quad \text{for } t = T, \dots, 1:\quad
    \hat x_t = x_t + \sigma_t \epsilon_x, \;
    \hat z_t = z_t + \mu \sigma_t \epsilon_z,

    \text{S Adam steps on } \;
    L_t = \lVert D_\theta(\hat x_t) \circledast G_\phi(\hat z_t) - y \rVert_2^2
          + \lambda_k R(G_\phi(\hat z_t)),

    x_{t-1} = D_\theta(\hat x_t), \quad z_{t-1} = f(G_\phi(\hat z_t)).

Choices where the paper is silent:

* the image lives on the extended domain (H+K-1, W+K-1) and ``⊛`` is a valid convolution
  (:mod:`.forward`); a blind estimate is returned registered (:func:`.forward.register`);
* fresh noise is drawn once per outer step and held fixed during its S inner steps; the
  networks and the Adam state persist across all outer steps (authors' public code);
* x_{t-1} and z_{t-1} are the networks' outputs *after* the S updates (one extra forward);
* the data term is a sum of squares (:mod:`.losses`), the sparsity term an l_p quasi-norm;
* the kernel feedback f: see :func:`kernel_feedback`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import numpy as np
import torch

from napari_selfdiff.blind.selfdiff.compute import IterationRunner, plan_execution
from napari_selfdiff.blind.selfdiff.ensemble import Ensemble
from napari_selfdiff.blind.selfdiff.losses import data_fidelity, kernel_sparsity
from napari_selfdiff.blind.selfdiff.nets import KernelGenerator, UNet
from napari_selfdiff.blind.selfdiff.nets.pupil_generator import PupilGenerator, PupilSampling
from napari_selfdiff.blind.selfdiff.schedule import reverse_sigmas
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.ops.fft import blur_valid, crop_center, register
from napari_selfdiff.resources import make_generator
from napari_selfdiff.results import Progress, StepRecord

__all__ = ["kernel_feedback", "run_loop"]

#: Scores of one problem's estimate (C, H, W planes in input intensities) and PSF.
Scorer = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def kernel_feedback(kernel: torch.Tensor) -> torch.Tensor:
    """Code z_{t-1} fed to the kernel generator at the next outer step.

    The raw kernel has entries of about 1/K^2, so the perturbation mu*sigma_t (up to
    ~0.08) would swamp it for most of the schedule and the generator would learn to ignore
    its input; rescaling to ``K^2 k - 1`` (unit mean) gives sparse kernels entries of 10 or
    more, and a generator that learns a sharpening map then collapses the kernel to a dot
    within a few outer steps. We divide by the maximum: entries lie in [0, 1] with the
    kernel's peak at 1, the same order as the N(0, I) start z_T and the perturbation,
    and a change of the kernel's spread does not change the code's scale. Gradients do
    not flow through the feedback.
    """
    kernel = kernel.detach().flatten()
    return kernel / kernel.max().clamp_min(1e-12)


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("the run was cancelled")


def _build_networks(
    config: DeblurConfig, channels: int, kernel_size: int, seed: int, device: torch.device, blind: bool
) -> tuple[UNet, KernelGenerator | PupilGenerator | None]:
    # Initialise from a forked RNG so the caller's global torch state is untouched.
    net = config.kernel_net
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet(channels, config.image_net.widths, config.image_net.attention_levels)
        generator = None
        if blind and net.model == "zernike":
            sampling = PupilSampling.plan(kernel_size, config.optics)
            noll = list(range(4, net.zernike_modes + 1))
            generator = PupilGenerator(
                kernel_size, kernel_size * kernel_size, noll, sampling, hidden=net.hidden, depth=net.depth
            ).to(device)
        elif blind:
            generator = KernelGenerator(
                kernel_size,
                kernel_size * kernel_size,
                hidden=net.hidden,
                depth=net.depth,
                init_sigma=net.init_width * kernel_size or None,
            ).to(device)
    return unet.to(device), generator


def planes_to_image(planes: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) or (H, W, C), the layout of one plane for previews and metrics."""
    return planes[0] if planes.shape[0] == 1 else np.moveaxis(planes, 0, -1)


def run_loop(
    ys: list[torch.Tensor],
    kernel_size: int,
    config: DeblurConfig,
    seeds: list[int],
    *,
    first_plane: int,
    n_planes: int,
    start: float,
    cancel: threading.Event | None,
    to_images: list[Callable[[torch.Tensor], np.ndarray]],
    scorers: list[Scorer | None],
    fixed_kernel: torch.Tensor | None = None,
) -> Generator[Progress, None, tuple[torch.Tensor, torch.Tensor, list[StepRecord], np.ndarray | None]]:
    """Run the self-diffusion loop on P independent normalised observations at once.

    Each ``ys[p]`` (B, C, H, W) gets its own networks, noise stream and Adam state, seeded
    ``seeds[p]``; P = 1 is the plain run. With ``fixed_kernel`` the operator is known and
    only the image network is trained: the original (non-blind) self-diffusion of Luo
    et al. ``scorers[p]``, when given, scores problem p's estimate after each outer step
    (it observes; it never changes the run). Returns the estimates (P, B, C, H, W), the
    kernels (P, K, K), the history (``plane`` = ``first_plane + p``) and, with the Zernike
    kernel model, the pupils found (P, J + 1): coefficients in waves RMS, then the radius.
    """
    y = torch.stack(ys)
    device = y.device
    problems, batch, channels, height, width = y.shape
    extended = (height + kernel_size - 1, width + kernel_size - 1)
    schedule = config.schedule
    plan = plan_execution(config.compute, device)
    blind = fixed_kernel is None
    built = [_build_networks(config, channels, kernel_size, seed, device, blind) for seed in seeds]
    network = Ensemble([unet for unet, _ in built], plan.prepare_network)
    generator = Ensemble([gen for _, gen in built]) if blind else None
    groups = [{"params": network.parameters, "lr": config.lr}]
    if generator is not None:
        groups.append({"params": generator.parameters, "lr": config.kernel_lr})
    optimiser = plan.optimiser(groups)
    rngs = [make_generator(seed, device) for seed in seeds]

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        # One draw per problem from its own stream: P = 1 reproduces the plain run exactly.
        return torch.stack([torch.randn(shape, generator=rng, device=device) for rng in rngs])

    x = draw((batch, channels, *extended))
    z = draw((kernel_size * kernel_size,))
    standard = config.kernel_net.mode == "standard" or generator is None
    sigmas = reverse_sigmas(schedule.steps, schedule.beta_start, schedule.beta_end)
    n_steps, n_inner = schedule.steps, schedule.inner_steps
    frozen_from = n_steps - round(config.kernel_freeze_fraction * n_steps)
    records: list[StepRecord] = []
    kernel = None if fixed_kernel is None else fixed_kernel.expand(problems, -1, -1)

    # Every input of an inner iteration lives in a buffer at a fixed address, refilled at
    # each outer step, so a captured CUDA graph of the iteration reads the new values. A
    # single problem's input buffer is laid out once for the network (channels-last).
    empty = torch.empty((problems, batch, channels, *extended), device=device)
    x_hat = plan.prepare_input(empty[0])[None] if problems == 1 else empty
    z_hat = torch.empty_like(z)
    kernel_buffer = torch.zeros((problems, kernel_size, kernel_size), device=device)
    if kernel is not None:
        kernel_buffer.copy_(kernel)

    def registered(fine: torch.Tensor, kernels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # A blind estimate registered to the observation (kernel centred); else the centre crop.
        if not blind:
            return crop_center(fine, (height, width)), kernels.detach()
        pairs = [register(fine[p], kernels[p].detach(), (height, width)) for p in range(problems)]
        return torch.stack([image for image, _ in pairs]), torch.stack([k for _, k in pairs])

    def estimate_image(network_input: torch.Tensor) -> torch.Tensor:
        plan.mark_step()
        with plan.autocast():
            return network(network_input).float()

    def data_term(estimate: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        prediction = torch.stack([blur_valid(estimate[p], kernels[p]) for p in range(problems)])
        return data_fidelity(prediction, y, config.gradient_weight)

    def compute_loss(frozen: bool) -> torch.Tensor:
        # The sum over problems: each copy's parameters receive only their own gradient.
        kernels = kernel_buffer if frozen else generator(z_hat)
        loss = data_term(estimate_image(x_hat), kernels)
        if config.kernel_sparsity > 0 and not frozen:
            loss = loss + config.kernel_sparsity * kernel_sparsity(kernels, config.sparsity_p)
        return loss

    runner = IterationRunner(plan, optimiser, compute_loss)

    for index, sigma in enumerate(sigmas):
        step_start = time.perf_counter()
        step = index + 1
        x_hat.copy_(x + float(sigma) * draw(x.shape[1:]))
        if standard:
            z_hat.copy_(z)  # SelfDeblur-style fixed code
        else:
            z_hat.copy_(z + schedule.kernel_noise_scale * float(sigma) * draw(z.shape[1:]))
        frozen = generator is None or (index >= frozen_from and kernel is not None)
        if frozen and generator is not None:
            generator.requires_grad_(False)
            kernel_buffer.copy_(kernel)
        inner = 0
        while inner < n_inner:
            # No host synchronisation in here: the loss stays on the device until it is
            # reported, so the GPU queue never drains between iterations.
            count = min(config.progress_every, n_inner - inner)
            with plan.backend_flags():
                loss = runner.run(count, frozen, lambda: check_cancel(cancel))
            inner += count
            if inner == n_inner:
                break
            yield Progress(
                first_plane, n_planes, step, n_steps, inner, n_inner, float(loss),
                time.perf_counter() - start, float(sigma), batch=(first_plane, problems),
            )  # fmt: skip
        with torch.no_grad(), plan.backend_flags():
            # A copy: under torch.compile's "reduce-overhead" graphs the output buffer is reused.
            x = estimate_image(x_hat).clone()
            if not frozen:
                kernel = generator(z_hat)
            final_losses = [
                float(data_fidelity(blur_valid(x[p], kernel[p]), y[p], config.gradient_weight))
                for p in range(problems)
            ]
            previews, psfs = registered(x, kernel)
        if not standard:
            z = torch.stack([kernel_feedback(k) for k in kernel])
        for p in range(problems):
            preview = to_images[p](previews[p])
            psf = psfs[p].cpu().numpy().astype(np.float32)
            scores = scorers[p](preview, psf) if scorers[p] is not None else {}
            elapsed = time.perf_counter() - step_start
            records.append(
                StepRecord(
                    first_plane + p, step, float(sigma), final_losses[p], elapsed, **scores, iterations=inner
                )
            )
            yield Progress(
                first_plane + p, n_planes, step, n_steps, n_inner, n_inner, final_losses[p],
                time.perf_counter() - start, float(sigma), image=planes_to_image(preview[0]), psf=psf,
                psnr=scores.get("psnr"), ssim=scores.get("ssim"), batch=(first_plane, problems),
            )  # fmt: skip
    records.sort(key=lambda record: record.plane)  # stable: plane by plane, steps in order
    pupils = None
    if blind and config.kernel_net.model == "zernike":
        with torch.no_grad():
            pupils = generator(z_hat, readout=True).cpu().numpy().astype(np.float64)
    return previews, psfs, records, pupils
