"""P independent copies of a network evaluated in one batched call (plane batching)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["Ensemble"]


class Ensemble:
    """P independent copies of a network evaluated in one batched call.

    One copy is called directly, after ``prepare`` (the execution plan's layout and
    compilation, for the image network). Several are stacked with
    :func:`torch.func.stack_module_state` and evaluated with :func:`torch.vmap` over
    :func:`torch.func.functional_call`, so P planes cost one pass of batched kernels
    instead of P passes. Adam is elementwise, so one Adam over the stacked parameters is
    exactly P independent Adams, and the summed loss gives each copy only its own gradient.
    """

    def __init__(
        self,
        modules: list[nn.Module],
        prepare: Callable[[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = lambda module: module,
    ) -> None:
        if len(modules) == 1:
            self.single: Callable[[torch.Tensor], torch.Tensor] | None = prepare(modules[0])
            self.parameters = list(modules[0].parameters())
            return
        self.single = None
        params, buffers = torch.func.stack_module_state(modules)
        base = copy.deepcopy(modules[0]).to("meta")

        def one(
            p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor, **kwargs
        ) -> torch.Tensor:
            return torch.func.functional_call(base, (p, b), (x,), kwargs)

        self.state = (params, buffers)
        self.batched = torch.vmap(one)
        self.parameters = list(params.values())

    def __call__(self, inputs: torch.Tensor, **kwargs) -> torch.Tensor:
        """Evaluate copy p on ``inputs[p]``; inputs and outputs carry a leading P axis.

        Keyword arguments go unbatched to every copy's ``forward``.
        """
        if self.single is not None:
            return self.single(inputs[0], **kwargs)[None]
        return self.batched(*self.state, inputs, **kwargs)

    def requires_grad_(self, requires_grad: bool) -> None:
        for parameter in self.parameters:
            parameter.requires_grad_(requires_grad)
