r"""Blind deconvolution by self-diffusion (DeblurSDI) as a generator.

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

Choices where the paper is silent (each documented where it is made):

* the image lives on the extended domain (H+K-1, W+K-1) and ``⊛`` is a valid convolution
  (:mod:`.forward`); a blind estimate is returned registered: the H x W window that lines up
  with the observation and the kernel moved to the centre of its box
  (:func:`.forward.register`; the loop itself is untouched);
* fresh noise is drawn once per outer step and held fixed during its S inner steps; the
  networks and the Adam state persist across all outer steps (authors' public code);
* x_{t-1} and z_{t-1} are the networks' outputs *after* the S updates (one extra forward);
* the data term is a sum of squares (:mod:`.losses`), the sparsity term an l_p quasi-norm;
* the kernel feedback f: see :func:`kernel_feedback`.

The generator :func:`iter_deblur_full_scale` yields :class:`Progress` events and returns a
:class:`DeblurResult`. The public entry, :func:`.blind.iter_deblur` (and ``deblur``, which
drains it), runs it or the multiscale pipeline; the widget, the CLI and the tests all drive
that one loop, so progress and cancellation behave the same everywhere.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .._checks import InputError, Layout, NanPolicy, check_kernel_size, from_planes, to_planes
from .._device import describe_device, free_memory, make_generator, resolve_device
from ..config import RESTORE_BY_RL_FROM, DeblurConfig
from ..metrics import aligned_scores, mnc
from .classic import restore_planes
from .compute import IterationRunner, plan_execution
from .forward import blur_valid, crop_center, register
from .intensity import IntensityMap, to_dtype
from .losses import data_fidelity, kernel_sparsity
from .memory import OutOfMemory, estimate_bytes, out_of_memory_message
from .nets import KernelGenerator, UNet
from .pyramid import coarse_level, fine_level
from .regions import informative_window
from .results import Cancelled, DeblurResult, Progress, StepRecord, renumbered
from .schedule import reverse_sigmas
from .tiling import blend_tiles, choose_tile, tile_slices

__all__ = [
    "default_config",
    "drive",
    "iter_deblur_full_scale",
    "kernel_feedback",
    "resolve_restore",
    "solve_planes",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], "bool | None"]


def default_config(device: torch.device) -> DeblurConfig:
    """The paper preset on a GPU, the fast preset elsewhere (the paper preset takes hours on CPU)."""
    return DeblurConfig.preset("paper" if device.type == "cuda" else "fast")


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


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the run was cancelled")


def _build_networks(
    config: DeblurConfig, channels: int, kernel_size: int, seed: int, device: torch.device, blind: bool
) -> tuple[UNet, KernelGenerator | None]:
    # Initialise from a forked RNG so the caller's global torch state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet(channels, config.image_net.widths, config.image_net.attention_levels)
        generator = None
        if blind:
            generator = KernelGenerator(
                kernel_size,
                kernel_size * kernel_size,
                hidden=config.kernel_net.hidden,
                depth=config.kernel_net.depth,
                init_sigma=config.kernel_net.init_width * kernel_size or None,
            ).to(device)
    return unet.to(device), generator


class _Ensemble:
    """P independent copies of a network evaluated in one batched call.

    One copy is called directly, after ``prepare`` (the execution plan's layout and
    compilation, for the image network). Several are stacked with
    :func:`torch.func.stack_module_state` and evaluated with :func:`torch.vmap` over
    :func:`torch.func.functional_call`, so P planes cost one pass of batched kernels
    instead of P passes. Adam is elementwise, so one Adam over the stacked parameters is
    exactly P independent Adams, and the summed loss gives each copy only its own gradient.
    """

    def __init__(
        self,
        modules: list[nn.Module],
        prepare: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = lambda module: module,
    ) -> None:
        if len(modules) == 1:
            self.single: Callable[[torch.Tensor], torch.Tensor] | None = prepare(modules[0])
            self.parameters = list(modules[0].parameters())
            return
        self.single = None
        params, buffers = torch.func.stack_module_state(modules)
        base = copy.deepcopy(modules[0]).to("meta")

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(base, (p, b), (x,))

        self.state = (params, buffers)
        self.batched = torch.vmap(one)
        self.parameters = list(params.values())

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """Evaluate copy p on ``inputs[p]``; inputs and outputs carry a leading P axis."""
        if self.single is not None:
            return self.single(inputs[0])[None]
        return self.batched(*self.state, inputs)

    def requires_grad_(self, requires_grad: bool) -> None:
        for parameter in self.parameters:
            parameter.requires_grad_(requires_grad)


def _solve(
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
    evaluates: list[Callable[[np.ndarray, np.ndarray], dict[str, float]] | None],
    fixed_kernel: torch.Tensor | None = None,
) -> Generator[Progress, None, tuple[torch.Tensor, torch.Tensor, list[StepRecord]]]:
    """Run the self-diffusion loop on P independent normalised observations at once.

    Each ``ys[p]`` (B, C, H, W) gets its own networks, noise stream and Adam state, seeded
    ``seeds[p]``; P = 1 is the plain run. With ``fixed_kernel`` the operator is known and
    only the image network is trained: the original (non-blind) self-diffusion of Luo
    et al. Returns the estimates (P, B, C, H, W), the kernels (P, K, K) and the history
    (``plane`` = ``first_plane + p``).
    """
    y = torch.stack(ys)
    device = y.device
    problems, batch, channels, height, width = y.shape
    schedule = config.schedule
    # Coarse-to-fine start (off in the paper): the first steps on the half-resolution problem.
    coarse_steps = min(round(schedule.coarse_fraction * schedule.steps), schedule.steps - 1)
    levels = [coarse_level(y, kernel_size)] if coarse_steps else []
    levels.append(fine_level(y, kernel_size))
    plan = plan_execution(config.compute, device)
    blind = fixed_kernel is None
    built = [_build_networks(config, channels, kernel_size, seed, device, blind) for seed in seeds]
    network = _Ensemble([unet for unet, _ in built], plan.prepare_network)
    generator = _Ensemble([gen for _, gen in built]) if blind else None
    groups = [{"params": network.parameters, "lr": config.lr}]
    if generator is not None:
        groups.append({"params": generator.parameters, "lr": config.kernel_lr})
    optimiser = plan.optimiser(groups)
    rngs = [make_generator(seed, device) for seed in seeds]

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        # One draw per problem from its own stream: P = 1 reproduces the plain run exactly.
        return torch.stack([torch.randn(shape, generator=rng, device=device) for rng in rngs])

    x = draw((batch, channels, *levels[0].extended_shape))
    z = draw((kernel_size * kernel_size,))
    standard = config.kernel_net.mode == "standard" or generator is None
    sigmas = reverse_sigmas(schedule.steps, schedule.beta_start, schedule.beta_end)
    n_steps, n_inner = schedule.steps, schedule.inner_steps
    frozen_from = n_steps - round(config.kernel_freeze_fraction * n_steps)
    records: list[StepRecord] = []
    kernel = None if fixed_kernel is None else fixed_kernel.expand(problems, -1, -1)

    # Every input of an inner iteration lives in a buffer at a fixed address (one per
    # level), refilled at each outer step, so a captured CUDA graph of the iteration reads
    # the new values. A single problem's input buffer is laid out once for the network
    # (channels-last).
    x_hats = []
    for level in levels:
        empty = torch.empty((problems, batch, channels, *level.extended_shape), device=device)
        x_hats.append(plan.prepare_input(empty[0])[None] if problems == 1 else empty)
    z_hat = torch.empty_like(z)
    kernel_buffer = torch.zeros((problems, kernel_size, kernel_size), device=device)
    if kernel is not None:
        kernel_buffer.copy_(kernel)

    def registered(fine: torch.Tensor, kernels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # What is reported: a blind estimate registered to the observation (the kernel
        # centred, see forward.register); with a given kernel, the centre crop.
        if not blind:
            return crop_center(fine, (height, width)), kernels.detach()
        pairs = [register(fine[p], kernels[p].detach(), (height, width)) for p in range(problems)]
        return torch.stack([image for image, _ in pairs]), torch.stack([k for _, k in pairs])

    def estimate_image(network_input: torch.Tensor) -> torch.Tensor:
        plan.mark_step()
        with plan.autocast():
            return network(network_input).float()

    def data_term(estimate: torch.Tensor, kernels: torch.Tensor, level_index: int) -> torch.Tensor:
        level = levels[level_index]
        kernels = level.kernel(kernels)
        prediction = torch.stack([blur_valid(estimate[p], kernels[p]) for p in range(problems)])
        return level.weight * data_fidelity(prediction, level.y, config.gradient_weight)

    def compute_loss(variant: tuple[int, bool]) -> torch.Tensor:
        # The sum over problems: each copy's parameters receive only their own gradient.
        level_index, frozen = variant
        kernels = kernel_buffer if frozen else generator(z_hat)
        loss = data_term(estimate_image(x_hats[level_index]), kernels, level_index)
        if config.kernel_sparsity > 0 and not frozen:
            loss = loss + config.kernel_sparsity * kernel_sparsity(kernels, config.sparsity_p)
        return loss

    runner = IterationRunner(plan, optimiser, compute_loss)

    for index, sigma in enumerate(sigmas):
        step_start = time.perf_counter()
        step = index + 1
        level_index = 0 if index < coarse_steps else len(levels) - 1
        level, x_hat = levels[level_index], x_hats[level_index]
        if coarse_steps and index == coarse_steps:
            x = levels[0].to_fine(x)  # the coarse estimate, interpolated to full resolution
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
        previous = None
        while inner < n_inner:
            # No host synchronisation in here: the loss stays on the device until it is
            # reported, so the GPU queue never drains between iterations.
            count = min(config.progress_every, n_inner - inner)
            with plan.backend_flags():
                loss = runner.run(count, (level_index, frozen), lambda: _check_cancel(cancel))
            inner += count
            if inner == n_inner:
                break
            value = float(loss)
            yield Progress(
                first_plane, n_planes, step, n_steps, inner, n_inner, value,
                time.perf_counter() - start, float(sigma),
            )  # fmt: skip
            plateaued = previous is not None and previous - value < schedule.plateau_tolerance * previous
            if schedule.plateau_tolerance > 0 and plateaued:
                break  # adaptive inner iterations (off by default: the paper runs all S)
            previous = value
        with torch.no_grad(), plan.backend_flags():
            # A copy: under torch.compile's "reduce-overhead" graphs the output buffer is reused.
            x = estimate_image(x_hat).clone()
            if not frozen:
                kernel = generator(z_hat)
            level_kernel = level.kernel(kernel)
            final_losses = [
                level.weight
                * float(data_fidelity(blur_valid(x[p], level_kernel[p]), level.y[p], config.gradient_weight))
                for p in range(problems)
            ]
            previews, psfs = registered(level.to_fine(x), kernel)
        if not standard:
            z = torch.stack([kernel_feedback(k) for k in kernel])
        for p in range(problems):
            preview = to_images[p](previews[p])
            psf = psfs[p].cpu().numpy().astype(np.float32)
            scores = evaluates[p](preview, psf) if evaluates[p] is not None else {}
            elapsed = time.perf_counter() - step_start
            records.append(
                StepRecord(
                    first_plane + p, step, float(sigma), final_losses[p], elapsed, **scores, iterations=inner
                )
            )
            yield Progress(
                first_plane + p, n_planes, step, n_steps, n_inner, n_inner, final_losses[p],
                time.perf_counter() - start, float(sigma), image=_planes_to_image(preview[0]), psf=psf,
                psnr=scores.get("psnr"), ssim=scores.get("ssim"),
            )  # fmt: skip
    records.sort(key=lambda record: record.plane)  # stable: plane by plane, steps in order
    return previews, psfs, records  # the last step is at full resolution: its registered outputs


def _planes_to_image(planes: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) or (H, W, C) for the metrics."""
    return planes[0] if planes.shape[0] == 1 else np.moveaxis(planes, 0, -1)


