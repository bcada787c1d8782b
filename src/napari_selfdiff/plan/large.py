"""The plan of a large-data run: regions for the PSF, tiles for the restoration, peak memory.

A microscope stack (say 64 x 2048 x 2048 uint16, several channels and time points) does not
fit the whole-array engine's working copies (:func:`napari_selfdiff.inputs.check_host_memory`,
384 bytes per pixel). The PSF is a property of the optics: it is estimated on a few regions
of the field (:mod:`napari_selfdiff.large`), and the whole data is then restored in
overlapping tiles with that one PSF (:mod:`napari_selfdiff.restoration.tiled`). Everything
that run decides is decided here, once, before any work, and stated by
:meth:`LargePlan.describe`: the mode, the regions, the tile grid, and the peak resident memory
it expects.

The memory model counts what the run holds at its peak: the interpreter and libraries
(:data:`BASELINE_BYTES`, plus :data:`TORCH_BYTES` in the 3D mode), the input plane or z block
being read, the output planes still open, and one tile's working copies: the noise-aware TV
holds about :data:`TV_BYTES_PER_PIXEL` bytes per pixel of its padded domain (float64 ADMM
variables, measured with ``tracemalloc`` on 512 x 512), 3D Richardson-Lucy about
:data:`RL_BYTES_PER_VOXEL` per padded voxel (float32 tensors, measured with psutil).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from napari_selfdiff.inputs import BLIND_HOST_BYTES_PER_PIXEL
from napari_selfdiff.ops.tiles import Tile, tile_grid
from napari_selfdiff.progress_text import format_seconds
from napari_selfdiff.resources import free_host_memory

__all__ = ["LargePlan", "LargeTime", "needs_tiles", "plan_large"]

#: Resident memory of the interpreter with NumPy, SciPy and tifffile loaded (measured: ~0.15 GB).
BASELINE_BYTES = 300 * 1024**2
#: What importing torch adds to the resident memory (3D mode; measured: ~0.35 GB).
TORCH_BYTES = 500 * 1024**2
#: Bytes per padded pixel of one noise-aware TV restoration (measured 212 on 512 x 512, rounded up).
TV_BYTES_PER_PIXEL = 240
#: Bytes per padded voxel of one 3D Richardson-Lucy restoration (measured 75 on 50 x 330 x 330).
RL_BYTES_PER_VOXEL = 96
#: Expected time on the reference machine (the project's 2-core CPU, one process; measured by
#: ``benchmarks/large_data.py rates``, ``docs/benchmarks/large_data.md``): seconds per padded
#: pixel and iteration of the noise-aware TV restoration of a tile.
TV_SECONDS_PER_PIXEL_ITERATION = 1.7e-7
#: Seconds per region pixel of one classic PSF estimate (the TV estimator, 2D mode).
ESTIMATE_SECONDS_PER_PIXEL = 9.8e-5
#: Seconds per pixel read from a TIFF and summed into the regions' z projection.
READ_SECONDS_PER_PIXEL = 3.5e-9
#: Seconds per padded voxel and iteration of a tile's 3D RL-TV (one 64 x 602 x 602 tile, PSF
#: 11 x 15 x 15; it was 8.5e-8 before the RL-TV worked in place, and the whole 64 x 2048 x 2048
#: 3D run of that code took 9.2e-8 a voxel and iteration, reading and PSF included).
RL_SECONDS_PER_VOXEL_ITERATION = 5.0e-8
#: ADMM iterations of the 2D tiles' restoration (:func:`~napari_selfdiff.restoration.noise_aware.restore_tv`).
TV_ITERATIONS = 150
#: Bytes per pixel of a plane's statistics (intensity quantiles, noise estimate, region scores).
PLANE_STATS_BYTES = 120
#: Largest tile side tried first: tiles of at most 1024 px keep each FFT cache-friendly.
LARGEST_TILE = 1024
#: Smallest tile side, in kernel sizes (below it the margins dominate the work).
SMALLEST_TILE_KERNELS = 8

Mode = Literal["2d", "3d"]


@dataclass(frozen=True)
class LargeTime:
    """Expected seconds of a large-data run on the reference machine (:meth:`LargePlan.expected_time`).

    ``psf``: the PSF stage (None: not modelled, a blind 3D estimate); ``restore``: the tiled
    restoration, over ``workers`` processes. :attr:`parts`, :attr:`after`, :attr:`seconds_if_flagged` and
    :attr:`calibrated` weigh the progress bar as a :class:`~napari_selfdiff.plan.estimate.RunEstimate`
    does (:meth:`napari_selfdiff.progress_text.ProgressClock.for_estimate`).
    """

    psf: float | None
    restore: float
    workers: int = 1
    after: float = 0.0
    seconds_if_flagged: float = 0.0
    calibrated: bool = False

    @property
    def parts(self) -> tuple[float, ...]:
        """The two parts' expected seconds; empty when the PSF stage is not modelled (equal weights)."""
        return () if self.psf is None else (self.psf, self.restore)

    def describe(self) -> str:
        """The expected time in words; the reference CPU is the project's 2-core machine."""
        restore = format_seconds(self.restore)
        where = "on the reference CPU" + (
            f" with {self.workers} workers" if self.workers > 1 else ", one process"
        )
        if self.psf is None:
            return f"expected restoration time about {restore} {where}, plus the 3D PSF estimate"
        total, psf = format_seconds(self.psf + self.restore), format_seconds(self.psf)
        return f"expected time about {total} {where} (PSF {psf}, restoration {restore})"


