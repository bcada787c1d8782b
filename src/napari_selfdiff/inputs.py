"""Validation of arrays at the public boundary, with expected-versus-actual messages.

One place checks every image, PSF and kernel size for the API, the CLI and the
widgets alike, and converts accepted images once to the internal (Z, C, H, W) layout.
Errors are :class:`InputError` (a ``ValueError``) for bad values and ``TypeError`` for
bad dtypes; each message names the value, the rule and, where there is one, the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from napari_selfdiff.errors import InputError

if TYPE_CHECKING:
    from napari_selfdiff.config import DeblurConfig

__all__ = [
    "AXES",
    "BLIND_HOST_BYTES_PER_PIXEL",
    "HOST_BYTES_PER_PIXEL",
    "MAX_MAGNITUDE",
    "MIN_MAGNITUDE",
    "Layout",
    "NanPolicy",
    "Problem",
    "check_dtype",
    "check_ground_truth",
    "check_host_memory",
    "check_kernel_shape",
    "check_kernel_size",
    "check_psf",
    "check_run_options",
    "check_values",
    "constant_planes",
    "from_planes",
    "infer_axes",
    "make_problem",
    "to_planes",
]


NanPolicy = Literal["raise", "replace"]

#: Largest magnitude accepted: results are computed and returned in float32 (max 3.4e38),
#: with head-room for deconvolution's overshoot.
MAX_MAGNITUDE = 1e30
#: Smallest largest-magnitude accepted for a non-zero image (float32's normal range ends at 1.2e-38).
MIN_MAGNITUDE = 1e-30
#: Host bytes per pixel of the input a run holds at its peak: a non-blind run or a blur (the
#: float64 planes and a few working copies), and a blind one (measured: 352 B/px peak RSS for the
#: default pipeline, classic PSF and guarded TV restoration, on a 1024 x 1024 image on the CPU).
#: The input is refused before its first float64 copy when they exceed the free host memory.
HOST_BYTES_PER_PIXEL = 64
BLIND_HOST_BYTES_PER_PIXEL = 384


def check_dtype(image: np.ndarray, what: str) -> None:
    kind = image.dtype.kind
    if kind == "b":
        raise TypeError(
            f"`{what}` has boolean dtype: deblurring needs intensities; convert it with "
            f"{what}.astype(np.float32) if that is intended"
        )
    if kind == "c":
        raise TypeError(
            f"`{what}` has complex dtype {image.dtype}: pass a real intensity image (e.g. np.abs(image))"
        )
    if kind in "mM":
        raise TypeError(f"`{what}` has dtype {image.dtype} (dates or durations), not intensities")
    if kind not in "uif":
        raise TypeError(f"`{what}` must have a numeric dtype, got {image.dtype}")
    if image.size == 0:
        raise InputError(f"`{what}` is empty (shape {image.shape})")


def check_host_memory(image: np.ndarray, what: str, per_pixel: int) -> None:
    from napari_selfdiff.resources import free_host_memory

    free = free_host_memory()
    needed = image.size * per_pixel
    if free is not None and needed > free:
        from napari_selfdiff.errors import OutOfMemory

        raise OutOfMemory(
            f"`{what}` of shape {image.shape} ({image.size / 1e6:.0f} Mpixel) needs about "
            f"{needed / 1024**3:.1f} GiB of host memory for its working copies, {free / 1024**3:.1f} GiB "
            "free: deblur it in tiles (napari_selfdiff.deblur_large; CLI: deblur --tiles on), a crop, "
            "or a binned image"
        )


def check_values(image: np.ndarray, mask: np.ndarray | None, what: str, nan_policy: NanPolicy) -> np.ndarray:
    """``image`` as float64, NaN/Inf (and masked) pixels refused or replaced, magnitude checked."""
    bad = ~np.isfinite(image) if image.dtype.kind == "f" else None
    if mask is not None and mask.any():
        bad = mask if bad is None else bad | mask
    n_bad = 0 if bad is None else int(np.count_nonzero(bad))
    if n_bad and nan_policy != "replace":
        masked = "" if mask is None else " (or masked)"
        raise InputError(
            f"`{what}` has {n_bad} NaN or infinite{masked} pixel(s) of {image.size}: clean them, or "
            "pass nan_policy='replace' (CLI: --nan-policy replace) to fill them with the median of "
            "the other pixels"
        )
    if n_bad == image.size:
        raise InputError(f"`{what}` has no finite pixel at all ({n_bad} NaN, infinite or masked)")
    values = image.astype(np.float64, copy=bool(n_bad))
    if n_bad:
        values[bad] = np.median(values[~bad])
    magnitude = max(abs(float(values.min())), abs(float(values.max())))
    if magnitude > MAX_MAGNITUDE or 0 < magnitude < MIN_MAGNITUDE:
        raise InputError(
            f"`{what}` has values up to {magnitude:.3g} in magnitude, outside the range results are "
            f"computed and returned in ({MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g}, float32): multiply "
            "it by a constant first (the result scales with it)"
        )
    return values


AXES = ("YX", "YXC", "ZYX", "ZYXC")


@dataclass(frozen=True)
class Layout:
    """How an input array maps onto the internal (Z, C, H, W) layout."""

    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def height(self) -> int:
        return self.shape[self.axes.index("Y")]

    @property
    def width(self) -> int:
        return self.shape[self.axes.index("X")]


def infer_axes(shape: tuple[int, ...], axes: str | None = None) -> str:
    """Return the axes string of an image of ``shape``.

    2D arrays are (Y, X); 3D arrays whose last axis has 3 entries are RGB (Y, X, C);
    other 3D arrays are stacks (Z, Y, X). 4D and 5D arrays need ``axes`` explicitly.
    """
    if axes is not None:
        axes = axes.upper()
        if axes not in AXES:
            raise InputError(f"`axes` must be one of {AXES}, got {axes!r}")
        if len(axes) != len(shape):
            raise InputError(
                f"`axes`={axes!r} names {len(axes)} axes but the image has {len(shape)} (shape {shape})"
            )
        if "C" in axes and shape[-1] == 4:
            raise InputError(
                f"RGBA images are not supported (shape {shape}): drop the alpha channel, e.g. image[..., :3]"
            )
        return axes
    if len(shape) == 2:
        return "YX"
    if len(shape) == 3:
        if shape[-1] == 4:
            raise InputError(
                f"an image of shape {shape} looks like RGBA: drop the alpha channel "
                "(image[..., :3]) or pass axes='ZYX' if it is a stack"
            )
        return "YXC" if shape[-1] == 3 else "ZYX"
    if len(shape) in (4, 5):
        raise InputError(
            f"a {len(shape)}D image (shape {shape}) is ambiguous: select one time point or "
            "channel first (e.g. image[t] or image[:, c]) or pass axes='ZYXC'"
        )
    raise InputError(f"the image must be 2D, 3D or 4D with `axes`, got shape {shape}")


def check_run_options(seed: object, cancel: object) -> int:
    """Return ``seed`` as an int after checking it and ``cancel`` (see :func:`.api.iter_deblur`)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise InputError(f"`seed` must be an integer in [0, 2**63), got {seed!r}")
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise InputError(
            f"`cancel` must be a threading.Event (anything with is_set()), got {cancel!r}; to "
            "cancel from a callback, return False from `progress`"
        )
    return int(seed)


