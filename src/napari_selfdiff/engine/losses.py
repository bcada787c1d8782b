"""Loss terms of the blind objective.

.. math::

    L_t(\\theta, \\phi) = \\lVert A_{G_\\phi(\\hat z_t)} D_\\theta(\\hat x_t) - y \\rVert_2^2
                      + \\lambda_k\\, R(G_\\phi(\\hat z_t))

Normalisation: the data term is the plain *sum* of squared residuals over all pixels,
channels and planes, as the paper writes it. The sparsity weight lambda_k = 2e-3 is only
meaningful against this normalisation: with a per-pixel mean the same weight is
``H * W`` times stronger and collapses the kernel to a single dot.
"""

from __future__ import annotations

import torch

__all__ = ["data_fidelity", "kernel_sparsity"]


def data_fidelity(prediction: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
    """Sum of squared residuals ``||prediction - observation||_2^2`` (computed in float32)."""
    residual = prediction.float() - observation.float()
    return residual.square().sum()


def kernel_sparsity(kernel: torch.Tensor, p: float = 0.5, eps: float = 1e-12) -> torch.Tensor:
    """l_p quasi-norm ``R(k) = sum_i (k_i + eps)^p`` of a kernel, 0 < p < 1.

    The generator's softmax makes every kernel non-negative with unit sum, so the L1
    norm is identically 1 and its gradient vanishes: an L1 penalty would do nothing.
    For ``p < 1`` the quasi-norm is concave in k; on the simplex it is smallest (1) for a
    single dot and largest (``(K*K)^(1-p)``) for the flat kernel, so it pushes mass
    from the many faint entries into the few strong ones, which is the prior the paper's
    "sparsity(kernel)" expresses. ``eps`` keeps the gradient ``p k^(p-1)`` finite; through
    the softmax Jacobian the gradient on the logits is bounded by ``p k^p``.
    """
    return (kernel.float() + eps).pow(p).sum()
