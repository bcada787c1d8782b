"""Real blurred photographs (unknown blur, no ground truth): a qualitative figure.

Usage (from the repository root)::

    python -m benchmarks.real --data ../shared/data/real --crop 256 --kernel-size 31 \
        --preset fast --out docs/benchmarks

Every ``.jpg``/``.png`` of ``--data`` is read as the command line reads it
(:func:`napari_selfdiff.io.formats.read_image`: colour kept, EXIF orientation applied),
centre-cropped to ``--crop`` pixels (0: the whole photo; a crop keeps the blur's scale,
which downscaling would not), deblurred with ``--preset`` at ``--kernel-size``, and shown
as blurred crop, estimate and estimated kernel. There is no ground truth, so there are no
scores: the figure shows whether the method restores edges without ringing on real camera
shake, and whether the kernel is a plausible path that fits inside its box. The JSON keeps
the command, environment, configuration and seconds per photo.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .levin import _environment


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window of a (Y, X[, C]) image (the whole of a smaller side)."""
    if not size:
        return image
    top = max((image.shape[0] - size) // 2, 0)
    left = max((image.shape[1] - size) // 2, 0)
    return image[top : top + size, left : left + size]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of real blurred photos (not copied)")
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument("--crop", type=int, default=256, help="centre crop side (0: whole photos)")
    parser.add_argument("--kernel-size", type=int, default=31)
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
        blurred = centre_crop(image.data, args.crop)
        result = deblur(
            blurred, args.kernel_size, config, device=args.device, seed=args.seed, axes=image.axes
        )
        rows.append({"photo": path.name, "shape": list(blurred.shape), "seconds": round(result.seconds, 1)})
        panels.append((path.stem, blurred, result.image, result.psf))
        print(rows[-1], flush=True)

    fig, axes = plt.subplots(len(panels), 3, figsize=(9, 3 * len(panels)), squeeze=False)
    for row, (name, blurred, estimate, psf) in zip(axes, panels, strict=True):
        scale = 255.0 if blurred.dtype == np.uint8 else 1.0
        for axis, picture, title in (
            (row[0], blurred / scale, f"{name}: blurred"),
            (row[1], np.clip(estimate / scale, 0, 1), f"{name}: self-diffusion ({args.preset})"),
            (row[2], psf / psf.max(), f"estimated kernel, {args.kernel_size} px"),
        ):
            axis.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"real_{args.preset}"
    fig.savefig(out / f"{stem}.png", dpi=90)
    record = {
        "command": "python -m benchmarks.real " + " ".join(argv if argv is not None else sys.argv[1:]),
        "environment": _environment(args.device),
        "crop": args.crop,
        "kernel_size": args.kernel_size,
        "seed": args.seed,
        "config": config.to_dict(),
        "photos": rows,
    }
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