@dataclass(frozen=True)
class LargePlan:
    """What a large-data run will do, decided before it starts.

    ``shape``: (T, C, Z, Y, X) of the data; ``mode``: "2d" (each plane restored with the PSF
    of its channel) or "3d" (a 3D PSF, z blocks); ``kernel_shape``: (kz, k, k) ("2d": kz = 1);
    ``tile``, ``overlap``, ``margin``: per (Z, Y, X) axis; ``regions``, ``region_size``: the
    PSF estimate's windows; ``peak_bytes``: the expected peak resident memory;
    ``memory_limit``: the budget it was planned under.
    """

    shape: tuple[int, int, int, int, int]
    mode: Mode
    kernel_shape: tuple[int, int, int]
    tile: tuple[int, int, int]
    overlap: tuple[int, int, int]
    margin: tuple[int, int, int]
    regions: int
    region_size: int
    peak_bytes: int
    memory_limit: int

    def tiles(self) -> list[Tile]:
        """The tile grid of one (Z, Y, X) volume ("2d": of one plane, Z = 1)."""
        depth = self.shape[2] if self.mode == "3d" else 1
        return tile_grid((depth, *self.shape[3:]), self.tile, self.overlap, self.margin)

    def expected_time(self, restore_iterations: int = 60, workers: int = 1) -> LargeTime:
        """The run's expected seconds on the reference machine (a 2-core CPU).

        ``workers``: the processes the restoration's units are spread over (Dask workers; one
        each core at most helps), which divide its share.

        Restoration: every (time point, channel, plane) of the "2d" mode (volume of "3d")
        restored tile by tile, the cost proportional to each tile's padded pixels (voxels)
        times the iterations (:data:`TV_ITERATIONS`; ``restore_iterations`` of the 3D RL-TV,
        ``DeblurConfig.restore_iterations``). PSF stage ("2d"): the regions' z projection read
        from the data, and one classic estimate per region; 0 when the PSF is given; None for a
        blind 3D estimate, whose time depends on the 3D method
        (:func:`napari_selfdiff.plan.estimate.estimate_run`).
        """
        t, c, z, y, x = self.shape
        kz, k = self.kernel_shape[0], self.kernel_shape[2]

        def side(tile: Tile, axis: int, pad: int) -> int:
            return tile.read[axis].stop - tile.read[axis].start + pad

        if self.mode == "2d":
            padded = sum(side(tile, 1, 4 * k) * side(tile, 2, 4 * k) for tile in self.tiles())
            restore = t * c * z * padded * TV_ITERATIONS * TV_SECONDS_PER_PIXEL_ITERATION
        else:
            padded = sum(
                side(tile, 0, 2 * kz) * side(tile, 1, 2 * k) * side(tile, 2, 2 * k) for tile in self.tiles()
            )
            restore = t * c * padded * restore_iterations * RL_SECONDS_PER_VOXEL_ITERATION
        restore /= max(1, workers)
        if not self.regions:
            return LargeTime(0.0, restore, workers=workers)
        if self.mode == "3d":
            return LargeTime(None, restore, workers=workers)
        area = self.region_size**2
        read = (z * y * x + self.regions * z * area) * READ_SECONDS_PER_PIXEL
        return LargeTime(
            c * (read + self.regions * area * ESTIMATE_SECONDS_PER_PIXEL), restore, workers=workers
        )

    def describe(self) -> str:
        """The plan in one paragraph (the CLI prints it before the run)."""
        t, c, z, y, x = self.shape
        count = len(self.tiles())
        unit = "plane" if self.mode == "2d" else "volume"
        tile = f"{self.tile[1]} x {self.tile[2]}" + (f" x {self.tile[0]} planes" if self.mode == "3d" else "")
        psf = "x".join(map(str, self.kernel_shape))
        if not self.regions:
            source = f"the given {psf} PSF"
        elif self.mode == "3d":  # the 3D estimate runs on one column: the regions rank them
            source = (
                f"PSF {psf} per channel estimated on the (Z, {self.region_size}, {self.region_size}) "
                f"column of the best of {self.regions} region(s) at the first time point, reused for all"
            )
        else:
            source = (
                f"PSF {psf} per channel estimated on {self.regions} region(s) of {self.region_size} px "
                "at the first time point, reused for all"
            )
        return (
            f"large data {t} x {c} x {z} x {y} x {x} (T, C, Z, Y, X), {self.mode.upper()} mode, "
            f"{source}; "
            f"restored in {count} tile(s) per {unit} of {tile} overlapping by {self.overlap[1]} px "
            f"(margin {self.margin[1]} px); expected peak memory {self.peak_bytes / 1024**3:.2f} GiB "
            f"(limit {self.memory_limit / 1024**3:.2f} GiB)"
        )


