"""The optics commands (psf, blur) and the demo."""

from __future__ import annotations

import argparse
import sys
import time

from napari_selfdiff.cli.commands import read_with_psf
from napari_selfdiff.cli.options import config_from_args
from napari_selfdiff.cli.progress_bar import run_with_bar

#: Most planes of a ``psf --z-range`` stack (a typo such as STEP 1e-9 would ask for billions).
MAX_Z_PLANES = 4096


def _cmd_psf(args: argparse.Namespace) -> int:
    import numpy as np

    from napari_selfdiff.io.outputs import plan_outputs
    from napari_selfdiff.io.tiff import write_tiff
    from napari_selfdiff.optics import coefficients_from_names, rms_wavefront_error, strehl_ratio, zernike_psf

    coefficients = coefficients_from_names(args.zernike)
    z = None
    if args.z_range is not None:
        start, stop, step = args.z_range
        if not (np.isfinite(args.z_range).all() and step > 0 and stop >= start):
            raise ValueError(f"--z-range needs finite START <= STOP and STEP > 0, got {args.z_range}")
        if (stop - start) / step >= MAX_Z_PLANES:
            raise ValueError(
                f"--z-range {start:g} {stop:g} {step:g} gives {(stop - start) / step + 1:.3g} planes, "
                f"more than {MAX_Z_PLANES}: use a larger STEP"
            )
        z = np.arange(start, stop + step / 2, step)
    outputs = plan_outputs([args.output], overwrite=args.overwrite)
    psf = zernike_psf(
        coefficients,
        args.size,
        wavelength=args.wavelength,
        na=args.na,
        pixel_size=args.pixel_size,
        immersion_index=args.immersion_index,
        pupil_pixels=args.pupil_pixels,
        z=z,
        oversample=args.oversample,
    )
    provenance = {
        "method": "zernike_psf",
        "coefficients_waves_rms": coefficients,
        "wavelength_um": args.wavelength,
        "na": args.na,
        "pixel_size_um": args.pixel_size,
        "immersion_index": args.immersion_index,
        "pupil_pixels": args.pupil_pixels,
        "oversample": args.oversample,
        "z_um": None if z is None else z.tolist(),
        "strehl_ratio": strehl_ratio(coefficients),
        "rms_wavefront_waves": rms_wavefront_error(coefficients),
    }
    outputs.check_space(4 * psf.size)
    with outputs.writing() as temporary:
        write_tiff(
            temporary[args.output],
            psf.astype(np.float32),
            axes="ZYX" if psf.ndim == 3 else "YX",
            pixel_size=args.pixel_size,
            z_spacing=None if z is None else float(args.z_range[2]),
            provenance=provenance,
            overwrite=True,
        )
    print(
        f"wrote {args.output}: shape {psf.shape}, Strehl {provenance['strehl_ratio']:.3f}, "
        f"RMS wavefront {provenance['rms_wavefront_waves']:.3f} waves"
    )
    return 0


