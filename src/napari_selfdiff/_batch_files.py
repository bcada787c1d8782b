"""The files of a batch: inputs, outputs, records and the summary (no Dask, no torch)."""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .config import DeblurConfig, Scale

__all__ = ["expand_inputs", "is_complete", "output_paths", "write_summary"]

RECORD_VERSION = 1


def expand_inputs(patterns: str | Sequence[str]) -> list[Path]:
    """Files matching glob patterns (or plain paths), sorted and de-duplicated."""
    patterns = [patterns] if isinstance(patterns, (str, os.PathLike)) else list(patterns)
    files: dict[str, Path] = {}
    for pattern in patterns:
        matches = glob.glob(str(pattern), recursive=True) or (
            [str(pattern)] if Path(pattern).exists() else []
        )
        for match in matches:
            path = Path(match)
            if path.is_file():
                files[str(path.resolve())] = path
    if not files:
        raise FileNotFoundError(f"no input files match {patterns}")
    return [files[key] for key in sorted(files)]


def _checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def output_paths(path: Path, out_dir: Path) -> dict[str, Path]:
    """The deblurred image, PSF and record written for ``path`` (always TIFF, full precision)."""
    from .io.formats import image_stem

    stem = image_stem(path)
    return {
        "image": out_dir / f"{stem}_deblurred.tif",
        "psf": out_dir / f"{stem}_psf.tif",
        "record": out_dir / f"{stem}.json",
    }


def _check_distinct_outputs(files: Sequence[Path], out_dir: Path) -> None:
    """Refuse inputs whose outputs would overwrite each other (``a/x.tif`` and ``b/x.png``)."""
    claimed: dict[Path, Path] = {}
    for path in files:
        target = output_paths(path, out_dir)["image"]
        if target in claimed:
            raise ValueError(
                f"{str(claimed[target])!r} and {str(path)!r} would both write {str(target)!r}: "
                "rename one or run them into different output folders"
            )
        claimed[target] = path


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(json.dumps(data, indent=1, default=str))
    os.replace(temporary, path)


def is_complete(
    path: Path,
    out_dir: Path,
    kernel_size: int | tuple[int, int, int],
    config: DeblurConfig,
    seed: int,
    scale: Scale = "auto",
) -> bool:
    """True when ``path`` was already processed with these parameters and its outputs exist."""
    paths = output_paths(path, out_dir)
    if not all(p.exists() for p in paths.values()):
        return False
    try:
        record = json.loads(paths["record"].read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (
        record.get("status") == "done"
        and record.get("kernel_size")
        == (list(kernel_size) if isinstance(kernel_size, tuple) else kernel_size)
        and record.get("seed") == seed
        and record.get("scale") == scale
        and record.get("config") == json.loads(json.dumps(config.to_dict()))
        and record.get("input_sha256") == _checksum(path)
    )


def write_summary(records: Iterable[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    """``summary.csv`` and ``summary.md`` with one row per file."""
    records = list(records)
    columns = ["input", "status", "seconds", "device", "method", "reliability", "deconvolved", "error"]
    csv_path = Path(out_dir) / "summary.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    lines = [
        "| file | status | seconds | device | method | PSF reliability | deconvolved | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in records:
        reliability = record.get("reliability")
        lines.append(
            f"| {Path(record['input']).name} | {record['status']} | {record.get('seconds', '')} | "
            f"{record.get('device', '')} | {record.get('method', '')} | "
            f"{'' if reliability is None else f'{reliability:.2f}'} | {record.get('deconvolved', '')} | "
            f"{(record.get('error') or '').replace('|', '/')} |"
        )
    md_path = Path(out_dir) / "summary.md"
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path
