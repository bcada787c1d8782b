"""The decisions of a 3D run (``stack_mode="3d"``), for :mod:`.policy` (which re-exports them).

Kept apart only to keep :mod:`.policy` short; no caller imports this module but the policy.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from napari_selfdiff.config import PRESETS, DeblurConfig
from napari_selfdiff.errors import InputError
from napari_selfdiff.inputs import Problem

if TYPE_CHECKING:
    import torch

__all__ = ["auto_3d", "describe_3d", "kernel_3d", "method_3d", "offered_stack_modes", "plan_3d", "voxel_size"]


def offered_stack_modes(axes: str, z_step: float | None, optics_known: bool = False) -> tuple[str, ...]:
    """The stack modes to offer for an image of ``axes``, the default first.

    A (Z, Y, X) stack gets the 2D modes, and ``"3d"`` when its z step is known (the 3D PSF
    needs the voxel aspect). ``"3d"`` comes first when the microscope is known too (NA,
    wavelength, pixel size): its physical pupil fit (``method`` "pupil-3d") beat per-plane 2D
    and RL with the nominal PSF on the z-stack benchmark (``docs/benchmarks/zstacks.md``).
    Without the optics the 3D PSF is self-diffusion's free one, which did not
    (``docs/benchmarks/stacks.md``), and per-plane stays the default.
    """
    if axes != "ZYX":
        return ()
    modes = ("per-plane", "shared", "shared-channels")
    if z_step is None:
        return modes
    return ("3d", *modes) if optics_known else (*modes, "3d")


def solver_preset(config: DeblurConfig) -> str | None:
    """The preset whose solver settings ``config`` has, or None for settings of its own.

    The stack mode, the voxel size, the optics, the method and the PSF model are the run's, not
    the preset's: the fast preset in the 3D mode with a Zernike PSF is still the fast preset.
    """
    for name, factory in PRESETS.items():
        base = factory()
        same = config.replace(
            stack_mode=base.stack_mode, optics=base.optics, method=base.method,
            stack3d=dataclasses.replace(config.stack3d, z_step_um=None, pixel_size_um=None),
            **{"kernel_net.model": base.kernel_net.model},
        )  # fmt: skip
        if same == base:
            return name
    return None


def kernel_3d(kernel_size: int, optics: Any, z_step: float, depth: int) -> tuple[int, int, int]:
    """The (Kz, K, K) box of a 3D run asked with a lateral size K alone (the optics known).

    Kz covers two axial FWHM of the widefield PSF either side of focus,
    ``FWHM_z = 0.88 lambda / (n - sqrt(n^2 - NA^2))`` (valid at high NA), in planes of
    ``z_step``: odd, at least 3, at most the stack's depth.
    """
    n = optics.immersion_index
    fwhm = 0.88 * optics.wavelength / (n - math.sqrt(n * n - optics.na**2))
    kz = 2 * math.ceil(2 * fwhm / z_step) + 1
    largest = depth if depth % 2 else depth - 1
    return max(3, min(kz, largest)), kernel_size, kernel_size


def auto_3d(
    axes: str, kernel_size: Any, z_step: float | None, optics: Any, depth: int
) -> tuple[int, int, int] | None:
    """The (Kz, K, K) box when a stack asked with a lateral size K alone is deblurred in 3D.

    When the stack has a z step and the microscope is known (:func:`offered_stack_modes` puts
    "3d" first: the physical pupil fit beat per-plane 2D and RL with the nominal PSF on the
    z-stack benchmark, ``docs/benchmarks/zstacks.md``); None otherwise (per-plane stays).
    """
    if not isinstance(kernel_size, int) or not optics.known:
        return None
    if offered_stack_modes(axes, z_step, optics_known=True)[:1] != ("3d",):
        return None
    return kernel_3d(kernel_size, optics, z_step, depth)


def method_3d(config: DeblurConfig) -> str:
    """``"pupil-3d"`` (the physical pupil fit) or ``"selfdiff-3d"`` for a 3D run of ``config``.

    The pupil fit needs the microscope (``config.optics``) and the z step; an explicit
    ``method="selfdiff"`` or the Zernike kernel network asks for self-diffusion.
    """
    wants_network = config.method in ("selfdiff", "classic+selfdiff") or config.kernel_net.model == "zernike"
    if config.optics.known and config.stack3d.z_step_um is not None and not wants_network:
        return "pupil-3d"
    return "selfdiff-3d"


def plan_3d(
    problem: Problem, config: DeblurConfig, device: torch.device, scale: Any, on_out_of_memory: str
) -> dict[str, Any]:
    """The :class:`~.policy.RunPlan` fields of a 3D run.

    Full scale, one 3D PSF (:func:`method_3d`: the physical pupil fit or self-diffusion), the
    stack restored by 3D RL-TV unless self-diffusion's ``config.restore == "network"`` (the 2.5D
    network's image).
    """
    if scale not in ("auto", 1) or on_out_of_memory != "raise":
        raise InputError(
            "`stack_mode`='3d' runs at full scale without tiles: use scale=1 (or 'auto') and "
            f"on_out_of_memory='raise', got scale={scale!r}, on_out_of_memory={on_out_of_memory!r}"
        )
    side, layout = problem.kernel_size[-1], problem.layout
    method = method_3d(config)
    network = method == "selfdiff-3d" and config.restore == "network"
    return dict(
        config=config, preset=solver_preset(config), device=device, kernel_size=side,
        shape=(layout.height, layout.width), n_groups=1, factor=1, reduced_size=side, psf_window=None,
        restore="network" if network else "richardson_lucy", batch_planes=1,
        method=method, kernel_shape=problem.kernel_size, depth=layout.shape[0],
    )  # fmt: skip


def describe_3d(plan: Any) -> str:
    """One line for a 3D plan: PSF shape, stack, voxel size, network, restoration, device."""
    kz, ky, kx = plan.kernel_shape
    section = plan.config.stack3d
    if section.aspect is None:
        voxels = "voxel aspect unknown (isotropic assumed)"
    else:
        voxels = f"voxels {section.z_step_um:g} x {section.pixel_size_um:g} um (aspect {section.aspect:.2f})"
    where = f"3D PSF {kz}x{ky}x{kx} on the {plan.depth}x{plan.shape[0]}x{plan.shape[1]} stack, {voxels}"
    iterations = plan.config.restore_iterations
    if plan.method == "pupil-3d":
        optics = plan.config.optics
        fit = (
            f"physical pupil fit (Zernike Noll 5-15 through focus, NA {optics.na:g}, "
            f"{optics.wavelength * 1000:g} nm, n {optics.immersion_index:g}; no network)"
        )
        restore = f"restore 3D RL-TV {iterations} it. (the aberration-free PSF if the fit is not trusted)"
        return f"{where}; {fit}; {restore}; {plan.device}"
    preset = f"{plan.preset} preset" if plan.preset else "custom settings"
    if plan.restore == "network":
        restore = "restore by the network"
    else:
        restore = f"restore 3D RL-TV {iterations} it., do-no-harm check"
    model = "Zernike pupil PSF" if plan.config.kernel_net.model == "zernike" else "free PSF"
    network = f"self-diffusion (2.5D network, {model}, {section.plane_energy} energy per plane), {preset}"
    return f"{where}; {network}; {restore}; {plan.device}"


def voxel_size(config: DeblurConfig, image: Any) -> dict[str, float]:
    """``plan_run``'s ``z_step``/``pixel_size`` from a read file's scale (um), for a 3D run.

    Only where the config has none: a value set by the user (config, CLI flag) wins.
    """
    section, found = config.stack3d, {}
    if config.stack_mode == "3d" and section.z_step_um is None and image.z_spacing:
        found["z_step"] = image.z_spacing
    if config.stack_mode == "3d" and section.pixel_size_um is None and image.pixel_size:
        found["pixel_size"] = image.pixel_size[-1]
    return found
