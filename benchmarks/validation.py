"""Validation benchmark ("do no harm", issue #27): every method on a broad seeded case set.

Usage (from the repository root)::

    python -m benchmarks.validation run --methods blurred wiener_oracle uwiener_oracle --half all
    python -m benchmarks.validation run --methods selfdiff_default --half tuning --limit 3
    python -m benchmarks.validation table --methods wiener_oracle selfdiff_default --half check

``run`` runs the (method, case) pairs missing from the cache, then writes the tables; ``table``
writes them from the cache alone (pairs not run are left out and counted). The cases
(:mod:`benchmarks.validation_cases`) are generated from their seeds: 64 by default
(``--cases``), the ``tuning`` half (even seeds) for choosing settings and the ``check`` half
(odd seeds) for confirming them. ``--limit N`` takes N cases of the half, one noise group after
another (so 3 is gaussian0.0025, poisson30, gaussian0.01). Methods are in
:mod:`benchmarks.validation_methods`.

Each result is cached in ``--cache`` (default ``.cache/validation/<method>/<case>.npz``, git-ignored)
with the restored image, the estimated PSF, the seconds it took and its scores, keyed by the
case's fingerprint (a hash of its observation and kernel): a changed case generator reruns it; after
changing a method, delete its folder in the cache.

Scores follow :mod:`benchmarks.levin`: PSNR/SSIM on the sharp reference at the best integer shift
within half the kernel side, ignoring a border of half the kernel side, and kernel MNC for methods
that estimate a PSF. The tables report the gain over the blurred input in dB by noise group, scene
family and kernel family, with the worst case and the share of cases made worse.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from .levin import score
from .validation_cases import ALL_NOISE_GROUPS, Case, describe, make_cases
from .validation_methods import APPLIES, METHODS
from .validation_tables import write_tables

DEFAULT_METHODS = ["blurred", "wiener_oracle", "wiener_best", "uwiener_oracle"]


def spread(cases: list[Case], limit: int) -> list[Case]:
    """``limit`` cases taken one noise group after another (all cases when ``limit`` is 0)."""
    if not limit:
        return cases
    order = [f"{kind}{level:g}" for kind, level in ALL_NOISE_GROUPS]
    groups = [[c for c in cases if c.noise_group == g] for g in order]
    interleaved = [c for row in itertools.zip_longest(*groups) for c in row if c is not None]
    return interleaved[:limit]


def cache_path(cache: Path, method: str, case: Case) -> Path:
    return cache / method / f"{case.name}.npz"


def load(cache: Path, method: str, case: Case) -> dict[str, Any] | None:
    """The cached record of ``method`` on ``case`` (None: not run, or run on another case)."""
    path = cache_path(cache, method, case)
    if not path.exists():
        return None
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
    return meta if meta["fingerprint"] == case.fingerprint() else None


def run_one(method: str, case: Case, cache: Path, threads: int) -> dict[str, Any]:
    """Run ``method`` on ``case``, store its image, PSF, time and scores, return the record."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    start = time.perf_counter()
    image, psf = METHODS[method](case)
    seconds = time.perf_counter() - start
    image = np.asarray(image, np.float64)
    if image.shape != case.blurred.shape:
        raise RuntimeError(f"{method} returned shape {image.shape} for {case.name} {case.blurred.shape}")
    meta = {
        "method": method, **describe(case), "fingerprint": case.fingerprint(),
        "seconds": seconds, **score(case, image, psf),
    }  # fmt: skip
    path = cache_path(cache, method, case)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"image": image.astype(np.float32), "meta": np.array(json.dumps(meta))}
    if psf is not None:
        arrays["psf"] = np.asarray(psf, np.float64)
    np.savez_compressed(path, **arrays)
    return meta


def _results(
    todo: list[tuple[str, Case]], cache: Path, jobs: int
) -> Iterator[tuple[str, Case, dict[str, Any]]]:
    """Run each (method, case) here or in ``jobs`` spawned processes sharing the CPU cores."""
    if jobs <= 1:
        for method, case in todo:
            yield method, case, run_one(method, case, cache, 0)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(run_one, m, c, cache, threads): (m, c) for m, c in todo}
        for future in as_completed(futures):
            method, case = futures[future]
            yield method, case, future.result()


def _selected(args: argparse.Namespace) -> tuple[list[Case], list[str]]:
    cases = make_cases(args.cases, args.half, regime=args.regime_cases, sealed=args.sealed_cases)
    cases = spread(cases, args.limit)
    methods = list(dict.fromkeys(["blurred", *args.methods]))  # the gains need the input's scores
    return cases, methods


def cmd_run(args: argparse.Namespace) -> None:
    cases, methods = _selected(args)
    cache = Path(args.cache)
    todo = [(m, c) for m in methods for c in cases if APPLIES.get(m, bool)(c) and load(cache, m, c) is None]
    print(f"{len(cases)} cases x {len(methods)} methods: {len(todo)} to run", flush=True)
    for index, (method, case, record) in enumerate(_results(todo, cache, args.jobs), 1):
        mnc = f"{record['mnc']:.3f}" if record["mnc"] is not None else "-"
        print(
            f"[{index}/{len(todo)}] {method:18s} {case.name:46s} PSNR {record['psnr']:6.2f} "
            f"SSIM {record['ssim']:.3f} MNC {mnc} {record['seconds']:6.1f} s",
            flush=True,
        )
    cmd_table(args)


def cmd_table(args: argparse.Namespace) -> None:
    cases, methods = _selected(args)
    cache = Path(args.cache)
    records = [r for m in methods for c in cases if (r := load(cache, m, c)) is not None]
    stem = args.name or f"validation_{args.half}" + (f"_limit{args.limit}" if args.limit else "")
    print(write_tables(records, methods, cases, Path(args.out), stem, vars(args)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.validation", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=DEFAULT_METHODS)
    common.add_argument("--half", choices=["tuning", "check", "sealed", "all"], default="tuning")
    common.add_argument("--cases", type=int, default=64, help="broad cases 0 .. N-1 (both halves)")
    common.add_argument("--regime-cases", type=int, default=16, help="regime cases (both halves)")
    common.add_argument("--sealed-cases", type=int, default=24, help="cases of the sealed part")
    common.add_argument(
        "--limit", type=int, default=0, help="only N cases of the half, spread over noise groups"
    )
    common.add_argument("--cache", default=".cache/validation", help="results cache (git-ignored)")
    common.add_argument("--out", default="docs/benchmarks/validation")
    common.add_argument("--name", help="stem of the table files (default validation_<half>[_limit<N>])")
    run = commands.add_parser("run", parents=[common], help="run what the cache lacks, then write the tables")
    run.add_argument("--jobs", type=int, default=1, help="worker processes (the cores are shared among them)")
    commands.add_parser("table", parents=[common], help="write the tables from the cache alone")
    args = parser.parse_args(argv)
    args.command_line = "python -m benchmarks.validation " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    {"run": cmd_run, "table": cmd_table}[args.command](args)


if __name__ == "__main__":
    main()