def _evaluator(
    truth: np.ndarray | None, true_psf: np.ndarray | None, kernel_size: int
) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None], dict[str, float]] | None:
    """Scores per outer step against a ground-truth image (PSNR/SSIM) and PSF (MNC)."""
    if truth is None and true_psf is None:
        return None
    data_range = float(np.ptp(truth)) or 1.0 if truth is not None else 1.0

    def evaluate(estimate: np.ndarray, psf: np.ndarray, group_truth: np.ndarray | None) -> dict[str, float]:
        scores: dict[str, float] = {}
        if group_truth is not None:
            values = [
                aligned_scores(
                    _planes_to_image(est),
                    _planes_to_image(ref),
                    max_shift=kernel_size // 2,
                    data_range=data_range,
                )
                for est, ref in zip(estimate, group_truth, strict=True)
            ]
            scores["psnr"] = float(np.mean([v.psnr for v in values]))
            scores["ssim"] = float(np.mean([v.ssim for v in values]))
        if true_psf is not None:
            scores["mnc"] = mnc(psf, true_psf)
        return scores

    return evaluate


def resolve_restore(config: DeblurConfig, height: int, width: int) -> Literal["network", "richardson_lucy"]:
    """How a full-scale run of ``config`` on planes of ``height`` x ``width`` makes its image.

    ``config.restore`` itself, or for ``"auto"``: ``"richardson_lucy"`` when the networks have
    at least :data:`~napari_selfdiff.config.RESTORE_BY_RL_FROM` pixels per plane to fit per
    iteration, ``height width / (T S)``, else ``"network"``. The count is per plane: the
    planes of a stack are fitted side by side, each with the whole budget.
    """
    if config.restore != "auto":
        return config.restore
    iterations = config.schedule.steps * config.schedule.inner_steps
    return "richardson_lucy" if height * width >= RESTORE_BY_RL_FROM * iterations else "network"


