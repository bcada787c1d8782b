"""Execution options of a solve: precision, layout, compilation, fused optimiser, cuDNN flags.

Each option in :class:`~napari_selfdiff.config.deblur.ComputeConfig` changes how the arithmetic
runs, never the algorithm. They are applied here, in one place, so the solver reads the
same whatever the path, and the speed benchmark compares the reference path
(:meth:`ComputeConfig.reference`) with the optimised one on the same code.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from napari_selfdiff.config import ComputeConfig

__all__ = ["ExecutionPlan", "IterationRunner", "batch_planes", "plan_execution"]

#: Eager iterations run on a side stream before a capture, as CUDA graphs require (they
#: initialise cuDNN/cuFFT workspaces and the optimiser state). They are real iterations.
GRAPH_WARMUP = 3


@dataclass(frozen=True)
class ExecutionPlan:
    """The options of a :class:`ComputeConfig` resolved for one device.

    Attributes
    ----------
    device : torch.device
        Where the solve runs.
    autocast_dtype : torch.dtype or None
        dtype of the U-Net under autocast, or None for float32.
    allow_tf32 : bool
        Whether float32 convolutions and matrix products may use TF32.
    channels_last : bool
        Whether feature maps are stored NHWC.
    compile_mode : str or None
        ``torch.compile`` mode of the U-Net, or None for eager.
    fused_optimizer : bool
        Whether Adam runs fused.
    cudnn_benchmark : bool
        Whether cuDNN autotunes its algorithms.
    cuda_graph : bool
        Whether inner iterations are captured and replayed as CUDA graphs.
    batch_planes : int
        Planes of a per-plane stack solved together (before the memory check).
    """

    device: torch.device
    autocast_dtype: torch.dtype | None
    allow_tf32: bool
    channels_last: bool
    compile_mode: str | None
    fused_optimizer: bool
    cudnn_benchmark: bool
    cuda_graph: bool
    batch_planes: int

    def describe(self) -> dict[str, Any]:
        """JSON-ready record of the resolved options (written into the result's provenance)."""
        return {
            "precision": "bfloat16"
            if self.autocast_dtype is torch.bfloat16
            else ("tf32" if self.allow_tf32 else "float32"),
            "channels_last": self.channels_last,
            "compile": self.compile_mode or "off",
            "fused_optimizer": self.fused_optimizer,
            "cudnn_benchmark": self.cudnn_benchmark,
            "cuda_graph": self.cuda_graph,
            "batch_planes": self.batch_planes,
        }

    @contextlib.contextmanager
    def backend_flags(self) -> Iterator[None]:
        """cuDNN/TF32 flags for a stretch of work, restored afterwards.

        Used around code that does not yield, so the caller's own torch work between
        progress events never runs under our flags.
        """
        if self.device.type != "cuda":
            yield
            return
        matmul_before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.allow_tf32
        try:
            with torch.backends.cudnn.flags(
                enabled=True,
                benchmark=self.cudnn_benchmark,
                deterministic=False,
                allow_tf32=self.allow_tf32,
            ):
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = matmul_before

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast context of the U-Net forward pass (a no-op in float32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        # No cast cache: each weight is used once per forward, and CUDA graphs forbid it.
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype, cache_enabled=False)

    def prepare_network(self, network: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """Move ``network`` to the plan's layout and wrap it in ``torch.compile`` if asked."""
        if self.channels_last:
            network.to(memory_format=torch.channels_last)
        if self.compile_mode is None:
            return network
        return torch.compile(network, mode=self.compile_mode, dynamic=False)

    def prepare_input(self, tensor: torch.Tensor) -> torch.Tensor:
        """Lay out a (B, C, H, W) network input to match the network."""
        if self.channels_last:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def mark_step(self) -> None:
        """Tell CUDA-graph trees that a new training iteration starts (reduce-overhead mode)."""
        if self.compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()

    def optimiser(self, groups: Iterable[dict[str, Any]]) -> torch.optim.Optimizer:
        """Adam over the parameter groups, fused into one kernel where the plan says so."""
        options: dict[str, Any] = {}
        if self.fused_optimizer:
            options["fused"] = True
        if self.cuda_graph:
            options["capturable"] = True  # step counts on the device, updated inside the graph
        return torch.optim.Adam(groups, **options)


@functools.cache
def _side_stream(device: torch.device) -> torch.cuda.Stream:
    """One warm-up stream per device for the whole process.

    A new stream per capture would leave a cuBLAS workspace behind for each of the pooled
    streams it cycles through (about 1 GB after a few dozen runs, measured on an H100).
    """
    return torch.cuda.Stream(device)


class IterationRunner:
    """Runs inner iterations eagerly or by replaying captured CUDA graphs.

    ``compute_loss(variant)`` must read its inputs only from tensors that stay at fixed
    addresses (the solver copies each outer step's noisy inputs into such buffers), so
    a captured graph sees new values on every replay. ``variant`` names the graph
    (e.g. kernel learning or frozen); one is captured per variant, after
    :data:`GRAPH_WARMUP` eager iterations on a side stream.

    Parameters
    ----------
    plan : ExecutionPlan
        Resolved execution options.
    optimiser : torch.optim.Optimizer
        Adam over the trained parameters (capturable when graphs are used).
    compute_loss : callable
        ``compute_loss(variant) -> loss`` builds the scalar loss of one iteration.
    """

    def __init__(
        self,
        plan: ExecutionPlan,
        optimiser: torch.optim.Optimizer,
        compute_loss: Callable[[Any], torch.Tensor],
    ) -> None:
        self.plan = plan
        self.optimiser = optimiser
        self.compute_loss = compute_loss
        self.graphs: dict[Any, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}

    def _eager(self, variant: Any) -> torch.Tensor:
        self.optimiser.zero_grad(set_to_none=True)
        loss = self.compute_loss(variant)
        loss.backward()
        self.optimiser.step()
        return loss.detach()

    def _capture(self, variant: Any) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        self.optimiser.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss = self.compute_loss(variant)
            loss.backward()
            self.optimiser.step()
        return graph, loss.detach()

    def run(self, count: int, variant: Any, before_each: Callable[[], None]) -> torch.Tensor:
        """Run ``count`` iterations; return the last loss on the device (no synchronisation)."""
        loss = None
        done = 0
        if self.plan.cuda_graph and variant not in self.graphs and count > GRAPH_WARMUP:
            side = _side_stream(self.plan.device)
            side.wait_stream(torch.cuda.current_stream(self.plan.device))
            with torch.cuda.stream(side):
                while done < min(GRAPH_WARMUP, count):
                    before_each()
                    loss = self._eager(variant)
                    done += 1
            torch.cuda.current_stream(self.plan.device).wait_stream(side)
            self.graphs[variant] = self._capture(variant)
        while done < count:
            before_each()
            if self.plan.cuda_graph and variant in self.graphs:
                graph, loss = self.graphs[variant]
                graph.replay()
            else:
                loss = self._eager(variant)
            done += 1
        assert loss is not None
        return loss


def plan_execution(compute: ComputeConfig, device: torch.device) -> ExecutionPlan:
    """Resolve ``compute`` for ``device``: layout, fused Adam and cuDNN flags act on CUDA only.

    ``precision="auto"`` becomes TF32 on CUDA devices with TF32 tensor cores (compute
    capability 8.0 or later) and float32 elsewhere (the bfloat16 trade-off measured on an
    H100 is in ``docs/benchmarks/speed_cuda.md``). An explicit ``"bfloat16"`` and an
    explicit ``compile`` mode are honoured on every device (CPU autocast supports
    bfloat16; compiling on CPU needs a C++ compiler). ``batch_planes="auto"`` becomes 1 on
    CUDA and 8 elsewhere (measurements in :class:`~napari_selfdiff.config.deblur.ComputeConfig`).
    """
    cuda = device.type == "cuda"
    precision = compute.precision
    if precision == "auto":
        precision = "tf32" if cuda and torch.cuda.get_device_capability(device)[0] >= 8 else "float32"
    return ExecutionPlan(
        device=device,
        autocast_dtype=torch.bfloat16 if precision == "bfloat16" else None,
        allow_tf32=precision == "tf32",
        channels_last=compute.channels_last and cuda,
        compile_mode=None if compute.compile == "off" else compute.compile,
        fused_optimizer=compute.fused_optimizer and cuda,
        cudnn_benchmark=compute.cudnn_benchmark and cuda,
        cuda_graph=compute.cuda_graph and cuda,
        batch_planes=batch_planes(compute, device),
    )


def batch_planes(compute: ComputeConfig, device: torch.device) -> int:
    """``compute.batch_planes``, with "auto" as 1 on CUDA and 8 elsewhere (no CUDA call)."""
    if compute.batch_planes != "auto":
        return compute.batch_planes
    return 1 if device.type == "cuda" else 8
