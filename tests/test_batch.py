"""Batch over many image files on a real Dask cluster (processes on loopback)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from napari_selfdiff import InputError
from napari_selfdiff.batch.runner import process_file, run
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.io.tiff import read_tiff, write_tiff

distributed = pytest.importorskip("distributed")

TINY = DeblurConfig.preset("tiny").replace(
    method="selfdiff", **{"schedule.steps": 2, "schedule.inner_steps": 3}
)


def _inputs(folder, n=4, size=24):
    rng = np.random.default_rng(0)
    paths = []
    for index in range(n):
        paths.append(
            write_tiff(
                folder / f"img{index}.tif", rng.random((size, size)).astype(np.float32), pixel_size=(0.2, 0.2)
            )
        )
    return paths


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        worker_class=distributed.Nanny,
    ) as local:
        yield local


def test_batch_outputs_records_resume_and_failures(tmp_path, cluster):
    data = tmp_path / "data"
    data.mkdir()
    _inputs(data)
    (data / "broken.tif").write_bytes(b"II*\x00 truncated")
    out = tmp_path / "out"
    with distributed.Client(cluster) as client:
        records = run(str(data / "*.tif"), out, 5, TINY, device="cpu", client=client)
        statuses = {os.path.basename(r["input"]): r["status"] for r in records}
        assert statuses == {"broken.tif": "failed", **{f"img{i}.tif": "done" for i in range(4)}}
        broken = next(r for r in records if r["input"].endswith("broken.tif"))
        assert "not a readable TIFF" in broken["error"]
        for index in range(4):
            image = read_tiff(out / f"img{index}_deblurred.tif")
            assert image.data.shape == (24, 24) and image.pixel_size == pytest.approx((0.2, 0.2))
            assert read_tiff(out / f"img{index}_psf.tif").data.shape == (5, 5)
            record = json.loads((out / f"img{index}.json").read_text())
            assert record["status"] == "done" and len(record["input_sha256"]) == 64
            assert record["config"] == json.loads(json.dumps(TINY.to_dict())) and record["seconds"] > 0
        assert (out / "summary.csv").read_text().count("\n") == 6 and "failed" in (
            out / "summary.md"
        ).read_text()
        again = run(str(data / "*.tif"), out, 5, TINY, device="cpu", client=client)
        assert sorted(r["status"] for r in again) == ["failed", *["skipped"] * 4]
        changed = run(str(data / "img0.tif"), out, 5, TINY.replace(lr=0.02), device="cpu", client=client)
        assert changed[0]["status"] == "done"  # a different config is not "complete"
        forced = run(str(data / "img1.tif"), out, 5, TINY, device="cpu", client=client, force=True)
        assert forced[0]["status"] == "done"
        # The multiscale pipeline: full-size outputs, and a different scale is not "complete".
        rescaled = run(str(data / "img2.tif"), out, 7, TINY, device="cpu", client=client, scale=2)
        assert rescaled[0]["status"] == "done" and rescaled[0]["scale"] == 2
        image = read_tiff(out / "img2_deblurred.tif")
        assert image.data.shape == (24, 24) and image.provenance["multiscale"]["factor"] == 2
        assert read_tiff(out / "img2_psf.tif").data.shape == (7, 7)
        again = run(str(data / "img2.tif"), out, 7, TINY, device="cpu", client=client, scale=2)
        assert again[0]["status"] == "skipped"
        auto = run(str(data / "img2.tif"), out, 7, TINY, device="cpu", client=client)[0]
        assert auto["status"] == "done" and auto["scale"] == "auto" and auto["factor"] == 1  # 7 px < 13 px
        # Which image came back: the multiscale pipeline's is Richardson-Lucy's, tiny's the network's.
        assert (rescaled[0]["restore"], auto["restore"]) == ("richardson_lucy", "network")
        assert rescaled[0]["plan"].startswith("PSF at half scale") and auto["plan"].startswith("PSF at full")
        with pytest.raises(InputError, match="`scale` must be 'auto' or an integer >= 1"):
            run(str(data / "img2.tif"), out, 7, TINY, device="cpu", client=client, scale=0)


def test_killed_worker_task_is_retried(tmp_path, cluster):
    data = tmp_path / "data"
    data.mkdir()
    _inputs(data, n=2, size=40)
    slow = TINY.replace(**{"schedule.steps": 30, "schedule.inner_steps": 20})
    with distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        killed = {}

        def kill_one_busy_worker():
            deadline = time.time() + 60
            while time.time() < deadline and not killed:
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    time.sleep(1.0)
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed["address"] = busy[0]
                time.sleep(0.1)

        killer = threading.Thread(target=kill_one_busy_worker)
        killer.start()
        records = run(str(data / "*.tif"), tmp_path / "out", 5, slow, device="cpu", client=client)
        killer.join()
        assert killed, "no worker was busy to kill"
        assert [r["status"] for r in records] == ["done", "done"]


def test_batch_against_separate_scheduler_and_worker_processes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _inputs(data, n=2)
    scheduler_file = tmp_path / "scheduler.json"
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    scheduler = subprocess.Popen(
        [
            os.path.join(bin_dir, "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            ":0",
            "--scheduler-file",
            str(scheduler_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    worker = None
    try:
        deadline = time.time() + 60
        address = None
        while address is None and time.time() < deadline:
            # The scheduler writes the file in place: it can exist before its JSON is whole.
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                time.sleep(0.2)
        assert address is not None, "the scheduler wrote no address within 60 s"
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen(
            [
                os.path.join(bin_dir, "dask"),
                "worker",
                address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        from napari_selfdiff.cli.app import main

        code = main(
            [
                "batch",
                str(data / "*.tif"),
                "--out",
                str(tmp_path / "out"),
                "-k",
                "5",
                "--preset",
                "tiny",
                "--steps",
                "2",
                "--device",
                "cpu",
                "--scheduler",
                address,
            ]
        )
        assert code == 0
        assert sorted(p.name for p in (tmp_path / "out").glob("*_deblurred.tif")) == [
            "img0_deblurred.tif",
            "img1_deblurred.tif",
        ]
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_batch_takes_png_and_refuses_inputs_that_would_write_the_same_outputs(tmp_path):
    from PIL import Image

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    pixels = (np.random.default_rng(1).random((24, 24)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a" / "x.png")
    write_tiff(tmp_path / "b" / "x.tif", pixels)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="would both write"):
        run([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.tif")], out, 5, TINY, device="cpu")
    record = process_file(tmp_path / "a" / "x.png", out, 5, TINY.to_dict(), device="cpu")
    assert record["status"] == "done", record["error"]
    assert read_tiff(out / "x_deblurred.tif").data.shape == (24, 24) and (out / "x.json").exists()