def iter_deblur_full_scale(
    image: np.ndarray,
    kernel_size: int,
    config: DeblurConfig | None = None,
    *,
    device: str | torch.device | None = None,
    seed: int = 0,
    ground_truth: np.ndarray | None = None,
    true_psf: np.ndarray | None = None,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    keep_dtype: bool = False,
    cancel: threading.Event | None = None,
    on_out_of_memory: Literal["raise", "tile"] = "raise",
) -> Generator[Progress, None, DeblurResult]:
    """Blind self-diffusion at the image's own resolution, as a generator of :class:`Progress` events.

    :func:`.blind.iter_deblur` at scale 1: see there for every parameter, the events, the
    result and the errors. When :func:`resolve_restore` says ``"richardson_lucy"`` the returned
    image is Richardson-Lucy of each group of planes with its estimated PSF; ``extra["restore"]``
    records the choice. ``on_out_of_memory="tile"`` retries a run that does not fit in
    overlapping tiles sharing one PSF (:mod:`.tiling`); ``extra["tiling"]`` then records the
    tile size and overlap, and the choice is made for the tiles the networks fitted.
    """
    start = time.perf_counter()
    planes, layout = to_planes(image, axes, nan_policy=nan_policy)
    kernel_size = check_kernel_size(kernel_size, layout.height, layout.width)
    truth = check_ground_truth(ground_truth, layout)
    torch_device = resolve_device(device)
    config = config if config is not None else default_config(torch_device)
    run = solve_planes(
        planes, kernel_size, config, torch_device, seed,
        start=start, cancel=cancel, truth=truth, true_psf=true_psf,
    )  # fmt: skip
    tiling: dict[str, int] | None = None
    failure = None
    try:
        estimates, psfs, history = yield from run
    except OutOfMemory as error:
        if on_out_of_memory != "tile":
            raise
        failure = str(error)
    if failure is not None:
        # Outside the except clause, so the failed run's frames (and its device tensors)
        # are no longer held by the traceback when the memory is handed back.
        del run
        gc.collect()
        if torch_device.type == "cuda":
            torch.cuda.empty_cache()
        overlap = 2 * kernel_size
        tile = min(layout.height, layout.width)
        while True:  # smaller tiles until one fits (tile_for raises below four kernel sizes)
            tile = tile_for(planes, kernel_size, config, torch_device, below=tile)
            logger.warning("%s; retrying in %d x %d tiles overlapping by %d px", failure, tile, tile, overlap)
            try:
                estimates, psfs, history = yield from solve_tiled(
                    planes, kernel_size, config, torch_device, seed, tile, overlap, start=start, cancel=cancel
                )
                break
            except OutOfMemory as error:
                failure = str(error)
        tiling = {"tile": tile, "overlap": overlap}
    fitted = (tiling["tile"],) * 2 if tiling else (layout.height, layout.width)
    restore = resolve_restore(config, *fitted)
    if restore == "richardson_lucy":
        # Drained, not yielded: it takes a small fraction of the blind run (0.3 s after 2 min
        # on a 255 x 255 image, CPU), and its events would restart the progress fraction.
        for members, psf in zip(plane_groups(planes.shape[0], config), psfs, strict=True):
            restoration = restore_planes(planes[members], psf, config, torch_device, cancel=cancel)
            estimates[members] = drive(restoration)
    return DeblurResult(
        image=to_dtype(from_planes(estimates, layout), layout.dtype if keep_dtype else None),
        psf=psfs[0] if len(psfs) == 1 else np.stack(psfs),
        history=history,
        config=config.to_dict(),
        seed=seed,
        device=describe_device(torch_device),
        seconds=time.perf_counter() - start,
        extra={
            "kernel_size": kernel_size,
            "axes": layout.axes,
            "compute": plan_execution(config.compute, torch_device).describe(),
            "tiling": tiling,
            "restore": restore,
        },
    )


