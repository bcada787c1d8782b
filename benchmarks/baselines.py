"""Baselines for the Levin benchmark: classic blind Richardson-Lucy and a SelfDeblur-style DIP.

Both reuse the package's building blocks (forward model, networks, intensity map) so that
the comparison isolates the algorithm, not the plumbing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from napari_selfdiff.blind.selfdiff.compute import plan_execution
from napari_selfdiff.blind.selfdiff.nets import KernelGenerator, UNet
from napari_selfdiff.config import ComputeConfig
from napari_selfdiff.ops.fft import blur_valid, crop_center
from napari_selfdiff.ops.intensity import IntensityMap
from napari_selfdiff.resources import make_generator


def _conv_same(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """True 'same' convolution of (H, W) x with (K, K) k, reflect-padded."""
    pad = k.shape[-1] // 2
    padded = F.pad(x[None, None], (pad, pad, pad, pad), mode="reflect")
    return blur_valid(padded, k)[0, 0]


def _kernel_update(x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, iterations: int) -> torch.Tensor:
    """Richardson-Lucy updates of the kernel with the image fixed (Fish et al., JOSA A 1995)."""
    size = k.shape[-1]
    pad = size // 2
    xp = F.pad(x[None, None], (pad, pad, pad, pad), mode="reflect")
    for _ in range(iterations):
        ratio = y / _conv_same(x, k).clamp_min(1e-6)
        # Correlate the ratio with the image: the gradient of the Poisson likelihood in k.
        correlation = F.conv2d(xp, ratio[None, None])[0, 0]
        k = k * torch.flip(correlation, dims=(0, 1)) / x.sum()
        k = k.clamp_min(0)
        k = k / k.sum().clamp_min(1e-12)
    return k


def _image_update(x: torch.Tensor, y: torch.Tensor, k: torch.Tensor, iterations: int) -> torch.Tensor:
    flipped = torch.flip(k, dims=(0, 1))
    for _ in range(iterations):
        x = x * _conv_same(y / _conv_same(x, k).clamp_min(1e-6), flipped)
    return x


def classic_blind_rl(
    blurred: np.ndarray,
    kernel_size: int,
    *,
    levels: int = 3,
    outer: int = 8,
    image_iterations: int = 5,
    kernel_iterations: int = 5,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Alternating blind Richardson-Lucy with a coarse-to-fine pyramid.

    At each scale (half resolution per level) the image and the kernel are updated in turn
    with Richardson-Lucy steps; the kernel starts as a small Gaussian at the coarsest scale
    and is upsampled to the next. Returns the image (input units) and the K x K kernel.
    """
    mapping = IntensityMap.fit(blurred)
    y_full = torch.as_tensor(mapping.forward(blurred), dtype=torch.float32, device=device)
    kernel = None
    for level in range(levels - 1, -1, -1):
        factor = 2**level
        size = max(3, (kernel_size // factor) | 1)
        y = (
            F.interpolate(y_full[None, None], scale_factor=1 / factor, mode="area")[0, 0]
            if factor > 1
            else y_full
        )
        if kernel is None:
            r = torch.arange(size, device=device) - size // 2
            g = torch.exp(-(r.float() ** 2) / 2.0)
            kernel = torch.outer(g, g)
        else:
            kernel = F.interpolate(
                kernel[None, None], size=(size, size), mode="bilinear", align_corners=True
            )[0, 0]
        kernel = kernel.clamp_min(0) / kernel.sum()
        x = y.clone()
        for _ in range(outer):
            x = _image_update(x, y, kernel, image_iterations)
            kernel = _kernel_update(x, y, kernel, kernel_iterations)
    x = _image_update(y_full.clone(), y_full, kernel, 20)
    return mapping.inverse(x.cpu().numpy().astype(np.float64)), kernel.cpu().numpy()


def _ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Differentiable SSIM with an 11 x 11 Gaussian window (sigma 1.5), Wang et al. 2004."""
    r = torch.arange(11, dtype=a.dtype, device=a.device) - 5
    g = torch.exp(-(r**2) / (2 * 1.5**2))
    window = torch.outer(g, g)
    window = (window / window.sum())[None, None]

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean()


def selfdeblur(
    blurred: np.ndarray,
    kernel_size: int,
    *,
    iterations: int = 5000,
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024),
    attention_levels: int = 1,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """SelfDeblur-style baseline (Ren et al., CVPR 2020) on this package's networks.

    Same image U-Net as the paper preset (``widths``, ``attention_levels``; the benchmark's
    ``selfdeblur-fast`` uses the fast preset's), a fixed random code into the kernel generator (no
    noise schedule, no feedback), Adam with lr 0.01 (image) and 1e-4 (kernel), a small
    perturbation (std 1e-3) of the fixed image input each iteration as in its public code,
    MSE loss for the first 1000 iterations and 1 - SSIM afterwards.
    """
    torch_device = torch.device(device)
    plan = plan_execution(ComputeConfig(), torch_device)  # the same execution options as the solver
    mapping = IntensityMap.fit(blurred)
    y = torch.as_tensor(mapping.forward(blurred), dtype=torch.float32, device=torch_device)[None, None]
    height, width = y.shape[-2:]
    pad = kernel_size - 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet(1, widths, attention_levels).to(torch_device)
        generator = KernelGenerator(kernel_size, 200, hidden=1000, depth=1).to(torch_device)
    network = plan.prepare_network(unet)
    rng = make_generator(seed, torch_device)
    image_code = torch.rand((1, 1, height + pad, width + pad), generator=rng, device=torch_device) * 0.1
    kernel_code = torch.rand(200, generator=rng, device=torch_device)
    optimiser = plan.optimiser(
        [{"params": unet.parameters(), "lr": 1e-2}, {"params": generator.parameters(), "lr": 1e-4}]
    )
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=[2000, 3000, 4000], gamma=0.5)

    def estimate_image(code: torch.Tensor) -> torch.Tensor:
        plan.mark_step()
        with plan.autocast():
            return network(plan.prepare_input(code)).float()

    with plan.backend_flags():
        for step in range(iterations):
            optimiser.zero_grad(set_to_none=True)
            perturbed = image_code + 1e-3 * torch.randn(image_code.shape, generator=rng, device=torch_device)
            estimate = estimate_image(perturbed)
            kernel = generator(kernel_code)
            prediction = blur_valid(estimate, kernel)
            loss = F.mse_loss(prediction, y) if step < 1000 else 1.0 - _ssim(prediction, y)
            loss.backward()
            optimiser.step()
            schedule.step()
        with torch.no_grad():
            estimate = crop_center(estimate_image(image_code), (height, width))[0, 0]
            kernel = generator(kernel_code)
    return mapping.inverse(estimate.cpu().numpy().astype(np.float64)), kernel.cpu().numpy()
