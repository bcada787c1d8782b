"""Issue #28, batch: outputs planned before any work, records that never crash, honest cancels."""

import errno
import sys
import threading

import numpy as np
import pytest

from napari_selfdiff import InputError
from napari_selfdiff.batch.files import write_record
from napari_selfdiff.batch.runner import process_file, run
from napari_selfdiff.cli.app import main
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.io.tiff import write_tiff

distributed = pytest.importorskip("distributed")

CLASSIC = DeblurConfig.preset("tiny").replace(method="classic")


def _images(folder, names):
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    return [write_tiff(folder / name, rng.random((24, 24)).astype(np.float32)) for name in names]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
        ) as c,
        distributed.Client(c) as connected,
    ):
        yield connected


def _run(inputs, out, client, **options):
    return run(inputs, out, 5, CLASSIC, device="cpu", client=client, **options)


def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path):
    _images(tmp_path / "d", ["cell.tif", "cell_psf.tif"])  # the user's own cell_psf.tif
    with pytest.raises(InputError, match=r"output .*cell_psf.tif' of .*cell.tif' is also an input"):
        run(str(tmp_path / "d" / "*.tif"), tmp_path / "d", 5, CLASSIC, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["cell.tif", "cell_psf.tif"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("img0_psf.tif", b"the user's own file"),
        ("img0.json", b"[]"),
        ("img0.json", b'"valid JSON, not an object"'),
        ("img0.json", b"[" * 100_000),
    ],
)
def test_a_file_the_batch_did_not_write_fails_only_its_input_unless_overwrite(
    tmp_path, client, name, content
):
    _images(tmp_path / "d", ["img0.tif", "img1.tif"])
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(content)
    records = _run(str(tmp_path / "d" / "*.tif"), out, client)  # issue 41: not the whole batch
    assert [r["status"] for r in records] == ["failed", "done"]
    assert f"{name}' exists and this batch did not write it" in records[0]["error"]
    assert (out / name).read_bytes() == content  # never replaced
    assert {p.name for p in out.iterdir()} == {
        name,
        "img1.json",
        "img1_deblurred.tif",
        "img1_psf.tif",
        "summary.csv",
        "summary.md",
    }  # nothing else of img0's: no record that would later claim the user's file
    summary = (out / "summary.md").read_text()
    assert "| img0.tif | failed |" in summary and "this batch did not write it" in summary
    records = _run(str(tmp_path / "d" / "*.tif"), out, client, overwrite=True)
    assert [r["status"] for r in records] == ["done", "skipped"]


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    _images(tmp_path / "d", ["img0.tif"])

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("napari_selfdiff.io.outputs.new_temporary", read_only)
    with pytest.raises(PermissionError, match=r"is not writable \(Read-only file system\)"):
        run(str(tmp_path / "d" / "*.tif"), tmp_path / "out", 5, CLASSIC)


def test_a_second_run_into_the_input_folder_leaves_out_its_own_outputs(tmp_path, client, caplog):
    _images(tmp_path / "d", ["cell.tif"])
    pattern = str(tmp_path / "d" / "*.tif")
    assert [r["status"] for r in _run(pattern, tmp_path / "d", client)] == ["done"]
    again = _run(pattern, tmp_path / "d", client)
    assert [(r["input"].rsplit("/", 1)[1], r["status"]) for r in again] == [("cell.tif", "skipped")]
    assert "leaving out 2 file(s) an earlier run of this batch wrote" in caplog.text
    names = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert names == [
        "cell.json",
        "cell.tif",
        "cell_deblurred.tif",
        "cell_psf.tif",
        "summary.csv",
        "summary.md",
    ]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_directory_where_a_record_goes_fails_only_its_file(tmp_path, client, overwrite):
    _images(tmp_path / "d", ["img0.tif", "img1.tif", "img2.tif"])
    out = tmp_path / "out"
    (out / "img1.json" / "kept").mkdir(parents=True)  # the record's place is taken by a directory
    records = _run(str(tmp_path / "d" / "*.tif"), out, client, overwrite=overwrite)
    assert [r["status"] for r in records] == ["done", "failed", "done"]
    assert records[1]["error"].startswith("IsADirectoryError: ") and "is a directory" in records[1]["error"]
    assert "seconds" not in records[1]  # refused before any work, not after a solve
    assert (out / "img1.json" / "kept").is_dir()
    assert not (out / "img1_deblurred.tif").exists() and not (out / "img1_psf.tif").exists()
    assert not list(out.glob(".*")) and "| img1.tif | failed |" in (out / "summary.md").read_text()


