"""Real blurred photographs (unknown blur, no ground truth): a qualitative figure.

Usage (from the repository root)::

    python -m benchmarks.real --data ../shared/data/real --scale 2 --crop 256 --kernel-size 37 \
        --preset fast --out docs/benchmarks

Every ``.jpg``/``.png`` of ``--data`` is read as the command line reads it
(:func:`napari_selfdiff.io.formats.read_image`: colour kept, EXIF orientation applied).

* ``--scale 1``: a ``--crop`` pixel square of the photo (0: the whole photo) is deblurred
  blind with ``--preset`` at ``--kernel-size``. The crop is the window richest in coherent
  edges (:func:`napari_selfdiff.blind.regions.informative_window`, the rule the tiled
  solver uses to pick where to estimate the PSF), or the centre with ``--window centre``.
* ``--scale N`` (N >= 2): the package's multiscale pipeline
  (:func:`napari_selfdiff.deblur` with ``scale``): the PSF is estimated blind on the most
  informative ``--crop`` window of the photo averaged down by N, scaled back to
  ``--kernel-size``, and the whole photo is restored at full resolution by Richardson-Lucy;
  the figure shows the full-resolution region the PSF was estimated on.

Each row shows the blurred region, the estimate and the estimated kernel.
There is no ground truth, so there are no scores: the figure shows whether the method
restores edges without ringing on real camera shake, and whether the kernel is a plausible
path that fits inside its box. The JSON keeps the command, environment, configuration, the
region shown for each photo (top, left, bottom, right) and the seconds per photo.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .levin import _environment


def crop_window(image: np.ndarray, size: int, kernel_size: int, where: str) -> tuple[slice, slice]:
    """(row, column) slices of a ``size`` square of a (Y, X[, C]) photo: informative or central.

    ``size`` 0 is the whole photo; a side shorter than ``size`` is kept whole.
    """
    from napari_selfdiff.blind.regions import informative_window

    height, width = image.shape[:2]
    if not size:
        return slice(0, height), slice(0, width)
    if where == "informative":
        return informative_window(np.moveaxis(image, -1, 0) if image.ndim == 3 else image, size, kernel_size)
    top, left = max((height - size) // 2, 0), max((width - size) // 2, 0)
    return slice(top, top + size), slice(left, left + size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of real blurred photos (not copied)")
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument(
        "--crop", type=int, default=256,
        help="side of the window the PSF is estimated on, in pixels after --scale (0: whole photos)",
    )  # fmt: skip
    parser.add_argument(
        "--window", choices=("informative", "centre"), default="informative",
        help="where to crop: the window richest in coherent edges, or the centre",
    )  # fmt: skip
    parser.add_argument(
        "--scale", type=int, default=1,
        help="estimate the PSF at 1/scale (deblur(scale=...)), restore the full photo by Richardson-Lucy",
    )  # fmt: skip
    parser.add_argument("--kernel-size", type=int, default=31, help="full-resolution PSF side")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_selfdiff import DeblurConfig, deblur
    from napari_selfdiff.io.formats import read_image

    photos = sorted(p for p in Path(args.data).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise SystemExit(f"no .jpg or .png photos in {args.data}")
    config = DeblurConfig.preset(args.preset)
    rows, panels = [], []
    for path in photos:
        image = read_image(path)
        options = {"device": args.device, "seed": args.seed, "axes": image.axes}
        if args.scale > 1:
            result = deblur(
                image.data, args.kernel_size, config,
                scale=args.scale, psf_window=args.crop or None, **options,
            )  # fmt: skip
            box = result.multiscale.to_dict()["window"]
            window = (
                slice(box["top"], box["top"] + box["height"]),
                slice(box["left"], box["left"] + box["width"]),
            )
            blurred, estimate = image.data[window], result.image[window]
        else:
            window = crop_window(image.data, args.crop, args.kernel_size, args.window)
            blurred = image.data[window]
            result = deblur(blurred, args.kernel_size, config, scale=1, **options)
            estimate = result.image
        rows.append({
            "photo": path.name,
            "shape": list(image.data.shape if args.scale > 1 else blurred.shape),
            "region": [window[0].start, window[1].start, window[0].stop, window[1].stop],
            "seconds": round(result.seconds, 1),
            "restore": result.restore,
        })  # fmt: skip
        white = np.iinfo(image.data.dtype).max if image.data.dtype.kind in "ui" else 1.0
        how = (
            f"PSF at 1/{args.scale} scale, Richardson-Lucy"
            if args.scale > 1
            else f"{args.preset}, {'network' if result.restore == 'network' else 'RL-TV'} image"
        )
        panels.append((path.stem, blurred / white, estimate / white, result.psf, how))
        print(rows[-1], flush=True)

    fig, axes = plt.subplots(len(panels), 3, figsize=(9, 3 * len(panels)), squeeze=False)
    for row, (name, blurred, estimate, psf, how) in zip(axes, panels, strict=True):
        for axis, picture, title in (
            (row[0], np.clip(blurred, 0, 1), f"{name}: blurred"),
            (row[1], np.clip(estimate, 0, 1), f"{name}: self-diffusion ({how})"),
            (row[2], psf / psf.max(), f"estimated kernel, {args.kernel_size} px"),
        ):
            axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"real_{args.preset}" + (f"_scale{args.scale}" if args.scale != 1 else "")
    fig.savefig(out / f"{stem}.png", dpi=90)
    record = {
        "command": "python -m benchmarks.real " + " ".join(argv if argv is not None else sys.argv[1:]),
        "environment": _environment(args.device),
        "scale": args.scale,
        "crop": args.crop,
        "window": args.window,
        "kernel_size": args.kernel_size,
        "seed": args.seed,
        "config": config.to_dict(),
        "photos": rows,
    }
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
