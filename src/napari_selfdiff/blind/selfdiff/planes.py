"""Self-diffusion over the planes of a (Z, C, H, W) array: plane groups and plane batching.

A stack is solved per plane (a PSF each) or shared (one PSF, ``config.stack_mode``). Each
group of planes gets its own intensity map, networks and seed; several groups are solved in
one batched loop (:mod:`.ensemble`) when memory allows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator

import numpy as np
import torch

from napari_selfdiff.blind.selfdiff.loop import Scorer, run_loop
from napari_selfdiff.blind.selfdiff.memory import estimate_bytes, out_of_memory_message
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import OutOfMemory
from napari_selfdiff.inputs import plane_groups
from napari_selfdiff.ops.intensity import IntensityMap
from napari_selfdiff.resources import describe_device, free_memory
from napari_selfdiff.results import Progress, StepRecord

__all__ = ["Evaluate", "check_memory", "network_input", "planes_per_batch", "solve_planes"]

#: ``evaluate(estimate, psf, members)``: scores of a plane group's estimate ((Z, C, H, W) in
#: input intensities) and PSF; ``members`` are the group's plane indices. It only observes.
Evaluate = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]]


def network_input(group: np.ndarray, config: DeblurConfig) -> np.ndarray:
    """A (Z, C, H, W) plane group as the image network sees it.

    (B, C, H, W) with B = Z, except in ``"shared-channels"`` mode, where the planes become
    the channels of one input, (1, Z * C, H, W): one network pass then serves the whole
    stack, and the blur (depthwise, one shared kernel) acts on each plane as before.
    """
    if config.stack_mode == "shared-channels":
        return group.reshape(1, -1, *group.shape[-2:])
    return group


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


def planes_per_batch(
    n_groups: int,
    group_shape: tuple[int, ...],
    kernel_size: int,
    config: DeblurConfig,
    device: torch.device,
    batch_planes: int,
) -> int:
    """How many plane groups to solve together.

    ``batch_planes`` (the plan's, at most the number of groups), halved until a batch fits in
    free memory; then the memory check of one batch, which raises :class:`OutOfMemory` if
    even a single group does not fit.
    """
    together = min(batch_planes, n_groups)
    batch, *rest = group_shape
    free = free_memory(device)
    if free is not None:
        while together > 1 and estimate_bytes(together * batch, *rest, kernel_size, config) > free:
            together //= 2
    check_memory((together * batch, *rest), kernel_size, config, device)
    return together


def _is_out_of_memory(error: RuntimeError) -> bool:
    """A device allocation failure: CUDA's own error type, or the CPU allocator's message."""
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


def _image_converter(mapping: IntensityMap, shape: tuple[int, ...]) -> Callable[[torch.Tensor], np.ndarray]:
    """Normalised network output -> array of the group's (Z, C, H, W) ``shape`` in input intensities."""

    def to_image(x: torch.Tensor) -> np.ndarray:
        return mapping.inverse(x.detach().cpu().numpy().astype(np.float64)).reshape(shape)

    return to_image


def _scorer(evaluate: Evaluate | None, members: np.ndarray) -> Scorer | None:
    if evaluate is None:
        return None
    return lambda estimate, psf: evaluate(estimate, psf, members)


def solve_planes(
    planes: np.ndarray,
    kernel_size: int,
    config: DeblurConfig,
    device: torch.device,
    seed: int,
    *,
    batch_planes: int,
    start: float,
    cancel: threading.Event | None = None,
    evaluate: Evaluate | None = None,
    fixed_psf: np.ndarray | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, list[np.ndarray], list[StepRecord], list[np.ndarray]]]:
    """Self-diffusion over the planes of a (Z, C, H, W) array, per plane or shared.

    Each group of planes gets its own intensity map, networks and seed ``seed + group``;
    ``batch_planes`` groups at most are solved together. Returns the estimates (Z, C, H, W)
    in input intensities, the PSF of each group, the history and, with the Zernike kernel
    model, each group's pupil (coefficients in waves RMS, then the radius; else empty).
    """
    groups = plane_groups(planes.shape[0], config)
    kernel = None
    if fixed_psf is not None:
        kernel = torch.as_tensor(fixed_psf, dtype=torch.float32, device=device)
    estimates = np.empty_like(planes)
    psfs: list[np.ndarray] = []
    pupils: list[np.ndarray] = []
    history: list[StepRecord] = []
    first = network_input(planes[groups[0]], config)
    together = planes_per_batch(len(groups), first.shape, kernel_size, config, device, batch_planes)
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
        try:
            x, kernels, records, found = yield from run_loop(
                ys,
                kernel_size,
                config,
                [seed + first_group + p for p in range(len(batch))],
                first_plane=first_group,
                n_planes=len(groups),
                start=start,
                cancel=cancel,
                to_images=to_images,
                scorers=[_scorer(evaluate, members) for members in batch],
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
        pupils.extend([] if found is None else list(found))
        history.extend(records)
    return estimates, psfs, history, pupils