def check_ground_truth(ground_truth: np.ndarray | None, layout: Layout) -> np.ndarray | None:
    """Validate an optional ground truth against the image layout; return its planes."""
    if ground_truth is None:
        return None
    truth, truth_layout = to_planes(ground_truth, layout.axes, what="ground_truth")
    if truth_layout.shape != layout.shape:
        raise InputError(
            f"`ground_truth` shape {truth_layout.shape} differs from the image shape {layout.shape}"
        )
    return truth


def check_memory(
    shape: tuple[int, ...], kernel_size: int, config: DeblurConfig, device: torch.device
) -> None:
    """Refuse a run whose estimated need exceeds the free memory of its device, before any work.

    CUDA device memory, or the host memory a CPU run may use (:func:`free_memory`); no check
    where that cannot be read (MPS).
    """
    free = free_memory(device)
    if free is None:
        return
    needed = estimate_bytes(*shape, kernel_size, config)
    if needed > free:
        raise OutOfMemory(out_of_memory_message(needed, free, describe_device(device)))


def solve_planes(
    planes: np.ndarray,
    kernel_size: int,
    config: DeblurConfig,
    device: torch.device,
    seed: int,
    *,
    start: float,
    cancel: threading.Event | None = None,
    truth: np.ndarray | None = None,
    true_psf: np.ndarray | None = None,
    fixed_psf: np.ndarray | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, list[np.ndarray], list[StepRecord]]]:
    """Self-diffusion over the planes of a (Z, C, H, W) array, per plane or shared.

    Each group of planes (one plane, or all of them in shared mode) gets its own intensity
    map, networks and seed ``seed + group``. Returns the estimates (Z, C, H, W) in input
    intensities, the PSF of each group and the history.
    """
    groups = plane_groups(planes.shape[0], config)
    evaluate = _evaluator(truth, true_psf, kernel_size)
    kernel = None
    if fixed_psf is not None:
        kernel = torch.as_tensor(fixed_psf, dtype=torch.float32, device=device)
    estimates = np.empty_like(planes)
    psfs: list[np.ndarray] = []
    history: list[StepRecord] = []
    first = network_input(planes[groups[0]], config)
    together = planes_per_batch(len(groups), first.shape, kernel_size, config, device)
    for first_group in range(0, len(groups), together):
        batch = groups[first_group : first_group + together]
        mappings = [IntensityMap.fit(planes[members]) for members in batch]
        inputs = [
            network_input(mapping.forward(planes[members]), config)
            for mapping, members in zip(mappings, batch, strict=True)
        ]
        ys = [torch.as_tensor(values, dtype=torch.float32, device=device) for values in inputs]
        to_images = [
            _image_converter(mapping, planes[members].shape)
            for mapping, members in zip(mappings, batch, strict=True)
        ]
        evaluates = [
            None if evaluate is None else _group_scorer(evaluate, None if truth is None else truth[members])
            for members in batch
        ]
        try:
            x, kernels, records = yield from _solve(
                ys,
                kernel_size,
                config,
                [seed + first_group + p for p in range(len(batch))],
                first_plane=first_group,
                n_planes=len(groups),
                start=start,
                cancel=cancel,
                to_images=to_images,
                evaluates=evaluates,
                fixed_kernel=kernel,
            )
        except RuntimeError as error:  # torch.OutOfMemoryError is one; CPU allocation failures are plain
            if not _is_out_of_memory(error):
                raise
            needed = estimate_bytes(len(batch) * ys[0].shape[0], *ys[0].shape[1:], kernel_size, config)
            raise OutOfMemory(out_of_memory_message(needed, None, str(device))) from error
        for p, members in enumerate(batch):
            estimates[members] = to_images[p](x[p])
            psfs.append(kernels[p].cpu().numpy().astype(np.float32))
        history.extend(records)
    return estimates, psfs, history