def needs_tiles(shape: tuple[int, ...], memory_limit: int | None = None) -> bool:
    """Whether an image of ``shape`` is run as large data (tiles) rather than as one array.

    True when the whole-array engine's working copies (``BLIND_HOST_BYTES_PER_PIXEL`` per pixel)
    exceed ``memory_limit`` (default: the free host memory).
    """
    limit = free_host_memory() if memory_limit is None else memory_limit
    pixels = math.prod(shape)
    return limit is not None and pixels * BLIND_HOST_BYTES_PER_PIXEL > limit


def _peak(
    mode: Mode,
    plane: tuple[int, int],
    read: tuple[int, int, int],
    kernel: tuple[int, int, int],
    open_planes: int,
) -> int:
    """Expected peak resident bytes with tiles reading ``read`` (Z, Y, X) of planes ``plane``.

    ``open_planes``: the output planes held at once (one z block's write extent, 3D mode).
    """
    kz, k = kernel[0], kernel[2]
    pixels = plane[0] * plane[1]
    if mode == "2d":
        tile = TV_BYTES_PER_PIXEL * (read[1] + 4 * k) * (read[2] + 4 * k)
        # the plane read (float64) and its statistics, its open output plane (float32)
        held = pixels * (8 + PLANE_STATS_BYTES + 4)
        return BASELINE_BYTES + held + tile
    tile = RL_BYTES_PER_VOXEL * (read[0] + 2 * kz) * (read[1] + 2 * k) * (read[2] + 2 * k)
    # the block read (float64), the open output planes (float32), region scores on one plane
    held = read[0] * read[1] * read[2] * 8 + open_planes * pixels * 4 + pixels * PLANE_STATS_BYTES
    return BASELINE_BYTES + TORCH_BYTES + held + tile