def constant_planes(planes: np.ndarray) -> np.ndarray:
    """Boolean (Z,) mask of the planes of a (Z, C, H, W) array whose pixels are all equal."""
    flat = planes.reshape(len(planes), -1)
    return flat.min(axis=1) == flat.max(axis=1)


def check_kernel_size(kernel_size: object, height: int, width: int) -> int:
    """Return ``kernel_size`` if it is an odd integer >= 3 with ``2 K <= min(H, W)``."""
    if isinstance(kernel_size, (bool, np.bool_)) or not isinstance(kernel_size, (int, np.integer)):
        raise InputError(f"`kernel_size` must be an odd integer >= 3, got {kernel_size!r}")
    k = int(kernel_size)
    if k < 3 or k % 2 == 0:
        raise InputError(f"`kernel_size` must be an odd integer >= 3, got {k}")
    if 2 * k > min(height, width):
        raise InputError(
            f"`kernel_size`={k} is too large for a {height} x {width} image: the image must be "
            f"at least twice the kernel size (kernel_size <= {max(min(height, width) // 2, 0)})"
        )
    return k


def check_kernel_shape(kernel_size: object, layout: Layout) -> tuple[int, int, int]:
    """Return a 3D PSF shape ``(kz, k, k)`` for a (Z, Y, X) stack, or raise :class:`InputError`.

    ``k`` follows :func:`check_kernel_size`; ``kz`` is an odd integer >= 1 and at most the number
    of planes (the stack must see the PSF's depth).
    """
    if layout.axes != "ZYX":
        raise InputError(f"a 3D PSF (kz, k, k) needs a (Z, Y, X) stack, got axes {layout.axes!r}")
    if (
        not isinstance(kernel_size, (tuple, list))
        or len(kernel_size) != 3
        or kernel_size[1] != kernel_size[2]
    ):
        raise InputError(f"`kernel_size` must be (kz, k, k) for a 3D PSF, got {kernel_size!r}")
    depth, side = kernel_size[0], check_kernel_size(kernel_size[1], layout.height, layout.width)
    if (
        isinstance(depth, (bool, np.bool_))
        or not isinstance(depth, (int, np.integer))
        or depth < 1
        or depth % 2 == 0
    ):
        raise InputError(f"the PSF depth kz of `kernel_size` must be an odd integer >= 1, got {depth!r}")
    if depth > layout.shape[0]:
        raise InputError(
            f"the PSF depth kz={depth} exceeds the stack's {layout.shape[0]} planes: "
            f"use kz <= {layout.shape[0]}"
        )
    return int(depth), side, side


def check_scale(scale: object) -> int | str:
    """Return ``scale`` if it is "auto" or an integer >= 1 (a multiscale factor)."""
    if scale == "auto":
        return "auto"
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InputError(f"`scale` must be 'auto' or an integer >= 1, got {scale!r}")
    return int(scale)


