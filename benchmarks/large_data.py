"""Large-data benchmark: a seeded synthetic widefield stack of Z x 2048 x 2048 uint16, deblurred in tiles.

Usage::

    python benchmarks/large_data.py make OUT.tif --depth 64     # the stack (plane by plane)
    python benchmarks/large_data.py make OUT.zarr --depth 64    # the same stack as an OME-Zarr
    python benchmarks/large_data.py seams OUT.tif -k 15         # tiled vs whole-plane on one plane
    python benchmarks/large_data.py psf PSF.tif                 # the true 3D PSF (non-blind 3D run)
    python benchmarks/large_data.py rates OUT.tif               # the plan's time model on this machine

The stack is made with the project's optics: a through-focus Zernike PSF
(:func:`napari_selfdiff.optics.zernike_psf`: NA 1.2 water, 0.52 um emission, 0.1 um pixels,
0.3 um planes, a little spherical aberration) convolved in 3D with beads and curved filaments
spread over the whole field, 300 photons at the brightest voxel over a background of 5, Poisson
noise. It is written plane by plane: the object's planes are drawn from a seeded list of points,
and each blurred plane is the sum over the PSF's planes of 2D FFT convolutions, so memory stays
at a few planes (the whole stack is 512 MiB as uint16, 2 GiB as float64).

``seams`` restores one plane twice with the same PSF (the region estimate): in the planned tiles
and as one tile, and reports the PSNR between them and the largest difference on the tile
borders against the interior (docs/benchmarks/large_data.md). The timed whole runs use the CLI
under ``/usr/bin/time -v`` (commands in that page).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import fft as sfft
from scipy import ndimage

from napari_selfdiff.optics import zernike_psf

PIXEL_UM, STEP_UM, WAVELENGTH_UM, NA, IMMERSION = 0.1, 0.3, 0.52, 1.2, 1.33
PSF_PLANES, PSF_SIDE = 15, 31
PHOTONS, BACKGROUND = 300.0, 5.0


def true_psf() -> np.ndarray:
    """The (15, 31, 31) through-focus PSF of the synthetic microscope, summing to 1."""
    z = (np.arange(PSF_PLANES) - PSF_PLANES // 2) * STEP_UM
    psf = zernike_psf(
        {11: 0.05}, PSF_SIDE, wavelength=WAVELENGTH_UM, na=NA, pixel_size=PIXEL_UM,
        immersion_index=IMMERSION, z=z,
    )  # fmt: skip
    return psf / psf.sum()


def object_points(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxel coordinates (N, 3) and brightness of beads and filaments over the whole volume."""
    rng = np.random.default_rng(seed)
    depth, height, width = shape
    beads = int(height * width / 2000)
    coords = [np.column_stack([rng.integers(0, depth, beads), rng.integers(0, height, beads),
                               rng.integers(0, width, beads)])]  # fmt: skip
    values = [rng.uniform(0.6, 1.0, beads)]
    t = np.linspace(0, 1, 4000)
    for _ in range(int(height * width / 80_000)):
        y0, x0, z0 = rng.uniform(0, 1, 3) * (height, width, depth)
        angle, bend, length = rng.uniform(0, np.pi), rng.uniform(-0.4, 0.4), rng.uniform(150, 600)
        ys = y0 + np.sin(angle) * (t - 0.5) * length + bend * length * (t - 0.5) ** 2
        xs = x0 + np.cos(angle) * (t - 0.5) * length
        zs = z0 + (t - 0.5) * rng.uniform(-1, 1) * min(depth, 20)
        inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width) & (zs >= 0) & (zs < depth)
        coords.append(np.column_stack([zs[inside], ys[inside], xs[inside]]).astype(int))
        values.append(np.full(int(inside.sum()), 0.15))
    return np.concatenate(coords), np.concatenate(values)