def plan_large(
    shape: tuple[int, int, int, int, int],
    kernel_shape: tuple[int, int, int],
    mode: Mode = "2d",
    *,
    memory_limit: int | None = None,
    tile: int | None = None,
    regions: int = 4,
    region_size: int = 256,
) -> LargePlan:
    """Plan a large-data run of (T, C, Z, Y, X) data.

    Parameters
    ----------
    shape : tuple of int
        (T, C, Z, Y, X) of the data.
    kernel_shape : tuple of int
        (kz, k, k) of the PSF; "2d": (1, k, k).
    mode : {"2d", "3d"}
        Each plane restored with a 2D PSF, or the stack with a 3D PSF (z blocks).
    memory_limit : int, optional
        Peak resident bytes allowed; default: half the free host memory, at most 6 GiB.
    tile : int, optional
        Lateral tile side; default: the largest of 1024, 512, 256, ... (at least eight kernel
        sizes) whose expected peak fits the limit.
    regions : int
        How many regions across the field the PSF is estimated on (their agreement is reported);
        0 when the PSF is given (no estimate).
    region_size : int
        Side of each region, in pixels (at most the image's).

    Returns
    -------
    LargePlan

    Raises
    ------
    ValueError
        No tile of at least eight kernel sizes fits ``memory_limit``, or an argument is invalid.
    """
    if len(shape) != 5 or min(shape) < 1:
        raise ValueError(f"`shape` must be (T, C, Z, Y, X) with positive sizes, got {shape}")
    if mode not in ("2d", "3d"):
        raise ValueError(f"`mode` must be '2d' or '3d', got {mode!r}")
    if regions < 0:
        raise ValueError(f"`regions` must be >= 1 (0: the PSF is given), got {regions}")
    if memory_limit is None:
        free = free_host_memory()
        memory_limit = min(6 * 1024**3, free // 2) if free is not None else 6 * 1024**3
    depth, height, width = shape[2:]
    kz, k = kernel_shape[0], kernel_shape[2]
    overlap_xy, margin_xy = 2 * k, 3 * k
    if mode == "3d":
        overlap_z, margin_z = min(kz, depth), min(2 * kz, depth)
    else:
        overlap_z, margin_z = 0, 0
    smallest = SMALLEST_TILE_KERNELS * k
    if tile is not None:
        if tile < max(smallest, overlap_xy):
            raise ValueError(
                f"`tile` must be at least {max(smallest, overlap_xy)} px (8 kernel sizes), got {tile}"
            )
        candidates = [tile]
    else:
        candidates = []
        side = LARGEST_TILE
        while side >= smallest:
            candidates.append(side)
            side //= 2
        candidates = candidates or [smallest]
    for side in candidates:
        side_y, side_x = min(side, height), min(side, width)
        depth_tile = depth
        while True:
            read = (
                min(depth, depth_tile + 2 * margin_z + overlap_z) if mode == "3d" else 1,
                min(height, side_y + 2 * margin_xy + overlap_xy),
                min(width, side_x + 2 * margin_xy + overlap_xy),
            )
            open_planes = min(depth, depth_tile + overlap_z)
            peak = _peak(mode, (height, width), read, kernel_shape, open_planes)
            if peak <= memory_limit or mode == "2d" or depth_tile <= max(2 * kz, overlap_z, 1):
                break
            depth_tile = max(depth_tile // 2, max(2 * kz, overlap_z, 1))
        if peak <= memory_limit or side == candidates[-1]:
            break
    if peak > memory_limit:
        raise ValueError(
            f"no tile fits the memory limit of {memory_limit / 1024**3:.2f} GiB (the smallest, "
            f"{candidates[-1]} px, needs about {peak / 1024**3:.2f} GiB): raise the limit"
        )
    return LargePlan(
        shape=tuple(int(s) for s in shape),
        mode=mode,
        kernel_shape=(int(kz), int(k), int(k)),
        tile=(depth_tile if mode == "3d" else 1, side_y, side_x),
        overlap=(overlap_z, overlap_xy, overlap_xy),
        margin=(margin_z, margin_xy, margin_xy),
        regions=regions,
        region_size=int(min(region_size, height, width)),
        peak_bytes=int(peak),
        memory_limit=int(memory_limit),
    )