def to_planes(
    image: np.ndarray,
    axes: str | None = None,
    *,
    nan_policy: NanPolicy = "raise",
    what: str = "image",
    host_bytes_per_pixel: int = HOST_BYTES_PER_PIXEL,
) -> tuple[np.ndarray, Layout]:
    """Validate ``image`` and return it as float64 (Z, C, H, W) with its :class:`Layout`.

    A masked array's masked pixels count as NaN (``nan_policy``). The host-memory check
    (``host_bytes_per_pixel`` of the input against the free host memory) comes before the
    first float64 copy, so an oversized image is refused at its own size.
    """
    if nan_policy not in ("raise", "replace"):
        raise InputError(f"`nan_policy` must be 'raise' or 'replace', got {nan_policy!r}")
    mask = np.ma.getmaskarray(image) if isinstance(image, np.ma.MaskedArray) else None
    image = np.asarray(image.data if mask is not None else image)
    check_dtype(image, what)
    axes = infer_axes(image.shape, axes)
    check_host_memory(image, what, host_bytes_per_pixel)
    values = check_values(image, mask, what, nan_policy)
    layout = Layout(axes=axes, shape=tuple(image.shape), dtype=image.dtype)
    if axes == "YX":
        planes = values[None, None]
    elif axes == "YXC":
        planes = np.moveaxis(values, -1, 0)[None]
    elif axes == "ZYX":
        planes = values[:, None]
    else:
        planes = np.moveaxis(values, -1, 1)
    return np.ascontiguousarray(planes), layout


def from_planes(planes: np.ndarray, layout: Layout) -> np.ndarray:
    """Inverse of :func:`to_planes` (without the dtype conversion)."""
    if layout.axes == "YX":
        return planes[0, 0]
    if layout.axes == "YXC":
        return np.moveaxis(planes[0], 0, -1)
    if layout.axes == "ZYX":
        return planes[:, 0]
    return np.moveaxis(planes, 1, -1)


def check_psf(psf: np.ndarray, *, what: str = "psf") -> np.ndarray:
    """Validate a 2D PSF and return it as float64 normalised to unit sum."""
    psf = np.asarray(psf)
    check_dtype(psf, what)
    values = check_values(psf, None, what, "raise")
    if values.ndim != 2:
        raise InputError(f"`{what}` must be a 2D array, got shape {psf.shape}")
    if values.shape[0] % 2 == 0 or values.shape[1] % 2 == 0:
        raise InputError(f"`{what}` must have odd sides so that it has a centre pixel, got shape {psf.shape}")
    if values.min() < 0:
        raise InputError(
            f"`{what}` has negative values (min {values.min():.3g}): a PSF is an intensity "
            "distribution; clip it at zero first"
        )
    total = values.sum()
    if total <= 0:
        raise InputError(f"`{what}` is all zeros: it cannot be normalised to unit sum")
    return values / total


def check_ground_truth(ground_truth: np.ndarray | None, layout: Layout) -> np.ndarray | None:
    """Validate an optional ground truth against the image layout; return its planes."""
    if ground_truth is None:
        return None
    truth, truth_layout = to_planes(ground_truth, layout.axes, what="ground_truth")
    if truth_layout.shape != layout.shape:
        raise InputError(
            f"`ground_truth` shape {truth_layout.shape} differs from the image shape {layout.shape}"
        )
    return truth


@dataclass(frozen=True)
class Problem:
    """A validated blind problem: the image as (Z, C, H, W) planes, its layout and the PSF side.

    ``kernel_size`` is the side K of a 2D PSF, or the shape (kz, k, k) of a 3D PSF.
    """

    planes: np.ndarray
    layout: Layout
    kernel_size: int | tuple[int, int, int]

    @property
    def lateral_size(self) -> int:
        """The PSF's lateral side K."""
        return self.kernel_size if isinstance(self.kernel_size, int) else self.kernel_size[-1]


def make_problem(
    image: np.ndarray, kernel_size: object, axes: str | None = None, *, nan_policy: NanPolicy = "raise"
) -> Problem:
    """Validate ``image`` and ``kernel_size`` (K, or (kz, k, k) for a stack) once; convert once."""
    planes, layout = to_planes(
        image, axes, nan_policy=nan_policy, host_bytes_per_pixel=BLIND_HOST_BYTES_PER_PIXEL
    )
    if isinstance(kernel_size, (tuple, list)):
        kernel_size = check_kernel_shape(kernel_size, layout)
    else:
        kernel_size = check_kernel_size(kernel_size, layout.height, layout.width)
    if planes.min() == planes.max():  # before any work, however large the image
        raise InputError(
            f"the image is constant (every pixel equals {planes.flat[0]:.6g}): there is nothing to deblur"
        )
    return Problem(planes, layout, kernel_size)


def plane_groups(count: int, config: DeblurConfig) -> list[np.ndarray]:
    """Indices of the planes that share a PSF: all of them in the shared modes, else one each."""
    if config.stack_mode != "per-plane":
        return [np.arange(count)]
    return [np.array([i]) for i in range(count)]