def test_a_full_disk_while_writing_the_record_leaves_no_output(tmp_path, monkeypatch):
    (source,) = _images(tmp_path / "d", ["img0.tif"])

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("napari_selfdiff.batch.worker.write_record", disk_full)
    record = process_file(source, tmp_path / "out", 5, CLASSIC.to_dict(), device="cpu")
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_concurrent_record_writes_never_collide(tmp_path):
    target, failures = tmp_path / "img0.json", []

    def writer(index):
        for _ in range(300):
            try:
                write_record(target, {"writer": index})
            except OSError as error:  # a fixed temporary name raced: FileNotFoundError
                failures.append(error)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and [p.name for p in tmp_path.iterdir()] == ["img0.json"]


def test_a_cancel_reports_exactly_the_outputs_written(tmp_path, client):
    _images(tmp_path / "d", [f"img{i}.tif" for i in range(3)])
    out, cancel = tmp_path / "out", threading.Event()
    with pytest.raises(Cancelled, match="cancelled after") as caught:
        _run(str(tmp_path / "d" / "*.tif"), out, client, cancel=cancel, progress=lambda *_: cancel.set())
    listed = str(caught.value).split("outputs written by this run: ")[1].split(" (tasks")[0].split(", ")
    assert str(out / "img0_deblurred.tif") in listed and all((tmp_path / name).exists() for name in listed)
    planned = {out / f"img{i}{end}" for i in range(3) for end in ("_deblurred.tif", "_psf.tif", ".json")}
    assert {str(p) for p in planned if p.exists()} >= set(listed)


def test_cli_batch_cancel_prints_what_exists(monkeypatch, tmp_path, capsys):
    def cancelled(*args, **kwargs):
        raise Cancelled("the batch was cancelled after 1 of 3 file(s); outputs written by this run: a.tif")

    monkeypatch.setattr("napari_selfdiff.batch.runner.run", cancelled)
    assert (
        main(["batch", str(tmp_path / "*.tif"), "--out", str(tmp_path), "-k", "5", "--preset", "tiny"]) == 130
    )
    err = capsys.readouterr().err
    assert "outputs written by this run: a.tif" in err and "no output was written" not in err


def test_the_dashboard_listens_on_loopback_only(monkeypatch):
    from napari_selfdiff.batch import cluster as _batch_cluster

    seen = {}
    monkeypatch.setattr(distributed, "LocalCluster", lambda **options: seen.update(options))
    monkeypatch.setattr(
        distributed, "SpecCluster", lambda scheduler, workers: seen.update(scheduler["options"])
    )
    for gpus in (0, 1):
        monkeypatch.setattr(_batch_cluster, "gpu_count", lambda n=gpus: n)
        seen.clear()
        _batch_cluster.start_cluster(1)
        assert seen["dashboard_address"] == "127.0.0.1:0" and seen["host"] == "127.0.0.1"
    _batch_cluster.start_cluster(1, dashboard_address=":8787")
    assert seen["dashboard_address"] == ":8787"


def test_batch_without_dask_is_an_error_line(monkeypatch, tmp_path, capsys):
    _images(tmp_path / "d", ["img0.tif"])
    monkeypatch.setitem(sys.modules, "distributed", None)
    command = ["batch", str(tmp_path / "d" / "*.tif"), "--out", str(tmp_path / "out"), "-k", "5"]
    assert main([*command, "--preset", "tiny"]) == 2
    assert (
        "error: batch runs on Dask distributed, which is not installed: pip install"
        in capsys.readouterr().err
    )
