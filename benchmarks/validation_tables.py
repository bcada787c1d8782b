"""Tables of the validation benchmark (:mod:`benchmarks.validation`): gains by group, worst cases.

The gain of a method on a case is its PSNR minus the blurred input's PSNR on that case (dB,
both at their own best shift). Each group's cell gives the mean gain, the worst gain and how
many cases the method made worse (gain < 0) and clearly worse (gain < -0.5 dB).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .validation_cases import ALL_NOISE_GROUPS, Case
from .validation_methods import APPLIES, ORACLES

HARM = -0.5  # dB: "clearly worse than the input"


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    gains = [r["gain"] for r in rows]
    mncs = [r["mnc"] for r in rows if r["mnc"] is not None]
    return {
        "n": len(rows),
        "gain_mean": float(np.mean(gains)),
        "gain_worst": float(min(gains)),
        "below_input": sum(g < 0 for g in gains),
        "below_harm": sum(g < HARM for g in gains),
        "psnr": float(np.mean([r["psnr"] for r in rows])),
        "ssim": float(np.mean([r["ssim"] for r in rows])),
        "mnc": float(np.mean(mncs)) if mncs else None,
        "seconds": float(np.mean([r["seconds"] for r in rows])),
    }


def summarise(records: list[dict[str, Any]], key: str, order: list[str]) -> dict[str, dict[str, Any]]:
    """``{group: {method: stats}}`` of the records grouped by ``key`` (groups in ``order``, then "all")."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    table: dict[str, dict[str, Any]] = {}
    for group in [*order, "all"]:
        rows = [r for r in records if group == "all" or r[key] == group]
        by_method = {m: [r for r in rows if r["method"] == m] for m in methods}
        cells = {m: _stats(chosen) for m, chosen in by_method.items() if chosen}
        if cells:
            table[group] = cells
    return table


def _gain_cell(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "not run"
    return (
        f"{stats['gain_mean']:+.2f} / {stats['gain_worst']:+.2f} / "
        f"{stats['below_input']} / {stats['below_harm']} of {stats['n']}"
    )


def _quality_cell(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "not run"
    mnc = f"{stats['mnc']:.3f}" if stats["mnc"] is not None else "-"
    return f"{stats['ssim']:.3f} / {mnc} / {stats['seconds']:.2f}"


def _table(
    title: str,
    table: dict[str, dict[str, Any]],
    methods: list[str],
    cell: Callable[[dict | None], str],
    first: str,
) -> list[str]:
    heads = [f"{m} (oracle)" if m in ORACLES else m for m in methods]
    lines = [
        title,
        "",
        f"| {first} | input PSNR | " + " | ".join(heads) + " |",
        "|---" * (len(methods) + 2) + "|",
    ]
    for group, cells in table.items():
        blurred = cells.get("blurred")
        base = f"{blurred['psnr']:.2f} ({blurred['n']})" if blurred else "-"
        lines.append(f"| {group} | {base} | " + " | ".join(cell(cells.get(m)) for m in methods) + " |")
    return [*lines, ""]


def worst_cases(records: list[dict[str, Any]], methods: list[str], count: int = 5) -> dict[str, list]:
    """The ``count`` cases of lowest gain of each method: ``[(case, gain), ...]``."""
    return {
        m: [
            (r["case"], r["gain"])
            for r in sorted((r for r in records if r["method"] == m), key=lambda r: r["gain"])
        ][:count]
        for m in methods
    }


def write_tables(
    records: list[dict[str, Any]],
    methods: list[str],
    cases: list[Case],
    out: Path,
    stem: str,
    options: dict[str, Any],
) -> str:
    """Write ``<stem>.md`` and ``<stem>.json`` in ``out`` and return the markdown.

    ``records`` are the cached records (``blurred`` among them for every case that counts);
    a method's record on a case without a ``blurred`` record is left out.
    """
    from .levin import _environment

    base = {r["case"]: r["psnr"] for r in records if r["method"] == "blurred"}
    records = [{**r, "gain": r["psnr"] - base[r["case"]]} for r in records if r["case"] in base]
    shown = [m for m in methods if m != "blurred"]
    groups = [f"{kind}{level:g}" for kind, level in ALL_NOISE_GROUPS]
    by_noise = summarise(records, "noise_group", groups)
    by_scene = summarise(records, "scene_family", sorted({c.scene_family for c in cases}))
    by_kernel = summarise(records, "kernel_family", sorted({c.kernel_family for c in cases}))
    worst = worst_cases(records, shown)
    done = {(r["method"], r["case"]) for r in records}
    missing = {m: sum((m, c.name) not in done for c in cases if APPLIES.get(m, bool)(c)) for m in methods}
    gains = f"mean gain / worst gain (dB) / cases below the input / below {HARM} dB, of n"
    note = ", ".join(f"{m} {k}" for m, k in missing.items() if k)
    lines = [
        f"# Validation benchmark, half `{options['half']}`",
        "",
        f"{len(cases)} cases of `--cases {options['cases']}`; command `{options['command_line']}`. "
        "Gains are the PSNR over the blurred input's, both at the best shift within K // 2 with a "
        "border of K // 2 ignored. Oracle methods read the true kernel and noise."
        + (f" Not run, left out: {note}." if note else ""),
        "",
        *_table(f"## By noise group: {gains}", by_noise, shown, _gain_cell, "noise group"),
        *_table(
            "## By noise group: mean SSIM / kernel MNC / seconds per case",
            by_noise, methods, _quality_cell, "noise group",
        ),
        *_table(f"## By scene family: {gains}", by_scene, shown, _gain_cell, "scene family"),
        *_table(f"## By kernel family: {gains}", by_kernel, shown, _gain_cell, "kernel family"),
        "## Worst 5 cases per method (gain dB)",
        "",
        "| method | worst cases |",
        "|---|---|",
        *(f"| {m} | " + ", ".join(f"{c} {g:+.2f}" for c, g in rows) + " |" for m, rows in worst.items()),
        "",
    ]  # fmt: skip
    markdown = "\n".join(lines)
    result = {
        "options": options,
        "environment": _environment("cpu"),
        "harm_db": HARM,
        "by_noise_group": by_noise,
        "by_scene_family": by_scene,
        "by_kernel_family": by_kernel,
        "worst": worst,
        "missing": missing,
        "records": records,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    return markdown
