r"""Reverse-diffusion noise schedule as small pure functions.

The outer loop of self-diffusion visits t = T, T-1, ..., 1 and perturbs the current
estimates with Gaussian noise of standard deviation

.. math::

    \beta_t = \beta_1 + (\beta_T - \beta_1)\,\frac{t - 1}{T - 1}, \qquad
    \bar\alpha_t = \prod_{i \le t} (1 - \beta_i), \qquad
    \sigma_t = \sqrt{1 - \bar\alpha_t},

so the first outer step uses the largest sigma and the schedule runs down to
``sqrt(beta_1)`` (Luo et al., arXiv 2510.21417; Yang & Luo, arXiv 2510.27439).
"""

from __future__ import annotations

import numpy as np

__all__ = ["alpha_bars", "betas", "reverse_sigmas", "sigmas"]


def betas(steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> np.ndarray:
    """Linear beta schedule, ``betas[t - 1] = beta_t`` for t = 1..T (float64)."""
    if steps == 1:
        return np.array([beta_start], dtype=np.float64)
    return np.linspace(beta_start, beta_end, steps, dtype=np.float64)


def alpha_bars(steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> np.ndarray:
    """Cumulative products ``alphabar_t = prod_{i<=t} (1 - beta_i)`` for t = 1..T."""
    return np.cumprod(1.0 - betas(steps, beta_start, beta_end))


def sigmas(steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> np.ndarray:
    """Noise levels ``sigma_t = sqrt(1 - alphabar_t)`` for t = 1..T (increasing in t)."""
    return np.sqrt(1.0 - alpha_bars(steps, beta_start, beta_end))


def reverse_sigmas(steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> np.ndarray:
    """Noise levels in the order the solver visits them: sigma_T first, sigma_1 last."""
    return sigmas(steps, beta_start, beta_end)[::-1].copy()
