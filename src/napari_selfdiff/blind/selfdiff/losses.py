r"""Loss terms of the blind objective.

.. math::

    L_t(\theta, \phi) = \lVert A_{G_\phi(\hat z_t)} D_\theta(\hat x_t) - y \rVert_2^2
                      + \lambda_k\, R(G_\phi(\hat z_t))

Normalisation: the data term is the plain *sum* of squared residuals over all pixels,
channels and planes, as the paper writes it. The sparsity weight lambda_k = 2e-3 is only
meaningful against this normalisation: with a per-pixel mean the same weight is
``H * W`` times stronger and collapses the kernel to a single dot.
"""

from __future__ import annotations

import torch

__all__ = ["data_fidelity", "finite_differences", "kernel_sparsity"]


def finite_differences(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of (..., H, W) ``image`` along columns (..., H, W-1) and rows (..., H-1, W)."""
    return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]


def data_fidelity(
    prediction: torch.Tensor, observation: torch.Tensor, gradient_weight: float = 0.0
) -> torch.Tensor:
    r"""Sum of squared residuals, optionally plus those of the residual's finite differences.

    .. math::

        \lVert r \rVert_2^2 + \gamma \left(\lVert \partial_x r \rVert_2^2
        + \lVert \partial_y r \rVert_2^2\right), \qquad r = A_k x - y.

    ``gamma = 0`` is the paper's term. A positive gamma weights the residual spectrum by
    ``1 + gamma |2 sin(omega / 2)|^2``, i.e. towards the edges, where the blur kernel is
    identifiable; the intensity term alone is dominated by low frequencies that any kernel
    explains. Computed in float32.
    """
    residual = prediction.float() - observation.float()
    loss = residual.square().sum()
    if gradient_weight > 0:
        dx, dy = finite_differences(residual)
        loss = loss + gradient_weight * (dx.square().sum() + dy.square().sum())
    return loss


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
