"""Every "auto" of a run, resolved once into a :class:`RunPlan`.

A run asks this module, and only this module, how to proceed: which preset when none is
given (:mod:`napari_selfdiff.config.deblur`), at which scale to estimate the PSF
(:func:`auto_scale`, :func:`check_reduced`), how the image is restored, how many plane groups
to batch, and the tile size when a run is retried in tiles. The thresholds below come from
measurements (``docs/benchmarks/README.md``); no other module knows them. The CLI prints
:meth:`RunPlan.describe` before starting, batch records it, the widget shows it under Run.
The 3D decisions live beside it in :mod:`napari_selfdiff.plan.stack3d`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from napari_selfdiff.config import DEFAULT_PSF_WINDOW, DeblurConfig, Scale, default_config, preset_name
from napari_selfdiff.errors import InputError, OutOfMemory
from napari_selfdiff.inputs import Problem, check_scale, make_problem, plane_groups
from napari_selfdiff.plan.stack3d import describe_3d, offered_stack_modes, plan_3d, voxel_size
from napari_selfdiff.resources import free_memory, resolve_device

if TYPE_CHECKING:
    import torch

__all__ = [
    "CPU_HALF_SCALE_FROM",
    "DEFAULT_PSF_WINDOW",
    "LONG_BLUR",
    "RunPlan",
    "RunRequest",
    "auto_scale",
    "check_reduced",
    "offered_stack_modes",
    "plan_run",
    "resolve_method",
    "resolve_restore",
    "resolve_scale",
    "tile_for",
    "voxel_size",
]


#: PSF size (px) from which ``scale="auto"`` estimates at half scale on any device.
LONG_BLUR = 31

#: PSF size (px) from which ``scale="auto"`` estimates at half scale on the CPU.
CPU_HALF_SCALE_FROM = 13


def auto_scale(shape: tuple[int, int], n_groups: int, kernel_size: int, device: torch.device) -> int:
    """2 when one PSF is estimated, the half-scale image holds it and the blur is long enough."""
    from napari_selfdiff.blind.selfdiff.multiscale import reduced_kernel_size

    one_psf = n_groups == 1
    reduced = reduced_kernel_size(kernel_size, 2)
    fits = 2 * reduced <= min(shape) // 2 and 4 * reduced <= DEFAULT_PSF_WINDOW
    wanted = kernel_size >= LONG_BLUR or (device.type == "cpu" and kernel_size >= CPU_HALF_SCALE_FROM)
    return 2 if one_psf and fits and wanted else 1


def check_reduced(
    height: int, width: int, kernel_size: int, factor: int, reduced: int, psf_window: Any, n_groups: int
) -> None:
    if n_groups != 1:
        raise InputError(
            "a reduced-scale run estimates one PSF: solve a stack with "
            "`stack_mode` 'shared' or 'shared-channels', or its planes one at a time"
        )
    if psf_window is not None and (
        isinstance(psf_window, bool)
        or not isinstance(psf_window, (int, np.integer))
        or psf_window < 4 * reduced
    ):
        raise InputError(
            f"`psf_window` must be an integer >= {4 * reduced} (four reduced kernels), got {psf_window!r}"
        )
    rows, cols = height // factor, width // factor
    if psf_window is not None:
        rows, cols = min(rows, int(psf_window)), min(cols, int(psf_window))
    if 2 * reduced > min(rows, cols):
        raise InputError(
            f"at 1/{factor} scale the {kernel_size} px PSF is {reduced} px, too large for the "
            f"{rows} x {cols} region it is estimated on (at least twice the kernel is needed): "
            "use a smaller `scale` or a larger `psf_window`"
        )


#: Share of the free memory a tile may use: the host is shared and its overshoot is fatal.
TILE_BUDGET = {"cuda": 0.9, "other": 0.5}

Restore = Literal["network", "richardson_lucy", "tv"]
#: How a run estimates its PSF, the same words in the plan, the result and the provenance:
#: the classic estimate alone; the classic estimate and self-diffusion for the plane groups the
#: guard does not trust (the result says "classic" when none needed it); self-diffusion (2D);
#: self-diffusion of one 3D PSF for a z-stack; the physical fit of the pupil of one 3D PSF
#: for a z-stack of a known microscope (no network).
Method = Literal["classic", "classic+selfdiff", "selfdiff", "selfdiff-3d", "pupil-3d"]


def resolve_method(config: DeblurConfig) -> Method:
    """How the PSF is estimated: ``config.method``; for ``"auto"``, the classic estimate.

    ``"auto"`` is ``"classic"``: the classic estimate (``config.classic``, seconds) under the
    do-no-harm guard, which restores a group whose PSF it does not trust without
    deconvolution. Self-diffusion is an explicit method (``"selfdiff"``, or
    ``"classic+selfdiff"``: self-diffusion for the groups the guard does not trust): it has
    not won a regime the plan can detect (``docs/benchmarks/validation/README.md``: in the
    previous default the cascade added nothing measurable and cost minutes). With the
    Zernike kernel model (``kernel_net.model="zernike"``) "auto" is self-diffusion: the
    classic estimate has no pupil to report.
    """
    if config.method != "auto":
        return config.method
    if config.kernel_net.model == "zernike":
        return "selfdiff"
    return "classic"


def resolve_restore(config: DeblurConfig, height: int, width: int, method: Method = "selfdiff") -> Restore:
    """How a full-scale run of ``config`` on planes of ``height`` x ``width`` makes its image.

    ``config.restore``, or for ``"auto"``: the noise-aware ``"tv"`` restoration (it beat the
    network's image and RL-TV with the same self-diffusion PSFs in every noise group of the
    validation tuning half). A classic PSF estimate has no network image: ``"network"`` is
    then replaced by ``"tv"``.
    """
    restore = "tv" if config.restore == "auto" else config.restore
    if method != "selfdiff" and restore == "network":
        return "tv"
    return restore


@dataclass(frozen=True)
class RunRequest:
    """What the caller asked :func:`plan_run` for: a cascade plans self-diffusion from it when needed."""

    config: DeblurConfig | None
    scale: Scale
    psf_window: int | None
    device: Any
    on_out_of_memory: Literal["raise", "tile"]


@dataclass(frozen=True)
class RunPlan:
    """Everything a run decided before starting; :meth:`describe` says it in one line.

    ``device`` is None for a plan that runs on NumPy on the host (the classic estimate and
    the noise-aware restoration): such a plan loads no torch. In the cascade
    (``method="classic+selfdiff"``) the self-diffusion part is planned when the guard asks for
    it (:meth:`fallback`).
    """

    config: DeblurConfig
    preset: str | None
    device: torch.device | None
    kernel_size: int
    shape: tuple[int, int]
    n_groups: int
    factor: int
    reduced_size: int
    psf_window: int | None
    restore: Restore
    batch_planes: int
    method: Method = "selfdiff"
    on_out_of_memory: Literal["raise", "tile"] = "raise"
    kernel_shape: tuple[int, int, int] | None = None
    depth: int = 1
    request: RunRequest | None = None

    def fallback(self) -> RunPlan:
        """The plan of the cascade's self-diffusion part (resolves the device: imports torch)."""
        if self.method != "classic+selfdiff" or self.request is None:
            raise ValueError(f"only a 'classic+selfdiff' plan has a fallback, this one is {self.method!r}")
        return _network_plan(self.request, self.shape, self.n_groups, self.kernel_size, self.method)

    def window(self) -> tuple[int, int]:
        """Side of the (reduced) image the PSF is estimated on."""
        height, width = (n // self.factor for n in self.shape)
        if self.psf_window is None:
            return height, width
        return min(height, self.psf_window), min(width, self.psf_window)

    def describe(self) -> str:
        """One line: where the PSF is estimated, the preset, the restoration and the device."""
        restore = self._describe_restore()
        if self.method in ("selfdiff-3d", "pupil-3d"):
            return describe_3d(self)
        if self.method != "selfdiff":
            name = {"tv": "TV", "l0": "L0"}[self.config.classic.estimator]
            where = f"PSF by classic blind estimate ({name}, coarse to fine), {self.kernel_size} px"
            if self.n_groups > 1:
                where += f" ({self.n_groups} PSFs)"
            if self.method == "classic+selfdiff":
                where += ", self-diffusion where it is not reliable"
            return f"{where}; {restore}; {self.device_name}"
        if self.factor == 1:
            where = f"PSF at full scale on {self.shape[0]}x{self.shape[1]}, {self.kernel_size} px"
            if self.config.kernel_net.model == "zernike":
                last = self.config.kernel_net.zernike_modes
                where += f", Zernike pupil model (Noll 4-{last}, {self._sampling()})"
        else:
            scale = "half scale" if self.factor == 2 else f"1/{self.factor} scale"
            height, width = self.window()
            where = f"PSF at {scale} on a {height}x{width} window, {self.reduced_size} px"
        if self.n_groups > 1:
            where += f" ({self.n_groups} PSFs)"
        preset = f"{self.preset} preset" if self.preset else "custom settings"
        if self.factor > 1 and self.config.psf_refit.enabled:
            restore = f"PSF refit, {restore}"
        tiles = "; tiles if out of memory" if self.on_out_of_memory == "tile" else ""
        return f"{where}; self-diffusion, {preset}; {restore}; {self.device_name}{tiles}"

    def _sampling(self) -> str:
        optics = self.config.optics
        if not optics.known:
            return "pupil sampling estimated"
        return f"NA {optics.na:g}, {optics.wavelength * 1000:g} nm, {optics.pixel_size * 1000:g} nm pixels"

    def _describe_restore(self) -> str:
        if self.restore == "network":
            return "restore by the network"
        if self.restore == "richardson_lucy":
            return f"restore RL-TV {self.config.restore_iterations} it."
        guard = ", do-no-harm guard" if self.config.guard else ""
        return f"restore noise-aware TV{guard}"

    def to_dict(self) -> dict[str, Any]:
        """The decisions, for provenance (the config itself is recorded on its own)."""
        skip = ("config", "request")
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        return {**fields, "device": self.device_name, "describe": self.describe()}

    @property
    def device_name(self) -> str:
        """``"cpu"``, ``"cuda"``, ...; ``"numpy"`` for a plan that runs on NumPy on the host."""
        return "numpy" if self.device is None else str(self.device)


def plan_run(
    problem: Problem,
    config: DeblurConfig | None = None,
    *,
    scale: Scale = "auto",
    psf_window: int | None = DEFAULT_PSF_WINDOW,
    device: str | torch.device | None = None,
    on_out_of_memory: Literal["raise", "tile"] = "raise",
    z_step: float | None = None,
    pixel_size: float | None = None,
) -> RunPlan:
    """Resolve every "auto" of a blind run of ``problem`` once (see the module).

    ``z_step`` and ``pixel_size`` (um), when given, set ``config.stack3d``'s voxel size for
    ``stack_mode="3d"`` (e.g. from the file's or the layer's scale).

    Raises
    ------
    InputError
        A bad ``scale``, ``psf_window`` or ``on_out_of_memory``, a reduced scale the image or
        the stack mode cannot take, or a kernel size that does not match the stack mode.
    """
    scale = check_scale(scale)
    if on_out_of_memory not in ("raise", "tile"):
        raise InputError(f"`on_out_of_memory` must be 'raise' or 'tile', got {on_out_of_memory!r}")
    voxel = {"stack3d.z_step_um": z_step, "stack3d.pixel_size_um": pixel_size}
    voxel = {key: value for key, value in voxel.items() if value is not None}
    given = config.replace(**voxel) if config is not None else None
    request = RunRequest(given, scale, psf_window, device, on_out_of_memory)
    # The device's preset differs from the dataclass defaults only in self-diffusion's sections.
    base = given if given is not None else DeblurConfig().replace(**voxel)
    if (base.stack_mode == "3d") != isinstance(problem.kernel_size, tuple):
        raise InputError(
            "`stack_mode`='3d' and a 3D `kernel_size` (kz, k, k) go together: got stack_mode="
            f"{base.stack_mode!r} with kernel_size={problem.kernel_size!r}"
        )
    if base.stack_mode == "3d":
        torch_device = resolve_device(device)
        config = given if given is not None else default_config(torch_device).replace(**voxel)
        return RunPlan(**plan_3d(problem, config, torch_device, scale, on_out_of_memory))
    layout, kernel_size = problem.layout, problem.kernel_size
    shape = (layout.height, layout.width)
    n_groups = len(plane_groups(problem.planes.shape[0], base))
    method = resolve_method(base)
    if method == "selfdiff" or resolve_restore(base, *shape, method) != "tv":
        return _network_plan(request, shape, n_groups, kernel_size, method)
    if scale not in ("auto", 1):  # checked now, though only self-diffusion would use it
        _reduced_size(shape, kernel_size, scale, psf_window, n_groups)
    return RunPlan(
        config=base,
        preset=preset_name(base) if given is not None else None,
        device=None,
        kernel_size=kernel_size,
        shape=shape,
        n_groups=n_groups,
        factor=1,  # the classic estimate works at full resolution (seconds)
        reduced_size=kernel_size,
        psf_window=None,
        restore="tv",
        batch_planes=1,
        on_out_of_memory=on_out_of_memory,
        method=method,
        request=request,
    )


def _reduced_size(
    shape: tuple[int, int], kernel_size: int, factor: int, psf_window: Any, n_groups: int
) -> int:
    """The PSF's side at 1/``factor`` scale, checked against the region it is estimated on."""
    from napari_selfdiff.blind.selfdiff.multiscale import reduced_kernel_size

    reduced = reduced_kernel_size(kernel_size, factor)
    check_reduced(*shape, kernel_size, factor, reduced, psf_window, n_groups)
    return reduced


def _network_plan(
    request: RunRequest, shape: tuple[int, int], n_groups: int, kernel_size: int, method: Method
) -> RunPlan:
    """The plan of a run that needs torch: self-diffusion, or an RL-TV restoration on a device."""
    from napari_selfdiff.blind.selfdiff.compute import batch_planes

    torch_device = resolve_device(request.device)
    config = request.config if request.config is not None else default_config(torch_device)
    scale, on_out_of_memory = request.scale, request.on_out_of_memory
    if on_out_of_memory == "tile":
        if scale not in ("auto", 1):
            raise InputError(
                "`scale` must be 1 or 'auto' with tiling on out-of-memory, which needs the "
                f"full-resolution run; got {scale}"
            )
        factor = 1
    else:
        factor = auto_scale(shape, n_groups, kernel_size, torch_device) if scale == "auto" else scale
    if config.kernel_net.model == "zernike" and method != "classic":
        if scale not in ("auto", 1):
            raise InputError(
                f"the Zernike PSF model estimates the pupil at full scale: `scale` must be 1, got {scale}"
            )
        factor = 1  # the pupil's sampling is that of the image's own pixels
    if method == "classic":
        factor = 1  # the classic estimate works at full resolution (seconds)
    reduced = (
        _reduced_size(shape, kernel_size, factor, request.psf_window, n_groups) if factor > 1 else kernel_size
    )
    restore = resolve_restore(config, *shape, method)
    if factor > 1 and restore == "network":
        restore = "richardson_lucy"  # a reduced-scale run has no full-resolution network image
    return RunPlan(
        config=config,
        preset=preset_name(config),
        device=torch_device,
        kernel_size=kernel_size,
        shape=shape,
        n_groups=n_groups,
        factor=factor,
        reduced_size=reduced,
        psf_window=request.psf_window if factor > 1 else None,
        restore=restore,
        batch_planes=batch_planes(config.compute, torch_device),
        on_out_of_memory=on_out_of_memory,
        method=method,
        request=request,
    )


def tile_for(planes: np.ndarray, plan: RunPlan, below: int) -> int:
    """Largest tile side smaller than ``below`` whose solve fits.

    The budget is a share of the device's free memory (:data:`TILE_BUDGET`); where free memory
    cannot be read, half of what the whole image needed.
    """
    from napari_selfdiff.blind.selfdiff.memory import estimate_bytes
    from napari_selfdiff.blind.selfdiff.planes import network_input
    from napari_selfdiff.blind.selfdiff.tiling import choose_tile

    config, kernel_size, device = plan.config, plan.kernel_size, plan.device
    batch, channels, height, width = network_input(planes[plane_groups(len(planes), config)[0]], config).shape
    free = free_memory(device)
    if free is not None:
        budget = TILE_BUDGET["cuda" if device.type == "cuda" else "other"] * free
    else:
        budget = 0.5 * estimate_bytes(batch, channels, height, width, kernel_size, config)

    def fits(tile: int) -> bool:
        return estimate_bytes(batch, channels, tile, tile, kernel_size, config) <= budget

    try:
        return choose_tile(below, kernel_size, fits)
    except ValueError as error:
        raise OutOfMemory(f"cannot tile this run: {error}") from None


def resolve_scale(
    scale: Scale,
    image: np.ndarray,
    kernel_size: int,
    config: DeblurConfig | None = None,
    *,
    device: str | torch.device | None = None,
    axes: str | None = None,
    nan_policy: Literal["raise", "replace"] = "raise",
) -> int:
    """The integer factor a run with ``scale`` uses (:func:`plan_run`'s ``factor``).

    ``"auto"`` gives 2 when the run estimates one PSF (a single image, or a stack in a "shared"
    stack mode), the half-scale image holds at least twice the reduced PSF, and either the PSF
    is long (:data:`._policy_scale.LONG_BLUR`) or the run is on the CPU and the PSF is at least
    :data:`._policy_scale.CPU_HALF_SCALE_FROM`; otherwise 1.
    """
    problem = make_problem(image, kernel_size, axes, nan_policy=nan_policy)
    scale = check_scale(scale)
    if scale != "auto" and scale > 1:
        return scale
    plan = plan_run(problem, config, scale=scale, device=device)
    return (
        plan.fallback().factor if plan.device is None and plan.method == "classic+selfdiff" else plan.factor
    )