def blurred_planes(shape: tuple[int, int, int], seed: int):
    """Yield the blurred, noisy uint16 planes of the stack, in z order (module docstring)."""
    depth, height, width = shape
    psf = true_psf()
    half = PSF_PLANES // 2
    pad = (height + PSF_SIDE, width + PSF_SIDE)
    otfs = [_otf(p, pad) for p in psf]
    coords, values = object_points(shape, seed)
    by_plane = [np.flatnonzero(coords[:, 0] == z) for z in range(depth)]
    spectra: dict[int, np.ndarray] = {}

    def spectrum(z: int) -> np.ndarray:
        if z not in spectra:
            plane = np.zeros(pad)
            members = by_plane[z]
            np.add.at(plane, (coords[members, 1], coords[members, 2]), values[members])
            spectra[z] = sfft.rfft2(ndimage.gaussian_filter(plane, 0.6), workers=1)
        return spectra[z]

    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1.0
    scale = PHOTONS / (ndimage.gaussian_filter(impulse, 0.6).max() * psf[half].max())  # at a bright bead
    rng = np.random.default_rng(seed + 1)
    for z in range(depth):
        total = np.zeros_like(spectrum(z))
        for dz in range(-half, half + 1):
            source = z - dz
            if 0 <= source < depth:
                total += spectrum(source) * otfs[dz + half]
        for old in [k for k in spectra if k < z - half]:
            del spectra[old]
        plane = np.clip(sfft.irfft2(total, s=pad, workers=1)[:height, :width], 0, None)
        counts = rng.poisson(plane * scale + BACKGROUND)
        yield np.clip(counts, 0, 65535).astype(np.uint16)


