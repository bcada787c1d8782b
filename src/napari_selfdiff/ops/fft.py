r"""Convolution operators by FFT, in 2D and 3D, on NumPy arrays and torch tensors.

Every deconvolution of the package builds its transfer function here (:func:`psf_to_otf`),
as scikit-image's ``restoration.uft`` serves all of its deconvolutions. The number of spatial
axes is the PSF's: a (K, K) PSF acts on the last two axes of an image, a (Kz, K, K) PSF on the
last three.

**Same convolution** (:func:`blur_same`): the PSF is centred at ``K // 2`` on each axis and the
convolution is circular; callers pad the image first so that the periodic boundary falls in
discarded margins.

**Valid convolution** (:func:`blur_valid`), the blind model ``y = x * k + n``: the image is
estimated on the extended domain of size ``(H + K - 1, W + K - 1)`` (and ``Z + Kz - 1``) and
mapped to the observation with a *valid* convolution, so no boundary condition (periodic,
reflective) is assumed and no wrap-around artefact can appear (Ren et al., SelfDeblur,
CVPR 2020; Yang & Luo, arXiv 2510.27439):

.. math::

    (A_k x)[i, j] = \sum_{u, v} k[u, v]\; x[i + K - 1 - u,\; j + K - 1 - v].

Its adjoint ``A_k^T`` (:func:`blur_valid_adjoint`) is a *full* correlation, which maps the
observation back to the extended domain.

**Registration** (:func:`kernel_offset`, :func:`register`): a blind estimate is defined up to a
translation; these put the PSF's centre of mass at the box's centre and crop the image so
that it overlays the observation.

torch is never imported here: a torch tensor brings its own module, so the NumPy callers (the
default classic pipeline) run without loading torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import fft as sfft

__all__ = [
    "FFT_MIN_KERNEL",
    "apply_otf",
    "blur_same",
    "blur_valid",
    "blur_valid_adjoint",
    "crop_center",
    "kernel_offset",
    "psf_to_otf",
    "register",
]

#: Kernel side from which :func:`blur_valid` uses the FFT for a 2D kernel: on CPU a direct
#: 15 x 15 depthwise convolution and its backward cost as much as the whole U-Net step.
FFT_MIN_KERNEL = 8


def _is_tensor(array: Any) -> bool:
    return type(array).__module__.split(".")[0] == "torch"


def _torch() -> Any:
    import torch  # a tensor was passed in, so torch is already imported

    return torch


def psf_to_otf(psf: Any, shape: tuple[int, ...], *, centred: bool = True, real: bool = True) -> Any:
    r"""Transfer function of ``psf`` on a grid of ``shape`` (the one OTF builder of the package).

    The PSF (its last ``len(shape)`` axes) is zero-padded to ``shape`` and, when ``centred``, its
    pixel ``K // 2`` moved to the origin, so that multiplying spectra convolves with the PSF
    centred on each pixel (a 'same' convolution). With ``centred=False`` the PSF stays at the
    origin, the convention of the valid convolution (:func:`blur_valid`):

    .. math::

        \hat k(\xi) = \sum_{u} k[u]\, e^{-2\pi i \langle \xi, u - c \rangle / N},
        \qquad c = \lfloor K / 2 \rfloor \text{ (centred) or } 0.

    Parameters
    ----------
    psf : numpy.ndarray or torch.Tensor
        (..., K) with as many trailing axes as ``shape``; leading axes are kept (a stack of PSFs).
    shape : tuple of int
        The spatial grid, at least the PSF's size on every axis.
    centred : bool
        Centre the PSF at the origin (``True``) or leave its corner there.
    real : bool
        The half spectrum of a real FFT (``rfftn``, the default) or the full one (``fftn``).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The complex transfer function, of the PSF's type, device and precision.
    """
    n = len(shape)
    sizes = tuple(psf.shape[-n:])
    if any(k > s for k, s in zip(sizes, shape, strict=True)):
        raise ValueError(f"the PSF of shape {sizes} does not fit the grid {tuple(shape)}")
    axes = tuple(range(-n, 0))
    shifts = tuple(-(k // 2) for k in sizes) if centred else (0,) * n
    box = (..., *(slice(0, k) for k in sizes))
    if _is_tensor(psf):
        torch = _torch()
        padded = torch.zeros((*psf.shape[:-n], *shape), dtype=psf.dtype, device=psf.device)
        padded[box] = psf
        padded = torch.roll(padded, shifts=shifts, dims=axes) if centred else padded
        return (torch.fft.rfftn if real else torch.fft.fftn)(padded, dim=axes)
    padded = np.zeros((*psf.shape[:-n], *shape), dtype=np.result_type(psf.dtype, np.float64))
    padded[box] = psf
    padded = np.roll(padded, shifts, axis=axes) if centred else padded
    return (sfft.rfftn if real else sfft.fftn)(padded, axes=axes)


def apply_otf(x: Any, otf: Any, *, adjoint: bool = False) -> Any:
    """``x`` filtered by a half-spectrum ``otf`` from :func:`psf_to_otf` (conjugated when ``adjoint``).

    The filter acts on the last ``otf.ndim`` axes of ``x`` (circularly); the adjoint of a
    convolution is the correlation with the same PSF.
    """
    n = otf.ndim
    shape = tuple(x.shape[-n:])
    axes = tuple(range(-n, 0))
    if _is_tensor(x):
        torch = _torch()
        spectrum = torch.fft.rfftn(x, dim=axes)
        return torch.fft.irfftn(spectrum * (otf.conj() if adjoint else otf), s=shape, dim=axes)
    spectrum = sfft.rfftn(x, axes=axes)
    return sfft.irfftn(spectrum * (np.conj(otf) if adjoint else otf), s=shape, axes=axes)


def blur_same(x: Any, psf: Any) -> Any:
    """Circular 'same' convolution of the last ``psf.ndim`` axes of ``x`` with ``psf`` centred at ``K // 2``.

    Used by the non-blind restorations, which pad the image first so that the periodic
    boundary falls in discarded margins.
    """
    return apply_otf(x, psf_to_otf(psf, tuple(x.shape[-psf.ndim :])))


def blur_valid(x: Any, kernel: Any, method: str = "auto") -> Any:
    """Valid convolution of ``x`` (..., H+K-1, W+K-1) [or (..., Z+Kz-1, H+K-1, W+K-1)] with ``kernel``.

    Returns (..., H, W) [(..., Z, H, W)]: each output pixel sees only pixels of ``x``.
    ``method`` is ``"direct"`` (``conv2d``, 2D kernels on (B, C, H, W) tensors), ``"fft"`` or
    ``"auto"`` (the FFT for 3D kernels and from :data:`FFT_MIN_KERNEL` in 2D). The FFT path
    computes the circular convolution on the extended grid in float32: its wrap-around lands
    only in the first K-1 rows and columns, which the valid crop drops, so both paths agree to
    rounding.
    """
    n = kernel.ndim
    if method == "auto":
        method = "fft" if n != 2 or kernel.shape[-1] >= FFT_MIN_KERNEL else "direct"
    if method == "direct":
        if n != 2 or not _is_tensor(x):
            raise ValueError("the direct method takes a 2D kernel and a (B, C, H, W) tensor")
        functional = _torch().nn.functional
        channels = x.shape[1]
        return functional.conv2d(x, _depthwise_weight(kernel, channels), groups=channels)
    if method != "fft":
        raise ValueError(f"`method` must be 'auto', 'direct' or 'fft', got {method!r}")
    to_float = (lambda a: a.float()) if _is_tensor(x) else (lambda a: np.asarray(a, np.float32))
    shape = tuple(x.shape[-n:])
    full = apply_otf(to_float(x), psf_to_otf(to_float(kernel), shape, centred=False))
    return full[(..., *(slice(k - 1, None) for k in kernel.shape))]


def blur_valid_adjoint(y: Any, kernel: Any) -> Any:
    """Adjoint of :func:`blur_valid`: (..., H, W) -> (..., H+K-1, W+K-1), and likewise in 3D.

    ``<blur_valid(x, k), y> == <x, blur_valid_adjoint(y, k)>`` for all x, y: a transposed
    depthwise convolution for a 2D kernel on a (B, C, H, W) tensor; otherwise the observation
    is placed where the valid crop took it from and correlated with the kernel on the extended
    grid, where the full correlation does not wrap.
    """
    n = kernel.ndim
    if n == 2 and _is_tensor(y) and y.ndim == 4:
        functional = _torch().nn.functional
        channels = y.shape[1]
        return functional.conv_transpose2d(y, _depthwise_weight(kernel, channels), groups=channels)
    shape = tuple(s + k - 1 for s, k in zip(y.shape[-n:], kernel.shape, strict=True))
    inside = (..., *(slice(k - 1, None) for k in kernel.shape))
    if _is_tensor(y):
        placed = _torch().zeros((*y.shape[:-n], *shape), dtype=_torch().float32, device=y.device)
        otf = psf_to_otf(kernel.float(), shape, centred=False)
    else:
        placed = np.zeros((*y.shape[:-n], *shape), dtype=np.float32)
        otf = psf_to_otf(np.asarray(kernel, np.float32), shape, centred=False)
    placed[inside] = y
    return apply_otf(placed, otf, adjoint=True)


def _depthwise_weight(kernel: Any, channels: int) -> Any:
    """(K, K) kernel -> depthwise conv2d weight (C, 1, K, K), flipped for a true convolution."""
    flipped = _torch().flip(kernel, dims=(-2, -1))
    return flipped.reshape(1, 1, *kernel.shape[-2:]).expand(channels, 1, -1, -1)


def crop_center(x: Any, size: tuple[int, ...]) -> Any:
    """Crop the centre ``size`` of the last ``len(size)`` axes of ``x``."""
    n = len(size)
    starts = [(x.shape[a - n] - s) // 2 for a, s in enumerate(size)]
    return x[(..., *(slice(b, b + s) for b, s in zip(starts, size, strict=True)))]


def kernel_offset(kernel: Any, mass: float = 0.9) -> tuple[int, ...]:
    """Integer offset of a kernel's centre of mass from its box's centre, per axis.

    The centre of mass is where a blur by the kernel moves an image on average, so an
    estimate registered by it overlays the blurred input. The offset is limited so that
    moving the kernel back by it keeps the kernel's support inside the box: along each axis
    the support is the central ``mass`` of the kernel's marginal, so at most a tail of
    ``(1 - mass) / 2`` (a faint haze, the end of a trail) can leave the box. A kernel
    symmetric about the centre has offset 0 on every axis.
    """
    if _is_tensor(kernel):
        kernel = kernel.detach().double().cpu().numpy()
    k = np.asarray(kernel, dtype=np.float64)
    tail = (1.0 - mass) / 2.0
    offsets = []
    for axis in range(k.ndim):
        marginal = k.sum(axis=tuple(a for a in range(k.ndim) if a != axis))
        size = marginal.size
        weights = marginal / marginal.sum()
        centre = float((weights * np.arange(size)).sum()) - (size - 1) / 2
        cdf = np.cumsum(weights)
        first = int((cdf <= tail).sum())  # first index where the cumulative mass passes the tail
        last = int((cdf < 1.0 - tail).sum())  # first index where it reaches 1 - tail
        offsets.append(min(max(math.floor(centre + 0.5), last - (size - 1)), first))
    return tuple(offsets)


def register(x: Any, kernel: Any, size: tuple[int, ...]) -> tuple[Any, Any]:
    r"""Register a blind estimate: the crop aligned with the observation, the kernel centred.

    A blind estimate is defined up to a translation: ``x`` shifted by ``s`` and ``k`` by
    ``-s`` blur to the same observation, and the optimisation can leave the kernel anywhere in
    its box (on the H100, two of ten Levin motion estimates of the paper preset came out
    shifted by 7 and 8 pixels, the edge of the evaluation's search window). With ``k``
    centred at ``c + s`` (:func:`kernel_offset`), ``c = (K - 1) / 2``, the valid convolution
    gives :math:`y[i] \approx x[i + c - s]`, so the crop that lines up with the observation
    starts at ``c - s`` instead of the centre crop's ``c``. The kernel moves by ``-s`` (the
    tails left out of its support may leave the box; the kernel is renormalised to sum one).
    The image then overlays the input, and the PSF is centred, as optics and deconvolution
    software expect.

    ``x`` is (..., H + K - 1, W + K - 1) [or with Z + Kz - 1], ``kernel`` (K, K) [(Kz, K, K)],
    ``size`` the observation's (H, W) [(Z, H, W)].
    """
    shifts = kernel_offset(kernel)
    n = len(size)
    starts = [
        (x.shape[a - n] - s) // 2 - shift for a, (s, shift) in enumerate(zip(size, shifts, strict=True))
    ]
    image = x[(..., *(slice(b, b + s) for b, s in zip(starts, size, strict=True)))]
    to = tuple(slice(max(0, -s), k - max(0, s)) for k, s in zip(kernel.shape, shifts, strict=True))
    source = tuple(slice(max(0, s), k - max(0, -s)) for k, s in zip(kernel.shape, shifts, strict=True))
    centred = _torch().zeros_like(kernel) if _is_tensor(kernel) else np.zeros_like(kernel)
    centred[to] = kernel[source]
    return image, centred / centred.sum()