def _cmd_beads(args: argparse.Namespace) -> int:
    """Average the stack's isolated beads, retrieve the pupil, write the PSF, print the pupil."""
    import numpy as np

    from napari_selfdiff.io.formats import read_image
    from napari_selfdiff.io.outputs import plan_outputs
    from napari_selfdiff.io.tiff import write_tiff
    from napari_selfdiff.optics.phase_retrieval import average_beads, retrieve_pupil

    outputs = plan_outputs([args.output], [args.input], overwrite=args.overwrite)
    image = read_image(args.input)
    if image.data.ndim != 3 or image.axes != "ZYX":
        raise ValueError(f"beads needs a (Z, Y, X) stack, got axes {image.axes} of shape {image.data.shape}")
    pixel = args.pixel_size or (image.pixel_size[-1] if image.pixel_size else None)
    z_step = args.z_step or image.z_spacing
    if pixel is None or z_step is None:
        raise ValueError("the file has no pixel size or z step in um: give --pixel-size and --z-step")
    size = args.kernel_size
    window = size if isinstance(size, tuple) else (15, size, size)
    stack = image.data.astype(np.float64)
    averaged, positions = average_beads(stack, window, return_positions=True)
    z = (np.arange(window[0]) - window[0] // 2) * z_step
    found = retrieve_pupil(
        averaged, z_positions_um=z, wavelength=args.wavelength, na=args.na, pixel_size=pixel,
        immersion_index=args.immersion_index,
    )  # fmt: skip
    provenance = {
        "method": "beads: average_beads + retrieve_pupil (Gerchberg-Saxton through focus)",
        "input": str(args.input),
        "beads": len(positions),
        "noll_waves_rms": found.noll,
        "ansi_waves_rms": found.ansi,
        "rms_waves": found.rms_waves,
        "strehl": found.strehl,
        "fwhm_um": found.fwhm_um,
        "fwhm_nominal_um": found.fwhm_nominal_um,
        "relative_residual": found.relative_residual,
        "wavelength_um": args.wavelength,
        "na": args.na,
        "immersion_index": args.immersion_index,
    }
    outputs.check_space(4 * averaged.size)
    with outputs.writing() as temporary:
        write_tiff(
            temporary[args.output], averaged.astype(np.float32), axes="ZYX", pixel_size=pixel,
            z_spacing=z_step, provenance=provenance, overwrite=True,
        )  # fmt: skip
    box = "x".join(str(n) for n in window)
    print(f"{len(positions)} beads averaged into a {box} PSF: wrote {args.output}")
    print(f"pupil: {found.rms_waves:.3f} waves RMS (Noll 5-15), Strehl {found.strehl:.2f}")
    for j, value in sorted(found.noll.items(), key=lambda item: -abs(item[1]))[:5]:
        print(f"  Noll {j}: {value:+.3f} waves")
    measured, nominal = found.fwhm_um, found.fwhm_nominal_um
    print("FWHM x/y/z: " + " / ".join(f"{measured[a]:.2f}" for a in ("x", "y", "z")) + " um measured, "
          + " / ".join(f"{nominal[a]:.2f}" for a in ("x", "y", "z")) + " um nominal")  # fmt: skip
    return 0


def _cmd_blur(args: argparse.Namespace) -> int:
    from napari_selfdiff.io.formats import write_image
    from napari_selfdiff.optics import blur

    image, psf, outputs = read_with_psf(args)
    out = blur(
        image.data,
        psf.data,
        noise_sigma=args.noise,
        poisson_photons=args.photons,
        seed=args.seed,
        axes=image.axes,
    )
    provenance = {
        "method": "blur",
        "psf": str(args.psf),
        "noise_sigma": args.noise,
        "poisson_photons": args.photons,
        "seed": args.seed,
    }
    with outputs.writing() as temporary:
        write_image(temporary[args.output], out, image, provenance=provenance, overwrite=True)
    print(f"wrote {args.output}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from napari_selfdiff.api import iter_deblur
    from napari_selfdiff.io.tiff import write_tiff
    from napari_selfdiff.metrics import aligned_scores, mnc
    from napari_selfdiff.samples.camera import make_demo_case, save_figure

    args.out.mkdir(parents=True, exist_ok=True)
    case = make_demo_case()
    config = config_from_args(args)
    kernel_size = case.psf.shape[0]
    print(
        f"demo: {case.blurred.shape} camera crop, {kernel_size}x{kernel_size} camera-shake PSF, "
        f"noise sigma {case.noise_sigma}; preset {args.preset}, device {args.device}",
        file=sys.stderr,
    )
    start = time.perf_counter()
    result = run_with_bar(
        iter_deblur(
            case.blurred,
            kernel_size,
            config,
            scale=1,  # at full scale: a self-diffusion run (--method selfdiff) shows per-step scores
            device=args.device,
            seed=args.seed,
            ground_truth=case.sharp,
            true_psf=case.psf,
        )
    )
    before = aligned_scores(case.blurred, case.sharp, max_shift=kernel_size // 2)
    after = aligned_scores(result.image, case.sharp, max_shift=kernel_size // 2)
    scores = {
        "psnr_blurred": before.psnr,
        "ssim_blurred": before.ssim,
        "psnr": after.psnr,
        "ssim": after.ssim,
        "mnc": mnc(result.psf, case.psf),
        "seconds": time.perf_counter() - start,
    }
    provenance = {**result.metadata(), "scores": scores}
    paths = {
        "blurred": write_tiff(args.out / "blurred.tif", case.blurred, overwrite=True),
        "sharp": write_tiff(args.out / "ground_truth.tif", case.sharp, overwrite=True),
        "true_psf": write_tiff(args.out / "true_psf.tif", case.psf, overwrite=True),
        "deblurred": write_tiff(
            args.out / "deblurred.tif", result.image, provenance=provenance, overwrite=True
        ),
        "psf": write_tiff(
            args.out / "psf.tif", np.asarray(result.psf), provenance=provenance, overwrite=True
        ),
        "figure": save_figure(args.out / "demo.png", case, result.image, result.psf, scores),
    }
    print(
        f"PSNR {scores['psnr_blurred']:.2f} -> {scores['psnr']:.2f} dB, SSIM {scores['ssim_blurred']:.3f} -> "
        f"{scores['ssim']:.3f}, PSF MNC {scores['mnc']:.3f}, {scores['seconds']:.0f} s on {result.device}"
    )
    for name, path in paths.items():
        print(f"  {name:10s} {path}")
    return 0
