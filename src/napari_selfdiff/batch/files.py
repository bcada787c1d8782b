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

from napari_selfdiff.config import DeblurConfig, Scale

__all__ = [
    "expand_inputs",
    "is_complete",
    "load_record",
    "output_paths",
    "plan_batch",
    "write_record",
    "write_summary",
]

RECORD_VERSION = 1


def expand_inputs(patterns: str | Sequence[str]) -> list[Path]:
    """Files matching glob patterns (or plain paths), sorted and de-duplicated."""
    from napari_selfdiff.io.outputs import resolved

    patterns = [patterns] if isinstance(patterns, (str, os.PathLike)) else list(patterns)
    files: dict[str, Path] = {}
    for pattern in patterns:
        matches = glob.glob(str(pattern), recursive=True) or (
            [str(pattern)] if Path(pattern).exists() else []
        )
        for match in matches:
            path = Path(match)
            if path.is_file():
                files[str(resolved(path))] = path
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
    from napari_selfdiff.io.formats import image_stem

    stem = image_stem(path)
    return {
        "image": out_dir / f"{stem}_deblurred.tif",
        "psf": out_dir / f"{stem}_psf.tif",
        "record": out_dir / f"{stem}.json",
    }


#: Largest record file read (a record is a few kB; anything bigger is not one of ours).
MAX_RECORD_BYTES = 1 << 20


def load_record(path: Path) -> dict[str, Any] | None:
    """The batch record at ``path``, or None when it is missing, unreadable or not ours.

    Ours: a JSON object with this package's ``version`` and an ``input`` path. A foreign or
    malformed file (``[]``, deep nesting, binary) is never read as a record.
    """
    from napari_selfdiff.io.common import load_json

    try:
        if not path.is_file() or path.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = load_json(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    return record if isinstance(record.get("input"), str) else None


def _same_file(a: str | Path, b: Path) -> bool:
    from napari_selfdiff.io.outputs import resolved

    try:
        return resolved(a) == resolved(b)
    except ValueError:  # InputError: a symlink loop is no file of ours
        return False


def _written_by_batch(path: Path, out_dir: Path) -> bool:
    """True when ``path`` is an output an earlier run wrote into ``out_dir`` (its record says so)."""
    from napari_selfdiff.io.formats import image_stem

    stem = image_stem(path)
    for suffix, kind in (("_deblurred", "image"), ("_psf", "psf")):
        if stem.endswith(suffix):
            record = load_record(out_dir / f"{stem.removesuffix(suffix)}.json")
            if record is not None and _same_file(output_paths(Path(record["input"]), out_dir)[kind], path):
                return True
    return False


def plan_batch(
    files: Sequence[Path], out_dir: Path, overwrite: bool = False
) -> tuple[list[Path], list[Path], dict[Path, str]]:
    """Check every output of a batch before any work; return (inputs, own outputs left out, blocked).

    Inputs that are outputs an earlier run of this batch wrote (``x_deblurred.tif``, named by
    the record ``x.json``) are left out, so a second run does not deblur its own results. The
    outputs must be distinct from each other and from every input (never replaced). An input
    whose output exists and is not one this batch wrote for it (its record says so), unless
    ``overwrite``, or is a directory (even with ``overwrite``), is *blocked*: it fails alone,
    with the reason (``"FileExistsError: ..."`` or ``"IsADirectoryError: ..."``) for its row of
    the summary, writes nothing (no record that would later claim the user's file), and the
    other inputs run.

    Raises
    ------
    InputError
        Two inputs would write one output, or an output is an input.
    PermissionError
        ``out_dir`` is not writable.
    """
    from napari_selfdiff.errors import InputError
    from napari_selfdiff.io.outputs import check_writable, resolved

    check_writable(out_dir / "summary.md")
    own = [path for path in files if _written_by_batch(path, out_dir)]
    inputs = [path for path in files if path not in own]
    sources = {resolved(path) for path in inputs}
    claimed: dict[Path, Path] = {}
    blocked: dict[Path, str] = {}
    for path in inputs:
        paths = output_paths(path, out_dir)
        record = load_record(paths["record"])
        ours = record is not None and _same_file(record["input"], path)
        for target in paths.values():
            key = resolved(target)
            if key in claimed:
                raise InputError(
                    f"{str(claimed[key])!r} and {str(path)!r} would both write {str(target)!r}: "
                    "rename one or run them into different output folders"
                )
            claimed[key] = path
            if key in sources:
                raise InputError(
                    f"output {str(target)!r} of {str(path)!r} is also an input: refusing to overwrite "
                    "an input; choose another output folder"
                )
            if path in blocked:
                continue
            if target.is_dir():
                blocked[path] = (
                    f"IsADirectoryError: {str(target)!r} is a directory where this file's output goes; "
                    "move it or choose another output folder"
                )
            elif (target.exists() or target.is_symlink()) and not ours and not overwrite:
                blocked[path] = (
                    f"FileExistsError: {str(target)!r} exists and this batch did not write it (no record "
                    f"of ours for {path.name}); move it, choose another output folder, or pass --overwrite"
                )
    return inputs, own, blocked


def write_record(path: Path, data: dict[str, Any]) -> None:
    """Write a record atomically through a unique temporary (concurrent writers never collide)."""
    from napari_selfdiff.io.common import atomic_write, json_default

    text = json.dumps(data, indent=1, default=json_default)
    atomic_write(path, lambda target: Path(target).write_text(text), overwrite=True)


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
    record = load_record(paths["record"])
    if record is None or not all(p.exists() for p in paths.values()):
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
