"""Frozen configuration dataclasses: the one source of defaults.

Every default used by the engine, the CLI and the napari widgets lives here.
The dataclasses validate themselves in ``__post_init__`` with messages that name
the field, the value and the rule, and :func:`dataclasses.asdict` of a config is
the provenance written into TIFF metadata and layer metadata.

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "PRESETS",
    "ComputeConfig",
    "DeblurConfig",
    "ImageNetConfig",
    "KernelNetConfig",
    "PsfRefitConfig",
    "ScheduleConfig",
]

#: Largest total-variation weight of a Richardson-Lucy restoration: ``div(grad x / |grad x|)``
#: lies in [-4, 4], so the RL-TV denominator ``1 - weight div`` stays >= 0.8 (Dey et al. 2006).
MAX_TV_WEIGHT = 0.05

KernelMode = Literal["diffusion", "standard"]
StackMode = Literal["per-plane", "shared", "shared-channels"]
Restore = Literal["network", "richardson_lucy", "auto"]
Precision = Literal["auto", "float32", "tf32", "bfloat16"]
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune-no-cudagraphs"]


class ConfigError(ValueError):
    """A configuration field holds a value that breaks its rule."""


def _require(condition: bool, name: str, value: Any, rule: str) -> None:
    if not condition:
        raise ConfigError(f"`{name}` must be {rule}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ScheduleConfig:
    """Reverse-diffusion noise schedule of the outer loop.

    Parameters
    ----------
    steps : int
        Number of outer diffusion steps T.
    inner_steps : int
        Number of Adam iterations S run at each outer step.
    beta_start, beta_end : float
        The linear beta schedule runs from ``beta_start`` (t = 1) to ``beta_end`` (t = T);
        ``sigma_t = sqrt(1 - prod_{i<=t} (1 - beta_i))``.
    kernel_noise_scale : float
        Ratio mu of the noise added to the kernel code to the image noise:
        ``z^_t = z_t + mu * sigma_t * eps``.
    plateau_tolerance : float
        Adaptive inner iterations: an outer step ends early once the loss fell by less
        than this fraction over the last ``progress_every`` iterations (0: always S
        iterations, as the paper). The loss is read at progress events anyway, so the
        check costs no extra synchronisation. Measured with the fast preset on two
        synthetic 128 x 128 camera-shake cases (camera, astronaut): 0.002 saved 12 % of
        the iterations and lost 0.16 and 0.41 dB, 0.005 saved 15 % and lost 0.29 and
        0.35 dB; it is therefore off in every preset.
    coarse_fraction : float
        Coarse-to-fine start: the first ``round(coarse_fraction * steps)`` outer steps
        solve the observation downsampled by two (a quarter of the pixels, a kernel of
        about half the side) with the same networks, then the image estimate is
        interpolated to full resolution and the run continues (:mod:`napari_selfdiff.engine.pyramid`).
        0 (default): every step at full resolution, as the paper. Measured with the fast
        preset on 4 + 4 Levin cases (128 x 128, ``docs/benchmarks/README.md``), 0.5 took
        about 0.72x the time and changed PSNR by -0.89 dB (motion) and -0.06 dB (optical),
        case by case from -3.6 to +1.9 dB: smooth optical PSFs gained, thin motion kernels
        lose their structure at half resolution. Hence off in every preset.
    """

    steps: int = 30
    inner_steps: int = 200
    beta_start: float = 1e-4
    beta_end: float = 2e-2
    kernel_noise_scale: float = 0.15
    plateau_tolerance: float = 0.0
    coarse_fraction: float = 0.0

    def __post_init__(self) -> None:
        _require(_is_int(self.steps) and self.steps >= 1, "steps", self.steps, "an integer >= 1")
        _require(
            _is_int(self.inner_steps) and self.inner_steps >= 1,
            "inner_steps",
            self.inner_steps,
            "an integer >= 1",
        )
        _require(
            _is_number(self.beta_start) and 0 < self.beta_start < 1,
            "beta_start",
            self.beta_start,
            "a number in (0, 1)",
        )
        _require(
            _is_number(self.beta_end) and self.beta_start <= self.beta_end < 1,
            "beta_end",
            self.beta_end,
            f"a number in [beta_start={self.beta_start}, 1)",
        )
        _require(
            _is_number(self.kernel_noise_scale) and self.kernel_noise_scale >= 0,
            "kernel_noise_scale",
            self.kernel_noise_scale,
            "a finite number >= 0",
        )
        _require(
            _is_number(self.plateau_tolerance) and 0 <= self.plateau_tolerance < 1,
            "plateau_tolerance",
            self.plateau_tolerance,
            "a number in [0, 1)",
        )
        _require(
            _is_number(self.coarse_fraction) and 0 <= self.coarse_fraction < 1,
            "coarse_fraction",
            self.coarse_fraction,
            "a number in [0, 1)",
        )


@dataclass(frozen=True)
class ImageNetConfig:
    """Image denoiser D_theta: a U-Net of 3x3 conv-BatchNorm-ReLU pairs.

    Parameters
    ----------
    widths : tuple of int
        Channel width at each level, from the finest to the bottleneck; its length is the
        number of levels (5 in the paper preset: 64 -> 1024).
    attention_levels : int
        Number of the deepest levels that carry a non-local (self-attention) block.
    """

    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    attention_levels: int = 1

    def __post_init__(self) -> None:
        widths = tuple(self.widths)
        object.__setattr__(self, "widths", widths)
        _require(
            1 <= len(widths) <= 6 and all(_is_int(w) and w >= 1 for w in widths),
            "widths",
            widths,
            "1 to 6 positive integers",
        )
        _require(
            _is_int(self.attention_levels) and 0 <= self.attention_levels <= len(widths),
            "attention_levels",
            self.attention_levels,
            f"an integer in [0, {len(widths)}] (the number of levels)",
        )


@dataclass(frozen=True)
class KernelNetConfig:
    """Kernel generator G_phi: a fully connected network ending in a softmax.

    Parameters
    ----------
    hidden : int
        Width of every hidden layer.
    depth : int
        Number of hidden ReLU layers ("k-diff" depth; the paper's ablation uses 1, 2, 3, 5).
    mode : {"diffusion", "standard"}
        ``"diffusion"`` feeds the noisy previous kernel estimate z^_t to the generator
        (DeblurSDI); ``"standard"`` feeds a fixed random code, as SelfDeblur does.
    init_width : float
        0 (the paper: random initialisation, a near-flat kernel) or the width, as a fraction
        of the kernel size, of the centred Gaussian the generator starts from.
    """

    hidden: int = 1000
    depth: int = 1
    mode: KernelMode = "diffusion"
    init_width: float = 0.0

    def __post_init__(self) -> None:
        _require(_is_int(self.hidden) and self.hidden >= 1, "hidden", self.hidden, "an integer >= 1")
        _require(
            _is_int(self.depth) and 1 <= self.depth <= 8,
            "depth",
            self.depth,
            "an integer in [1, 8]",
        )
        _require(
            _is_number(self.init_width) and 0 <= self.init_width <= 1,
            "init_width",
            self.init_width,
            "a number in [0, 1]",
        )
        _require(
            self.mode in ("diffusion", "standard"),
            "mode",
            self.mode,
            "'diffusion' or 'standard'",
        )


@dataclass(frozen=True)
class ComputeConfig:
    """How the arithmetic is executed: it changes speed, not the algorithm.

    The reference path of the speed benchmark is :meth:`reference` (eager, strict float32);
    the defaults are the optimised path, kept because the speed benchmark measured each of
    them to pay on an H100 without moving PSNR by more than 0.2 dB (``docs/benchmarks``).
    Every option except ``precision`` on CPU acts on CUDA devices only.

    Parameters
    ----------
    precision : {"auto", "float32", "tf32", "bfloat16"}
        Arithmetic of the image U-Net. ``"bfloat16"`` runs its convolutions under autocast
        (BatchNorm, the kernel generator with its softmax, the blur and the loss stay in
        float32); ``"tf32"`` lets float32 convolutions and matrix products use TF32 tensor
        cores; ``"float32"`` forbids TF32. ``"auto"``: TF32 on CUDA GPUs that have it,
        float32 elsewhere. float16 is not offered: its 5-bit exponent would need loss
        scaling, while bfloat16 keeps float32's range.
    channels_last : bool
        Store the U-Net's feature maps in NHWC order, the layout of the tensor-core kernels.
    compile : {"off", "default", "reduce-overhead", "max-autotune-no-cudagraphs"}
        ``torch.compile`` mode for the image U-Net (``"reduce-overhead"`` adds CUDA graphs).
        Compilation costs tens of seconds once per run shape.
    fused_optimizer : bool
        Adam as one fused CUDA kernel per step instead of one launch per tensor.
    cudnn_benchmark : bool
        Let cuDNN time its convolution algorithms once per shape and keep the fastest.
    cuda_graph : bool
        Capture one whole inner iteration (forward, loss, backward, Adam step) as a CUDA
        graph and replay it: the host then launches one graph instead of hundreds of
        kernels per iteration. Shapes are static within a solve, so one capture (two when
        the kernel is frozen part-way) serves every iteration.
    batch_planes : int or "auto"
        Planes of a per-plane stack solved together: their independent networks are
        stacked and evaluated in one batched call (``torch.vmap``), with one Adam over the
        stacked parameters (elementwise, so the same as separate Adams). Results match
        plane-by-plane runs up to floating-point rounding. On CUDA the batch is halved
        until it fits in free memory. ``"auto"``: 8 on the CPU, 1 on CUDA, as measured
        with 8 planes. On 2 CPU cores, fast preset (``docs/benchmarks/speed_cpu.md``),
        batching was 2.2x faster at 64 x 64 and 1.1x at 128 x 128. On an H100, paper
        preset, 90 iterations per plane with set-up included
        (``docs/benchmarks/speed_cuda-quality.md``), it was 1.7x slower at 128 x 128 and
        2.7x slower at 256 x 256. There is little to win: one plane already keeps the GPU
        busy (8 planes through one shared network cost 5.6 ms per plane and iteration
        against 7.9 ms for one plane alone, ``speed_cuda.md``), and the stacked weights run
        as grouped convolutions, which are slower than a plain batch.
    """

    precision: Precision = "auto"
    channels_last: bool = False
    compile: CompileMode = "off"
    fused_optimizer: bool = True
    cudnn_benchmark: bool = True
    cuda_graph: bool = True
    batch_planes: int | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        _require(
            self.precision in ("auto", "float32", "tf32", "bfloat16"),
            "precision",
            self.precision,
            "'auto', 'float32', 'tf32' or 'bfloat16'",
        )
        _require(
            self.compile in ("off", "default", "reduce-overhead", "max-autotune-no-cudagraphs"),
            "compile",
            self.compile,
            "'off', 'default', 'reduce-overhead' or 'max-autotune-no-cudagraphs'",
        )
        for name in ("channels_last", "fused_optimizer", "cudnn_benchmark", "cuda_graph"):
            value = getattr(self, name)
            _require(isinstance(value, bool), name, value, "True or False")
        _require(
            self.batch_planes == "auto" or (_is_int(self.batch_planes) and self.batch_planes >= 1),
            "batch_planes",
            self.batch_planes,
            "'auto' or an integer >= 1",
        )
        _require(
            not (self.cuda_graph and self.compile == "reduce-overhead"),
            "compile",
            self.compile,
            "other than 'reduce-overhead' when cuda_graph=True (both capture CUDA graphs)",
        )

    @classmethod
    def reference(cls) -> ComputeConfig:
        """Eager strict float32 with no layout, fusion or autotuning: the paper-faithful path."""
        return cls(
            precision="float32",
            channels_last=False,
            compile="off",
            fused_optimizer=False,
            cudnn_benchmark=False,
            cuda_graph=False,
            batch_planes=1,
        )

    @classmethod
    def throughput(cls) -> ComputeConfig:
        """The defaults plus bfloat16, channels-last and ``torch.compile``: for many same-shape solves.

        On an H100, paper preset, 256 x 256 (``docs/benchmarks/speed_cuda-profile.md`` and
        ``speed_cuda-compiled.md``): 4.4 ms per iteration against 7.9 ms with the defaults and
        19.7 ms for the reference; full images in 25.8 and 26.0 s against 116 s for the
        reference (4.5x), PSNR -0.12 and +1.64 dB from the reference's on the two cases. It is
        not the default because compiling costs about a minute once per image shape and
        process (and needs a C compiler): one image takes longer than with the defaults
        (48 s), three or more images of one shape (per-plane stacks, batches) take less.
        """
        return cls(precision="bfloat16", channels_last=True, compile="default")


@dataclass(frozen=True)
class PsfRefitConfig:
    """Refit of the multiscale pipeline's upscaled PSF at full resolution.

    After the PSF estimated at ``1 / scale`` is interpolated back, the estimation window is
    restored with it (RL-TV) and the kernel is refitted to the full-resolution observation
    on the strongest gradients of that restoration, pulled towards the upscaled kernel
    (:mod:`napari_selfdiff.engine.psf_refit`); the image is then restored with the refitted
    PSF. It recovers the detail finer than ``scale`` pixels that the reduced estimate cannot
    hold: with the fast preset's half-scale PSFs on the 10 + 10 full Levin images it gained
    1.25 dB (motion) and 0.55 dB (optical), every case better, and on 6 + 6 other cases not
    used to choose the defaults 0.61 and 0.59 dB. A smaller window holds fewer strong edges
    and the fit varies more, so below ``reference_area`` pixels the prior and the edge share
    grow (see ``reference_area``): on 32 + 32 Levin crops of 128 x 128 that took the gain from
    +0.22 / +0.40 dB (13 and 12 cases worse, down to -3.5 dB) to +0.58 / +0.32 dB (6 and 7
    worse, down to -0.9 dB), and on 32 + 32 other crops not used for the choice from +0.39 /
    +0.12 to +0.73 / +0.35 dB (``docs/benchmarks/README.md``).

    Parameters
    ----------
    enabled : bool
        Refit (True) or restore with the upscaled PSF as it is.
    prior_weight : float
        Pull towards the upscaled PSF, relative to the energy of the selected gradients
        (so independent of contrast and image size); > 0.
    edge_fraction : float
        Fraction of the restoration's gradients, the largest, the kernel is fitted on, in
        (0, 1]: the weak ones are mostly noise and ringing.
    floor : float
        Taps below this fraction of the largest are set to zero after the fit, in [0, 1)
        (Cho & Lee 2009 use 1/20).
    reference_area : int
        Pixels per plane of the window from which ``prior_weight`` and ``edge_fraction``
        apply as given (255 x 255, the images they were chosen on); a smaller window holds
        fewer strong edges for the same unknowns, and both are multiplied by
        ``sqrt(reference_area / area)`` there (the edge fraction up to 1); >= 1.
    iterations : int
        Conjugate-gradient iterations of the quadratic fit.
    """

    enabled: bool = True
    prior_weight: float = 0.3
    edge_fraction: float = 0.05
    floor: float = 0.05
    reference_area: int = 255 * 255
    iterations: int = 50

    def __post_init__(self) -> None:
        _require(isinstance(self.enabled, bool), "enabled", self.enabled, "True or False")
        _require(
            _is_number(self.prior_weight) and self.prior_weight > 0,
            "prior_weight",
            self.prior_weight,
            "a finite number > 0",
        )
        _require(
            _is_number(self.edge_fraction) and 0 < self.edge_fraction <= 1,
            "edge_fraction",
            self.edge_fraction,
            "a number in (0, 1]",
        )
        _require(_is_number(self.floor) and 0 <= self.floor < 1, "floor", self.floor, "a number in [0, 1)")
        _require(
            _is_int(self.reference_area) and self.reference_area >= 1,
            "reference_area",
            self.reference_area,
            "an integer >= 1",
        )
        _require(
            _is_int(self.iterations) and self.iterations >= 1,
            "iterations",
            self.iterations,
            "an integer >= 1",
        )


@dataclass(frozen=True)
class DeblurConfig:
    """Every parameter of the blind self-diffusion solver (DeblurSDI).

    Parameters
    ----------
    schedule : ScheduleConfig
        Outer noise schedule (T, S, betas, mu).
    image_net : ImageNetConfig
        U-Net image denoiser.
    kernel_net : KernelNetConfig
        Fully connected kernel generator.
    lr : float
        Adam learning rate of the image network theta.
    kernel_lr_ratio : float
        Learning rate of the kernel generator phi as a fraction of ``lr`` (paper: 0.25).
    kernel_sparsity : float
        Weight lambda_k of the kernel sparsity term R(k).
    sparsity_p : float
        Exponent p of the l_p quasi-norm sparsity term ``R(k) = sum_i k_i^p`` (0 < p < 1).
    gradient_weight : float
        Weight gamma of the residual's finite differences in the data term (0: the paper's
        plain sum of squares); see :func:`napari_selfdiff.engine.losses.data_fidelity`.
    kernel_freeze_fraction : float
        Fraction of the last outer steps in which the kernel generator is frozen (0 keeps
        it learning to the end, as the paper does).
    stack_mode : {"per-plane", "shared", "shared-channels"}
        For (Z, Y, X) stacks: one PSF per plane, or one PSF shared by all planes. In
        ``"shared"`` mode the planes are a batch through one image network (each plane its own
        forward pass, so the cost grows with Z); in ``"shared-channels"`` mode they are the
        channels of one input to one image network, which models the stack jointly at about
        the cost of a single plane. That network's features are shared by all planes: on
        the one stack measured (``docs/benchmarks/speed_cuda-stack8.md``) it was 2.7x faster
        than ``"shared"`` and 3.5 dB worse, so it suits a quick look at a deep stack.
    restore : {"network", "richardson_lucy", "auto"}
        How the returned image is made at full scale: the image network's output
        ``D_theta(x_1)`` (the paper), or Richardson-Lucy on the blurred input with the
        estimated PSF (RL-TV, ``restore_iterations`` and ``restore_tv_weight``), or ``"auto"``:
        Richardson-Lucy when each plane has at least :data:`RESTORE_BY_RL_FROM` pixels per
        iteration of the schedule (``Y X / (T S)``), else the network's
        (:func:`napari_selfdiff.engine.solver.resolve_restore`). With the fast preset's 1000
        iterations, on 8 + 8 spread Levin cases with the same PSFs, RL-TV against the network's
        image was -0.00 dB at 128 x 128 (16 pixels per iteration, 8 of 16 cases better),
        +0.62 dB at 152 x 152 (23 per iteration, 13 of 16), +1.04 dB at 176 x 176 (16 of 16) and
        +1.91 dB at 255 x 255 (16 of 16): the network underfits an image too large for its
        iteration budget, while RL-TV does not depend on the budget
        (``docs/benchmarks/restore_by_size.md``). So the fast preset uses ``"auto"``; the paper
        preset (``DeblurConfig()``) keeps the paper's ``"network"``: its larger network was not
        measured against RL-TV. A multiscale run (``scale > 1``) always restores by
        Richardson-Lucy.
    restore_iterations : int
        Richardson-Lucy iterations of that restoration (``restore="richardson_lucy"`` or
        ``scale > 1``).
    restore_tv_weight : float
        Weight of the total-variation term of that restoration (RL-TV, Dey et al. 2006; 0 is
        plain Richardson-Lucy; at most 0.05, so the update's denominator stays positive). With
        the estimated PSFs of the multiscale pipeline on the 10 + 10 full Levin images, RL-TV
        with weight 0.002 and 60 iterations beat plain Richardson-Lucy with 30 in both families
        (motion +0.30 dB, 8 of 10; optical +0.34 dB, 10 of 10; on 6 + 6 other cases +0.42 /
        +0.27 dB), where plain Richardson-Lucy with 60 iterations lost 0.36 dB on motion to
        noise amplification (``docs/benchmarks/README.md``).
    psf_refit : PsfRefitConfig
        Full-resolution refit of the PSF estimated at reduced scale (``scale > 1``), before
        the restoration.
    progress_every : int
        Inner iterations between progress events (events imply a host synchronisation).
    compute : ComputeConfig
        Precision, memory layout, compilation and kernel options (speed, not the algorithm).
    """

    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    image_net: ImageNetConfig = field(default_factory=ImageNetConfig)
    kernel_net: KernelNetConfig = field(default_factory=KernelNetConfig)
    lr: float = 1e-3
    kernel_lr_ratio: float = 0.25
    kernel_sparsity: float = 2e-3
    sparsity_p: float = 0.5
    gradient_weight: float = 0.0
    kernel_freeze_fraction: float = 0.0
    stack_mode: StackMode = "per-plane"
    restore: Restore = "network"
    restore_iterations: int = 60
    restore_tv_weight: float = 0.002
    psf_refit: PsfRefitConfig = field(default_factory=PsfRefitConfig)
    progress_every: int = 10
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    def __post_init__(self) -> None:
        for name, cls in (
            ("schedule", ScheduleConfig),
            ("image_net", ImageNetConfig),
            ("kernel_net", KernelNetConfig),
            ("compute", ComputeConfig),
            ("psf_refit", PsfRefitConfig),
        ):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, cls(**value))
            else:
                _require(isinstance(value, cls), name, value, f"a {cls.__name__}")
        _require(_is_number(self.lr) and self.lr > 0, "lr", self.lr, "a finite number > 0")
        _require(
            _is_number(self.kernel_lr_ratio) and self.kernel_lr_ratio > 0,
            "kernel_lr_ratio",
            self.kernel_lr_ratio,
            "a finite number > 0",
        )
        _require(
            _is_number(self.kernel_sparsity) and self.kernel_sparsity >= 0,
            "kernel_sparsity",
            self.kernel_sparsity,
            "a finite number >= 0",
        )
        _require(
            _is_number(self.sparsity_p) and 0 < self.sparsity_p < 1,
            "sparsity_p",
            self.sparsity_p,
            "a number in (0, 1)",
        )
        _require(
            _is_number(self.gradient_weight) and self.gradient_weight >= 0,
            "gradient_weight",
            self.gradient_weight,
            "a finite number >= 0",
        )
        _require(
            _is_number(self.kernel_freeze_fraction) and 0 <= self.kernel_freeze_fraction < 1,
            "kernel_freeze_fraction",
            self.kernel_freeze_fraction,
            "a number in [0, 1)",
        )
        _require(
            self.stack_mode in get_args(StackMode),
            "stack_mode",
            self.stack_mode,
            "'per-plane', 'shared' or 'shared-channels'",
        )
        _require(
            self.restore in get_args(Restore),
            "restore",
            self.restore,
            "'network', 'richardson_lucy' or 'auto'",
        )
        _require(
            _is_int(self.restore_iterations) and self.restore_iterations >= 1,
            "restore_iterations",
            self.restore_iterations,
            "an integer >= 1",
        )
        _require(
            _is_number(self.restore_tv_weight) and 0 <= self.restore_tv_weight <= MAX_TV_WEIGHT,
            "restore_tv_weight",
            self.restore_tv_weight,
            f"a number in [0, {MAX_TV_WEIGHT}]",
        )
        _require(
            _is_int(self.progress_every) and self.progress_every >= 1,
            "progress_every",
            self.progress_every,
            "an integer >= 1",
        )

    @property
    def kernel_lr(self) -> float:
        """Adam learning rate of the kernel generator phi."""
        return self.lr * self.kernel_lr_ratio

    @classmethod
    def preset(cls, name: str) -> DeblurConfig:
        """Return a named preset: ``"paper"``, ``"fast"`` or ``"tiny"``.

        ``"paper"`` is the configuration of Yang & Luo (arXiv 2510.27439): T = 30, S = 200,
        linear betas 1e-4 .. 2e-2, mu = 0.15, lambda_k = 2e-3, Adam lr 1e-3 (theta) and
        2.5e-4 (phi), a 5-level U-Net 64 -> 1024 with attention at the bottleneck and one
        1000-unit hidden layer in the kernel generator. ``"fast"`` (T = 20, S = 50, a 3-level
        U-Net 8 -> 32 without attention) targets under a minute for a 128 x 128 image on two
        CPU cores. ``"tiny"`` is for tests and smoke runs only.
        """
        try:
            factory = PRESETS[name]
        except KeyError:
            raise ConfigError(f"`preset` must be one of {sorted(PRESETS)}, got {name!r}") from None
        return factory()

    def replace(self, **changes: Any) -> DeblurConfig:
        """Return a copy with top-level fields or ``"part.field"`` entries changed.

        Examples
        --------
        >>> cfg = DeblurConfig.preset("paper").replace(**{"schedule.steps": 10})
        >>> cfg.schedule.steps
        10
        """
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            part, _, sub = key.partition(".")
            if sub:
                nested.setdefault(part, {})[sub] = value
            else:
                top[key] = value
        for part, subchanges in nested.items():
            current = top.get(part, getattr(self, part, None))
            if not dataclasses.is_dataclass(current):
                raise ConfigError(f"`{part}` is not a configuration section of DeblurConfig")
            names = {f.name for f in dataclasses.fields(current)}
            unknown = sorted(set(subchanges) - names)
            if unknown:
                raise ConfigError(f"`{part}` has no field(s) {unknown}; known: {sorted(names)}")
            top[part] = dataclasses.replace(current, **subchanges)
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(top) - names)
        if unknown:
            raise ConfigError(f"DeblurConfig has no field(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **top)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dictionary of every field (the provenance record)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeblurConfig:
        """Inverse of :meth:`to_dict`; unknown keys are rejected."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"DeblurConfig has no field(s) {unknown}")
        data = dict(data)
        if "image_net" in data and isinstance(data["image_net"], dict):
            data["image_net"] = ImageNetConfig(
                **{**data["image_net"], "widths": tuple(data["image_net"].get("widths", ()))}
            )
        return cls(**data)


def _paper() -> DeblurConfig:
    return DeblurConfig()


def _fast() -> DeblurConfig:
    # Measured on 128 x 128 camera-shake cases on 2 CPU cores (see the engine issue's note):
    # a 3-level U-Net without attention (the attention matrix grows as N^2 on CPU), a low
    # kernel learning rate, the gradient-weighted data term, which made the kernel estimate
    # markedly better, the kernel generator started near a centred Gaussian (from a random
    # near-flat start, one case in three locked onto an echo kernel and lost 9 dB), and the
    # kernel frozen over the last 40 % of the steps, where it otherwise drifts while the
    # image keeps improving. Its 1000 iterations are split as T = 20 outer steps of S = 50:
    # against T = 10 x S = 100 at the same cost, +0.77 +- 0.23 dB PSNR (standard error) over
    # 44 paired runs (8 + 8 spread Levin cases and 6 synthetic camera-shake cases, 128 x 128,
    # seeds 0 and 1), better in every family; T = 30 x S = 33 was no better (+0.1 dB), nor
    # were inner iterations ramped up towards the low noise levels (docs/benchmarks/README.md).
    return DeblurConfig(
        schedule=ScheduleConfig(steps=20, inner_steps=50),
        image_net=ImageNetConfig(widths=(8, 16, 32), attention_levels=0),
        kernel_net=KernelNetConfig(hidden=500, depth=1, init_width=0.15),
        lr=1e-2,
        kernel_lr_ratio=0.05,
        gradient_weight=8.0,
        kernel_freeze_fraction=0.4,
        # The 1000 iterations underfit images much larger than 128 x 128: RL-TV with the
        # estimated PSF returns the better image there (``restore`` above).
        restore="auto",
    )


def _tiny() -> DeblurConfig:
    return DeblurConfig(
        schedule=ScheduleConfig(steps=3, inner_steps=5),
        image_net=ImageNetConfig(widths=(8, 16), attention_levels=1),
        kernel_net=KernelNetConfig(hidden=64, depth=1),
        lr=1e-2,
        kernel_lr_ratio=0.25,
        progress_every=1,
    )


PRESETS = {"paper": _paper, "fast": _fast, "tiny": _tiny}

#: Default PSF side in pixels offered by the widget and the demo.
DEFAULT_KERNEL_SIZE = 15

#: Side of the reduced image's window the multiscale pipeline estimates the PSF on
#: (``deblur(scale=...)``, ``deblur --scale``, the widget's "PSF scale"): as large as the
#: crops the fast preset is measured on, so its cost is that of one such solve.
DEFAULT_PSF_WINDOW = 256

#: A multiscale factor, or "auto" (``napari_selfdiff.resolve_scale`` chooses).
Scale = int | Literal["auto"]

#: Pixels per plane per iteration of the schedule (``Y X / (T S)``) from which
#: ``restore="auto"`` returns Richardson-Lucy's image instead of the network's: between the
#: tie measured at 16 and RL-TV's gain at 23 (``DeblurConfig.restore``); 142 x 142 and up for
#: the fast preset's 1000 iterations.
RESTORE_BY_RL_FROM = 20

#: PSF size (px) from which ``"auto"`` estimates at half scale on any device: SelfDeblur's real
#: photos, blurred over 25-35 px, were not identified at full scale and were at half scale.
LONG_BLUR = 31

#: PSF size (px) from which ``"auto"`` estimates at half scale on the CPU: with the fast preset,
#: half scale matched full scale on the Levin 128 x 128 crops (13-27 px kernels) in a quarter of
#: the time and beat it by 1.6 / 2.1 dB (motion / optical) on the full 255 x 255 images in a third
#: of the time (``docs/benchmarks/README.md``). 13 px is the smallest kernel measured; below it
#: the reduced PSF would have 5 px or fewer, too few for its shape to survive the round trip.
CPU_HALF_SCALE_FROM = 13