def _is_out_of_memory(error: RuntimeError) -> bool:
    """A device allocation failure: CUDA's own error type, or the CPU allocator's message."""
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


def planes_per_batch(
    n_groups: int, group_shape: tuple[int, ...], kernel_size: int, config: DeblurConfig, device: torch.device
) -> int:
    """How many plane groups to solve together.

    ``config.compute.batch_planes`` resolved for the device (at most the number of groups),
    halved until a batch fits in free memory; then the memory check of one batch, which
    raises :class:`OutOfMemory` if even a single group does not fit.
    """
    together = min(plan_execution(config.compute, device).batch_planes, n_groups)
    batch, *rest = group_shape
    free = free_memory(device)
    if free is not None:
        while together > 1 and estimate_bytes(together * batch, *rest, kernel_size, config) > free:
            together //= 2
    check_memory((together * batch, *rest), kernel_size, config, device)
    return together


def network_input(group: np.ndarray, config: DeblurConfig) -> np.ndarray:
    """A (Z, C, H, W) plane group as the image network sees it.

    (B, C, H, W) with B = Z, except in ``"shared-channels"`` mode, where the planes become
    the channels of one input, (1, Z * C, H, W): one network pass then serves the whole
    stack, and the blur (depthwise, one shared kernel) acts on each plane as before.
    """
    if config.stack_mode == "shared-channels":
        return group.reshape(1, -1, *group.shape[-2:])
    return group


