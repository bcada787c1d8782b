"""Frozen configuration dataclasses: the one source of defaults, and their validation.

Every default used by the engine, the CLI and the napari widgets lives here. The dataclasses
validate themselves in ``__post_init__`` with messages that name the field, the value and the
rule, and :meth:`DeblurConfig.to_dict` is the provenance written into TIFF and layer metadata.
Named presets are in :mod:`.presets`; how "auto" values are resolved for a run is in
:mod:`.policy`; the measurements behind the defaults are in ``docs/benchmarks/README.md``.

This module imports neither torch nor Qt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from napari_selfdiff.config.optics import OpticsConfig
from napari_selfdiff.config.sections import (
    ClassicConfig,
    ComputeConfig,
    ImageNetConfig,
    KernelNetConfig,
    PsfRefitConfig,
    ScheduleConfig,
    _choice,
    _count,
    _flag,
    _non_negative,
    _positive,
    _validate,
    _within,
)
from napari_selfdiff.config.stack3d import Stack3dConfig
from napari_selfdiff.errors import ConfigError

__all__ = [
    "DEFAULT_KERNEL_SIZE",
    "DEFAULT_PSF_WINDOW",
    "MAX_TV_WEIGHT",
    "PRESETS",
    "DeblurConfig",
    "default_config",
    "default_preset_name",
    "preset",
    "preset_name",
]


#: Largest total-variation weight of a Richardson-Lucy restoration: ``div(grad x / |grad x|)``
#: lies in [-4, 4], so the RL-TV denominator ``1 - weight div`` stays >= 0.8 (Dey et al. 2006).
MAX_TV_WEIGHT = 0.05

StackMode = Literal["per-plane", "shared", "shared-channels", "3d"]
Restore = Literal["network", "richardson_lucy", "tv", "auto"]
Method = Literal["auto", "classic", "classic+selfdiff", "selfdiff"]


@dataclass(frozen=True)
class DeblurConfig:
    """Every parameter of the blind self-diffusion solver (DeblurSDI).

    Parameters
    ----------
    classic : ClassicConfig
        The classic blind PSF estimate and the guard of the default pipeline.
    schedule, image_net, kernel_net : ScheduleConfig, ImageNetConfig, KernelNetConfig
        Outer noise schedule (T, S, betas, mu), U-Net image denoiser, kernel generator.
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
        plain sum of squares); see :func:`napari_selfdiff.blind.selfdiff.losses.data_fidelity`.
    kernel_freeze_fraction : float
        Fraction of the last outer steps in which the kernel generator is frozen (0 keeps
        it learning to the end, as the paper does).
    stack_mode : {"per-plane", "shared", "shared-channels", "3d"}
        For (Z, Y, X) stacks: one PSF per plane, or one PSF shared by all planes, the planes
        going through one image network as a batch (``"shared"``, cost grows with Z) or as the
        channels of one input (``"shared-channels"``, about the cost of one plane, coarser);
        ``"3d"``: one 3D PSF (Kz, K, K) for the stack, out-of-focus light included, the stack
        restored by 3D Richardson-Lucy (``kernel_size=(kz, k, k)``; section ``stack3d``).
    method : {"auto", "classic", "classic+selfdiff", "selfdiff"}
        How the PSF is estimated: ``"selfdiff"``, the two networks of the paper trained in the
        reverse-diffusion schedule; ``"classic"``, a classic blind estimate (``classic``
        section, seconds); ``"classic+selfdiff"``, the classic estimate and self-diffusion for
        the plane groups the guard does not trust; ``"auto"``: the run plan decides
        (:func:`napari_selfdiff.plan.policy.resolve_method`).
    restore : {"network", "richardson_lucy", "tv", "auto"}
        How the returned image is made: the image network's output (the paper; self-diffusion
        at full scale only), Richardson-Lucy on the blurred input with the estimated PSF
        (RL-TV, fixed weight), ``"tv"``: noise-aware TV deconvolution whose data term and
        weight follow the noise model (:mod:`napari_selfdiff.restoration.noise_aware`), or
        ``"auto"``: the run plan decides (:func:`napari_selfdiff.plan.policy.resolve_restore`).
    guard : bool
        Do no harm: with ``restore="tv"``, a plane group whose PSF does not agree with an
        independent estimate is denoised only, not deconvolved
        (:mod:`napari_selfdiff.blind.guarded`).
    restore_iterations : int
        Richardson-Lucy iterations of that restoration.
    restore_tv_weight : float
        Weight of its total-variation term (RL-TV, Dey et al. 2006; 0: plain Richardson-Lucy;
        at most 0.05, so the update's denominator stays positive).
    optics : OpticsConfig
        NA, wavelength, pixel size and immersion index, for the Zernike PSF model.
    psf_refit : PsfRefitConfig
        Full-resolution refit of a PSF estimated at reduced scale, before the restoration.
    progress_every : int
        Inner iterations between progress events (events imply a host synchronisation).
    compute : ComputeConfig
        Precision, memory layout, compilation and batching (speed, not the algorithm).
    stack3d : Stack3dConfig
        Voxel size and PSF prior of ``stack_mode="3d"``.
    """

    classic: ClassicConfig = field(default_factory=ClassicConfig)
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
    method: Method = "auto"
    restore: Restore = "network"
    guard: bool = True
    restore_iterations: int = 60
    restore_tv_weight: float = 0.002
    optics: OpticsConfig = field(default_factory=OpticsConfig)
    psf_refit: PsfRefitConfig = field(default_factory=PsfRefitConfig)
    progress_every: int = 10
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    stack3d: Stack3dConfig = field(default_factory=Stack3dConfig)

    def __post_init__(self) -> None:
        for name, cls in (
            ("classic", ClassicConfig),
            ("schedule", ScheduleConfig),
            ("image_net", ImageNetConfig),
            ("kernel_net", KernelNetConfig),
            ("compute", ComputeConfig),
            ("psf_refit", PsfRefitConfig),
            ("optics", OpticsConfig),
            ("stack3d", Stack3dConfig),
        ):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, cls(**value))
            elif not isinstance(value, cls):
                raise ConfigError(f"`{name}` must be a {cls.__name__}, got {value!r}")
        _validate(
            self,
            [
                _positive("lr"),
                _positive("kernel_lr_ratio"),
                _non_negative("kernel_sparsity"),
                _within("sparsity_p", 0, 1, "()"),
                _non_negative("gradient_weight"),
                _within("kernel_freeze_fraction", 0, 1, "[)"),
                _choice("stack_mode", get_args(StackMode)),
                _choice("method", get_args(Method)),
                _choice("restore", get_args(Restore)),
                _flag("guard"),
                _count("restore_iterations"),
                _within("restore_tv_weight", 0, MAX_TV_WEIGHT, "[]"),
                _count("progress_every"),
            ],
        )
        if self.method == "classic" and self.kernel_net.model == "zernike":
            raise ConfigError(
                "the Zernike PSF model (`kernel_net.model`) belongs to self-diffusion: "
                "use `method` 'selfdiff' or 'auto' with it, or the free model with 'classic'"
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
        return preset(name)

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

    def to_dict(self, *, network: bool = True) -> dict[str, Any]:
        """Plain nested dictionary of the fields (the provenance record).

        ``network=False`` leaves out what only a network or a device uses (a run that ran on
        NumPy alone records the settings it used, not self-diffusion's).
        """
        record = dataclasses.asdict(self)
        if not network:
            for name in NETWORK_FIELDS:
                record.pop(name)
        return record

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeblurConfig:
        """Inverse of :meth:`to_dict` (fields it left out take their defaults); unknown keys are rejected."""
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


#: The fields only self-diffusion, RL-TV on a device or the 3D mode read.
NETWORK_FIELDS = (
    "schedule", "image_net", "kernel_net", "lr", "kernel_lr_ratio", "kernel_sparsity", "sparsity_p",
    "gradient_weight", "kernel_freeze_fraction", "restore_iterations", "restore_tv_weight", "optics",
    "psf_refit", "progress_every", "compute", "stack3d",
)  # fmt: skip

#: Default PSF side in pixels offered by the widget and the demo.
DEFAULT_KERNEL_SIZE = 15

#: Side of the reduced image's window a reduced-scale run estimates the PSF on (``psf_window``).
DEFAULT_PSF_WINDOW = 256

#: A multiscale factor, or "auto" (``napari_selfdiff.resolve_scale`` chooses).
Scale = int | Literal["auto"]


def _paper() -> DeblurConfig:
    return DeblurConfig()


def _fast() -> DeblurConfig:
    # A 3-level U-Net without attention, a low kernel learning rate, the gradient-weighted
    # data term, a kernel generator started near a centred Gaussian, the kernel frozen over the
    # last 40 % of the steps, T = 20 x S = 50, and restore="auto" (the noise-aware TV with the
    # estimated PSF): each choice measured in docs/benchmarks/README.md and
    # docs/benchmarks/validation/README.md.
    return DeblurConfig(
        schedule=ScheduleConfig(steps=20, inner_steps=50),
        image_net=ImageNetConfig(widths=(8, 16, 32), attention_levels=0),
        kernel_net=KernelNetConfig(hidden=500, depth=1, init_width=0.15),
        lr=1e-2,
        kernel_lr_ratio=0.05,
        gradient_weight=8.0,
        kernel_freeze_fraction=0.4,
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


def preset(name: str) -> DeblurConfig:
    """The preset called ``name`` (``"paper"``, ``"fast"`` or ``"tiny"``)."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ConfigError(f"`preset` must be one of {sorted(PRESETS)}, got {name!r}") from None
    return factory()


def default_preset_name(device: Any) -> str:
    """``"paper"`` on a CUDA GPU, ``"fast"`` elsewhere (the paper preset takes hours on a CPU).

    ``device`` is a ``torch.device`` or its type as a string (``"cuda"``, ``"cpu"``, ``"mps"``).
    """
    kind = getattr(device, "type", device)
    return "paper" if kind == "cuda" else "fast"


def default_config(device: Any) -> DeblurConfig:
    """The default preset for ``device`` (:func:`default_preset_name`)."""
    return preset(default_preset_name(device))


def preset_name(config: DeblurConfig) -> str | None:
    """The name of the preset ``config`` equals, or None for a configuration of its own."""
    return next((name for name, factory in PRESETS.items() if factory() == config), None)
