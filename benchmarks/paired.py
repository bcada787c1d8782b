"""Shared parts of the paired benchmarks (:mod:`benchmarks.refit`, :mod:`benchmarks.restore`).

Each of them runs the slow blind stage once per Levin case, caches what it returns, then
compares several cheap ways of finishing the job on exactly that output, so the differences
they report are the finishing step's alone.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .levin import _environment


def add_arguments(parser: argparse.ArgumentParser, cache_help: str) -> None:
    """The options every paired benchmark takes: data, preset, device, seed, cache and output."""
    parser.add_argument("--data", required=True, help="the Levin set (see its README)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", required=True, help=cache_help)
    parser.add_argument("--out", default="docs/benchmarks")


def cached(
    path: Path, blurred: np.ndarray, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays stored at ``path`` for this ``blurred`` input, or ``compute()``'s, then stored.

    The blurred input is stored with them and compared on reading, so a cache made from other
    data (another crop, another noise draw) is recomputed instead of silently reused.
    """
    if path.exists():
        stored = dict(np.load(path))
        if np.array_equal(stored.pop("blurred"), blurred):
            return stored
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, blurred=blurred, **arrays)
    return arrays


def gain_cells(gains: list[float]) -> str:
    """Markdown cells ``mean (worst, best) | k of n`` of per-case gains in dB."""
    return (
        f"{np.mean(gains):+.2f} ({min(gains):+.2f}, {max(gains):+.2f}) | "
        f"{sum(g > 0 for g in gains)} of {len(gains)}"
    )


def write_report(args: argparse.Namespace, stem: str, result: dict[str, Any], markdown: str) -> None:
    """``<stem>.json`` (the command, the environment and ``result``) and ``<stem>.md`` in ``--out``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"command": vars(args), "environment": _environment(args.device), **result}
    (out / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