def _image_converter(mapping: IntensityMap, shape: tuple[int, ...]) -> Callable[[torch.Tensor], np.ndarray]:
    """Normalised network output -> array of the group's (Z, C, H, W) ``shape`` in input intensities."""

    def to_image(x: torch.Tensor) -> np.ndarray:
        return mapping.inverse(x.detach().cpu().numpy().astype(np.float64)).reshape(shape)

    return to_image


def _group_scorer(
    evaluate: Callable[[np.ndarray, np.ndarray, np.ndarray | None], dict[str, float]],
    group_truth: np.ndarray | None,
) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    def scorer(estimate: np.ndarray, psf: np.ndarray) -> dict[str, float]:
        return evaluate(estimate, psf, group_truth)

    return scorer


def plane_groups(count: int, config: DeblurConfig) -> list[np.ndarray]:
    """Indices of the planes solved together: all of them in the shared modes, else one each."""
    if config.stack_mode != "per-plane":
        return [np.arange(count)]
    return [np.array([i]) for i in range(count)]


def tile_for(
    planes: np.ndarray, kernel_size: int, config: DeblurConfig, device: torch.device, below: int
) -> int:
    """Largest tile side smaller than ``below`` whose solve fits.

    The budget is the device's free memory (:func:`free_memory`), 90 % of it on CUDA and
    half on the host, which the system and other processes share and where an overshoot
    meets the kernel's out-of-memory killer rather than a catchable error; where free
    memory cannot be read, half of what the whole image needed.
    """
    batch, channels, height, width = network_input(planes[plane_groups(len(planes), config)[0]], config).shape
    free = free_memory(device)
    if free is not None:
        budget = (0.9 if device.type == "cuda" else 0.5) * free
    else:
        budget = 0.5 * estimate_bytes(batch, channels, height, width, kernel_size, config)

    def fits(tile: int) -> bool:
        return estimate_bytes(batch, channels, tile, tile, kernel_size, config) <= budget

    try:
        return choose_tile(below, kernel_size, fits)
    except ValueError as error:
        raise OutOfMemory(f"cannot tile this run: {error}") from None


