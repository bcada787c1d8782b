"""The sections of :class:`~napari_selfdiff.config.deblur.DeblurConfig`.

Frozen dataclasses that validate themselves in ``__post_init__`` with messages naming the field,
the value and the rule. Import them from :mod:`napari_selfdiff.config.deblur`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from napari_selfdiff.config.rules import (
    _choice,
    _count,
    _flag,
    _is_int,
    _is_number,
    _non_negative,
    _positive,
    _validate,
    _within,
)

__all__ = ["ComputeConfig", "ImageNetConfig", "KernelNetConfig", "PsfRefitConfig", "ScheduleConfig"]

KernelMode = Literal["diffusion", "standard"]
KernelModel = Literal["free", "zernike"]
Precision = Literal["auto", "float32", "tf32", "bfloat16"]
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune-no-cudagraphs"]


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
    """

    steps: int = 30
    inner_steps: int = 200
    beta_start: float = 1e-4
    beta_end: float = 2e-2
    kernel_noise_scale: float = 0.15

    def __post_init__(self) -> None:
        start = self.beta_start
        _validate(
            self,
            [
                _count("steps"),
                _count("inner_steps"),
                _within("beta_start", 0, 1, "()"),
                (
                    "beta_end",
                    lambda v: _is_number(v) and start <= v < 1,
                    f"a number in [beta_start={start}, 1)",
                ),
                _non_negative("kernel_noise_scale"),
            ],
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
        levels = len(widths)
        _validate(
            self,
            [
                ("widths", lambda v: 1 <= len(v) <= 6 and all(_is_int(w) and w >= 1 for w in v),
                 "1 to 6 positive integers"),
                ("attention_levels", lambda v: _is_int(v) and 0 <= v <= levels,
                 f"an integer in [0, {levels}] (the number of levels)"),
            ],
        )  # fmt: skip


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
    model : {"free", "zernike"}
        ``"free"``: any non-negative unit-sum K x K kernel (a softmax, the paper).
        ``"zernike"``: an optical PSF ``|F{pupil}|^2`` whose phase is a sum of Zernike terms
        (Noll 4 to ``zernike_modes``) output by the generator (:mod:`..engine.nets.pupil_generator`);
        the aberrations found are reported with the result.
    zernike_modes : int
        Highest Noll index of the Zernike model (4..36; 15, to quadrafoil, by default).
    """

    hidden: int = 1000
    depth: int = 1
    mode: KernelMode = "diffusion"
    init_width: float = 0.0
    model: KernelModel = "free"
    zernike_modes: int = 15

    def __post_init__(self) -> None:
        _validate(
            self,
            [
                _count("hidden"),
                ("depth", lambda v: _is_int(v) and 1 <= v <= 8, "an integer in [1, 8]"),
                _within("init_width", 0, 1, "[]"),
                _choice("mode", get_args(KernelMode)),
                _choice("model", get_args(KernelModel)),
                ("zernike_modes", lambda v: _is_int(v) and 4 <= v <= 36, "an integer in [4, 36]"),
            ],
        )


@dataclass(frozen=True)
class ComputeConfig:
    """How the arithmetic is executed: it changes speed, not the algorithm.

    :meth:`reference` is the paper-faithful path (eager, strict float32); the defaults are the
    optimised path. Every option except ``precision`` acts on CUDA devices only.

    Parameters
    ----------
    precision : {"auto", "float32", "tf32", "bfloat16"}
        Arithmetic of the image U-Net: ``"bfloat16"`` runs its convolutions under autocast
        (the kernel generator, the blur and the loss stay in float32); ``"tf32"`` lets float32
        products use TF32 tensor cores; ``"float32"`` forbids TF32; ``"auto"``: TF32 where the
        GPU has it, float32 elsewhere.
    channels_last : bool
        Store the U-Net's feature maps in NHWC order, the layout of the tensor-core kernels.
    compile : {"off", "default", "reduce-overhead", "max-autotune-no-cudagraphs"}
        ``torch.compile`` mode for the image U-Net; costs tens of seconds once per run shape.
    fused_optimizer : bool
        Adam as one fused CUDA kernel per step instead of one launch per tensor.
    cudnn_benchmark : bool
        Let cuDNN time its convolution algorithms once per shape and keep the fastest.
    cuda_graph : bool
        Capture one whole inner iteration as a CUDA graph and replay it.
    batch_planes : int or "auto"
        Plane groups of a stack solved together in one batched call (``torch.vmap``), halved
        until they fit in memory; results match plane-by-plane runs up to rounding. "auto":
        resolved for the device by the run plan.
    """

    precision: Precision = "auto"
    channels_last: bool = False
    compile: CompileMode = "off"
    fused_optimizer: bool = True
    cudnn_benchmark: bool = True
    cuda_graph: bool = True
    batch_planes: int | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        graphs = self.cuda_graph
        _validate(
            self,
            [
                _choice("precision", get_args(Precision)),
                _choice("compile", get_args(CompileMode)),
                *map(_flag, ("channels_last", "fused_optimizer", "cudnn_benchmark", "cuda_graph")),
                ("batch_planes", lambda v: v == "auto" or (_is_int(v) and v >= 1),
                 "'auto' or an integer >= 1"),
                ("compile", lambda v: not (graphs and v == "reduce-overhead"),
                 "other than 'reduce-overhead' when cuda_graph=True (both capture CUDA graphs)"),
            ],
        )  # fmt: skip

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

        Compiling costs about a minute once per image shape and process (and needs a C
        compiler), so it pays for three or more images of one shape.
        """
        return cls(precision="bfloat16", channels_last=True, compile="default")


@dataclass(frozen=True)
class PsfRefitConfig:
    """Refit of a PSF estimated at reduced scale, at full resolution, before the restoration.

    The estimation window is restored with the upscaled PSF (RL-TV) and the kernel refitted to
    the full-resolution observation on the strongest gradients of that restoration, pulled
    towards the upscaled kernel (:mod:`napari_selfdiff.blind.refit`). It recovers detail
    finer than the reduction factor.

    Parameters
    ----------
    enabled : bool
        Refit (True) or restore with the upscaled PSF as it is.
    prior_weight : float
        Pull towards the upscaled PSF, relative to the energy of the selected gradients; > 0.
    edge_fraction : float
        Fraction of the restoration's gradients, the largest, the kernel is fitted on, in (0, 1].
    floor : float
        Taps below this fraction of the largest are set to zero after the fit, in [0, 1).
    reference_area : int
        Pixels per plane of the window from which ``prior_weight`` and ``edge_fraction`` apply
        as given; a smaller window multiplies both by ``sqrt(reference_area / area)``; >= 1.
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
        _validate(
            self,
            [
                _flag("enabled"),
                _positive("prior_weight"),
                _within("edge_fraction", 0, 1, "(]"),
                _within("floor", 0, 1, "[)"),
                _count("reference_area"),
                _count("iterations"),
            ],
        )


#: Classic blind PSF estimators (:mod:`napari_selfdiff.blind.l0`, :mod:`napari_selfdiff.blind.tv`).
ClassicEstimator = Literal["l0", "tv"]
#: The guard's second opinion: the same estimator in a wider box, or the other estimator.
SecondOpinion = Literal["wider", "other"]


@dataclass(frozen=True)
class ClassicConfig:
    """The classic blind PSF estimate and the do-no-harm guard of the default pipeline.

    The PSF is estimated by the L0-gradient alternating minimisation (:mod:`napari_selfdiff.blind.l0`)
    or the total-variation one (:mod:`napari_selfdiff.blind.tv`), coarse to fine; the guard
    compares it with a second opinion (:mod:`napari_selfdiff.blind.guarded`).

    Parameters
    ----------
    estimator : {"l0", "tv"}
        The estimator whose PSF restores the image.
    second_opinion : {"wider", "other"}
        The guard's reference: the same estimator in a box ``second_opinion_margin`` px wider,
        or the other estimator in the same box (an independent method: it does not share the
        first one's mistakes).
    iterations : int or None
        Iterations per pyramid level; None: the estimator's own (8 for L0, 300 for TV).
    levels : int or None
        Pyramid levels (ratio sqrt 2); None: enough for a coarsest kernel of about 5 px.
    reliable_from : float
        The guard trusts a PSF whose agreement (MNC) with the second opinion is at least this,
        in (0, 1].
    second_opinion_margin : int
        With ``second_opinion="wider"``: how many pixels wider its box is (as the image allows).
    """

    # Chosen on the validation v2 (docs/benchmarks/validation/README.md): TV beat L0 by +1.4 dB
    # (tuning) and +1.2 dB (check) restored the same way; the independent second opinion at
    # 0.7 removed every case below -0.5 dB of the check half.
    estimator: ClassicEstimator = "tv"
    second_opinion: SecondOpinion = "other"
    iterations: int | None = None
    levels: int | None = None
    reliable_from: float = 0.7
    second_opinion_margin: int = 10

    def __post_init__(self) -> None:
        rules = [
            _choice("estimator", get_args(ClassicEstimator)),
            _choice("second_opinion", get_args(SecondOpinion)),
            _within("reliable_from", 0, 1, "(]"),
            _count("second_opinion_margin"),
        ]
        rules += [_count(name) for name in ("iterations", "levels") if getattr(self, name) is not None]
        _validate(self, rules)