def _otf(plane: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """The OTF of one PSF plane on the padded grid, centred at the origin."""
    full = np.zeros(pad)
    full[:PSF_SIDE, :PSF_SIDE] = plane
    full = np.roll(full, (-(PSF_SIDE // 2), -(PSF_SIDE // 2)), axis=(0, 1))
    return sfft.rfft2(full)


def make(path: Path, depth: int, side: int, seed: int) -> None:
    """Write the stack to ``path``, plane by plane, with 0.1 um pixels and 0.3 um planes.

    An ImageJ TIFF, or an OME-Zarr (NGFF 0.4, uint16, voxel size kept) when ``path`` ends in
    ``.zarr``, written by the package's own writer (:func:`napari_selfdiff.io.stream.open_writer`).
    """
    start = time.perf_counter()
    planes = blurred_planes((depth, side, side), seed)
    if path.suffix == ".zarr":
        from napari_selfdiff.io.stream import open_writer

        writer = open_writer(
            path, (1, 1, depth, side, side), "ZYX", np.uint16,
            pixel_size=(PIXEL_UM, PIXEL_UM), z_spacing=STEP_UM,
            provenance={"made by": "benchmarks/large_data.py"},
        )  # fmt: skip
        for plane in planes:
            writer.write(plane)
        writer.commit()
    else:
        tifffile.imwrite(
            path, planes, shape=(depth, side, side), dtype=np.uint16,
            imagej=True, metadata={"axes": "ZYX", "spacing": STEP_UM, "unit": "um"},
            resolution=(1 / PIXEL_UM, 1 / PIXEL_UM),
        )  # fmt: skip
    print(f"wrote {path}: {depth} x {side} x {side} uint16 in {time.perf_counter() - start:.1f} s")


def seams(path: Path, kernel: int, plane: int, tile: int | None) -> None:
    """Restore one plane in the planned tiles and as one tile; print PSNR and border differences."""
    from napari_selfdiff.config import DeblurConfig
    from napari_selfdiff.io.lazy import open_lazy
    from napari_selfdiff.large import estimate_channel_psf, iter_restore_unit
    from napari_selfdiff.plan.large import plan_large
    from napari_selfdiff.results import drive

    image = open_lazy(path)
    config = DeblurConfig()
    plan = plan_large(image.shape, (1, kernel, kernel), "2d", tile=tile)
    whole = plan_large(image.shape, (1, kernel, kernel), "2d", tile=max(image.shape[3:]), memory_limit=2**40)
    start = time.perf_counter()
    channel = drive(estimate_channel_psf(image, 0, plan, config, start=start))
    print(f"PSF from {len(channel.regions)} regions, agreement {channel.agreement}, "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    results = []
    for which in (plan, whole):
        out: list[np.ndarray] = []
        began = time.perf_counter()
        drive(iter_restore_unit(image, (0, 0, plane), channel, which, config, out.append))
        results.append(out[0].astype(np.float64))
        print(f"{len(which.tiles())} tile(s): {time.perf_counter() - began:.1f} s")
    tiled, single = results
    span = float(single.max() - single.min())
    psnr = 10 * np.log10(span**2 / max(float(np.mean((tiled - single) ** 2)), 1e-30))
    border = np.zeros(single.shape, bool)
    for t in plan.tiles():
        for axis in (1, 2):
            for edge in (t.write[axis].start, t.write[axis].stop):
                if 0 < edge < single.shape[axis - 1]:
                    index = [slice(None), slice(None)]
                    index[axis - 1] = slice(max(edge - 2, 0), edge + 2)
                    border[tuple(index)] = True
    difference = np.abs(tiled - single)
    print(f"tiled vs one tile: PSNR {psnr:.1f} dB (range {span:.1f}); largest difference on tile borders "
          f"{difference[border].max():.3g}, elsewhere {difference[~border].max():.3g}")  # fmt: skip


def rates(path: Path, kernel: int) -> None:
    """Measure the time model's rates of :mod:`napari_selfdiff.plan.large` on this machine.

    The noise-aware TV on a 1024 x 1024 tile of ``path`` (seconds per padded pixel and
    iteration, from 10 and 60 iterations), the TV PSF estimate on a 256 x 256 region (per
    region pixel), reading and summing 8 planes (per pixel), and the 3D RL-TV of one tile of
    the 3D plan (up to 64 planes of 602 x 602: 512 px and 45 px margins) with an
    (11, ``kernel``, ``kernel``) PSF (per padded voxel and iteration, from 5 and 20
    iterations, in torch's default threads).
    """
    import torch

    from napari_selfdiff.blind.tv import estimate_psf_tv
    from napari_selfdiff.restoration.classic import richardson_lucy
    from napari_selfdiff.restoration.noise_aware import restore_tv
    from napari_selfdiff.results import drive

    with tifffile.TiffFile(path) as tif:
        store = tif.series[0].asarray(out="memmap")
        start = time.perf_counter()
        total = np.zeros(store.shape[1:])
        for z in range(8):
            total += store[z]
        read = (time.perf_counter() - start) / (8 * total.size)
        middle = store.shape[0] // 2
        tile = np.asarray(store[middle, :1024, :1024], np.float64)
        block = np.asarray(store[:64, :602, :602], np.float32)
    tile = (tile - tile.min()) / np.ptp(tile)
    psf = np.ones((kernel, kernel)) / kernel**2
    seconds = []
    for iterations in (10, 60):  # the difference: the iterations' cost without the set-up
        start = time.perf_counter()
        restore_tv(tile, psf, iterations=iterations, lower=0.0)
        seconds.append(time.perf_counter() - start)
    tv = (seconds[1] - seconds[0]) / ((1024 + 4 * kernel) ** 2 * 50)
    start = time.perf_counter()
    estimate_psf_tv(tile[:256, :256], kernel)
    estimate = (time.perf_counter() - start) / 256**2
    observed = torch.as_tensor((block - block.min()) / np.ptp(block))
    kernel_3d = torch.full((11, kernel, kernel), 1.0 / (11 * kernel**2))
    seconds = []
    for iterations in (5, 20):
        start = time.perf_counter()
        drive(richardson_lucy(observed, kernel_3d, iterations, tv_weight=0.002))
        seconds.append(time.perf_counter() - start)
    padded = (len(block) + 2 * 11) * (602 + 2 * kernel) ** 2  # the plan's padded voxels of the tile
    rl = (seconds[1] - seconds[0]) / (padded * 15)
    print(f"TV_SECONDS_PER_PIXEL_ITERATION = {tv:.3g}")
    print(f"RL_SECONDS_PER_VOXEL_ITERATION = {rl:.3g}")
    print(f"ESTIMATE_SECONDS_PER_PIXEL = {estimate:.3g}")
    print(f"READ_SECONDS_PER_PIXEL = {read:.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("make")
    made.add_argument("output", type=Path)
    made.add_argument("--depth", type=int, default=64)
    made.add_argument("--side", type=int, default=2048)
    made.add_argument("--seed", type=int, default=0)
    true = commands.add_parser("psf", help="write the true 3D PSF (for the non-blind 3D run)")
    true.add_argument("output", type=Path)
    seam = commands.add_parser("seams")
    seam.add_argument("input", type=Path)
    seam.add_argument("-k", "--kernel-size", type=int, default=15)
    seam.add_argument("--plane", type=int, default=None)
    seam.add_argument("--tile", type=int, default=None)
    rate = commands.add_parser("rates", help="measure the plan's time model rates on this machine")
    rate.add_argument("input", type=Path)
    rate.add_argument("-k", "--kernel-size", type=int, default=15)
    args = parser.parse_args(argv)
    if args.command == "rates":
        rates(args.input, args.kernel_size)
    elif args.command == "make":
        make(args.output, args.depth, args.side, args.seed)
    elif args.command == "psf":
        tifffile.imwrite(args.output, true_psf().astype(np.float32), imagej=True, metadata={"axes": "ZYX"})
    else:
        depth = tifffile.TiffFile(args.input).series[0].shape[0]
        seams(args.input, args.kernel_size, depth // 2 if args.plane is None else args.plane, args.tile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