def solve_tiled(
    planes: np.ndarray,
    kernel_size: int,
    config: DeblurConfig,
    device: torch.device,
    seed: int,
    tile: int,
    overlap: int,
    *,
    start: float,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, list[np.ndarray], list[StepRecord]]]:
    """Blind PSF on the most informative tile of each group, then every tile non-blind, blended.

    See :mod:`.tiling`. Progress events are renumbered so ``plane``/``n_planes`` count the
    sub-runs (per group: one blind, then one per tile) and the fraction done stays right.
    """
    height, width = planes.shape[-2:]
    groups = plane_groups(planes.shape[0], config)
    slices = list(tile_slices((height, width), tile, overlap))
    total = len(groups) * (1 + len(slices))
    estimates = np.empty_like(planes)
    psfs: list[np.ndarray] = []
    history: list[StepRecord] = []
    parts = iter(range(total))
    for group_index, members in enumerate(groups):
        group = planes[members]
        blind_rows, blind_cols = informative_window(group, tile, kernel_size)
        _, group_psfs, records = yield from renumbered(
            solve_planes(group[..., blind_rows, blind_cols], kernel_size, config, device,
                         seed + group_index, start=start, cancel=cancel),
            next(parts), total,
        )  # fmt: skip
        history.extend(records)
        pieces = []
        for rows, cols in slices:
            tile_estimate, _, records = yield from renumbered(
                solve_planes(group[..., rows, cols], kernel_size, config, device, seed + group_index,
                             start=start, cancel=cancel, fixed_psf=group_psfs[0]),
                next(parts), total,
            )  # fmt: skip
            history.extend(records)
            pieces.append(((rows, cols), tile_estimate))
        estimates[members] = blend_tiles(group.shape, pieces, overlap)
        psfs.append(group_psfs[0])
    return estimates, psfs, history


def drive(
    run: Generator[Progress, None, Any],
    progress: ProgressCallback | None = None,
) -> Any:
    """Drain a solver generator, passing each event to ``progress``; return its result.

    The callback may return False to cancel: the generator is closed and
    :class:`Cancelled` is raised.
    """
    with contextlib.closing(run):
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                return stop.value
            if progress is not None and progress(event) is False:
                raise Cancelled("the run was cancelled by the progress callback")
