"""Kernel generator G_phi: a fully connected network ending in a softmax.

``G(z) = reshape(softmax(W_n ReLU(... ReLU(W_1 z + b_1) ...) + b_n), K, K)``: the
softmax over all K*K entries makes every estimate a valid blur kernel (non-negative,
unit sum) by construction. SelfDeblur (Ren et al., CVPR 2020) uses one 1000-unit hidden
layer; DeblurSDI ablates the number of hidden layers ("k-diff" depth 1, 2, 3, 5).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["KernelGenerator", "hidden_layers"]


def hidden_layers(in_features: int, hidden: int, depth: int) -> list[nn.Module]:
    """``depth`` fully connected ReLU layers of width ``hidden``: the body of both kernel models."""
    layers: list[nn.Module] = []
    previous = in_features
    for _ in range(depth):
        layers += [nn.Linear(previous, hidden), nn.ReLU(inplace=True)]
        previous = hidden
    return layers


class KernelGenerator(nn.Module):
    """Map a code of ``in_features`` values to a (K, K) kernel on the simplex.

    Parameters
    ----------
    kernel_size : int
        Side K of the square kernel.
    in_features : int
        Length of the input code (K*K when the noisy kernel estimate is fed back).
    hidden : int
        Width of each hidden layer.
    depth : int
        Number of hidden ReLU layers.
    init_sigma : float, optional
        If given, the generator starts near a centred Gaussian of this width (pixels).
    """

    def __init__(
        self,
        kernel_size: int,
        in_features: int,
        hidden: int = 1000,
        depth: int = 1,
        init_sigma: float | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        layers = hidden_layers(in_features, hidden, depth)
        last = nn.Linear(hidden, kernel_size * kernel_size)
        if init_sigma is not None:
            # Start near a centred Gaussian blob instead of a random near-flat kernel: the bias
            # holds its log-density and the weights are scaled down so the input only perturbs it.
            r = torch.arange(kernel_size, dtype=torch.float32) - kernel_size // 2
            log_density = -(r[:, None] ** 2 + r[None, :] ** 2) / (2 * init_sigma**2)
            with torch.no_grad():
                last.weight.mul_(0.1)
                last.bias.copy_(log_density.flatten())
        layers.append(last)
        self.body = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        # Softmax in float32 even under autocast: it defines the kernel's unit sum.
        logits = self.body(code.reshape(1, -1)).float()
        return torch.softmax(logits, dim=-1).reshape(self.kernel_size, self.kernel_size)
