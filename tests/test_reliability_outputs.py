"""Issue #28, files: outputs planned before the solve, committed together, readable; error lines."""

import errno
import os
import stat

import numpy as np
import pytest

from napari_selfdiff import InputError
from napari_selfdiff.cli.app import main
from napari_selfdiff.io import outputs as outputs_module
from napari_selfdiff.io.common import atomic_write
from napari_selfdiff.io.formats import read_image
from napari_selfdiff.io.outputs import plan_outputs
from napari_selfdiff.io.tiff import write_tiff
from napari_selfdiff.optics import zernike_psf

TINY = ["-k", "5", "--preset", "tiny", "--method", "classic", "--device", "cpu"]


@pytest.fixture
def image_file(tmp_path):
    return write_tiff(tmp_path / "in.tif", np.random.default_rng(0).random((32, 32)).astype(np.float32))


@pytest.fixture
def no_solve(monkeypatch):
    """Any solve fails the test: the checks under test must come before it."""

    def solve(*args, **kwargs):
        raise AssertionError("the solve ran before the check")

    monkeypatch.setattr("napari_selfdiff.api.iter_deblur", solve)
    monkeypatch.setattr("napari_selfdiff.restoration.nonblind.iter_deconvolve", solve)


def test_an_output_that_is_a_directory_is_refused_before_the_solve(tmp_path, image_file, no_solve, capsys):
    (tmp_path / "out.tif").mkdir()
    assert main(["deblur", str(image_file), *TINY, "-o", str(tmp_path / "out.tif"), "--overwrite"]) == 2
    assert "out.tif' is a directory: name a file inside it" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_refused_before_the_solve(
    tmp_path, image_file, no_solve, monkeypatch, capsys
):
    # As root a chmod'ed folder stays writable; the probe's failure stands for a read-only mount.
    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outputs_module, "new_temporary", read_only)
    for command in (
        ["deblur", str(image_file), *TINY, "-o", str(tmp_path / "o.tif")],
        ["deconvolve", str(image_file), "--psf", str(image_file), "-o", str(tmp_path / "o.tif")],
    ):
        assert main(command) == 2
        assert "is not writable (Read-only file system)" in capsys.readouterr().err


def test_too_little_free_disk_is_refused_before_the_solve(
    tmp_path, image_file, no_solve, monkeypatch, capsys
):
    usage = type("Usage", (), {"free": 3 * 1024**2})
    monkeypatch.setattr(outputs_module.shutil, "disk_usage", lambda folder: usage)
    assert main(["deblur", str(image_file), *TINY, "-o", str(tmp_path / "o.tif")]) == 2
    # The whole sentence (issue 41 quoted it as "about 17 MiB need"): the need and the free space.
    said = capsys.readouterr().err
    assert (
        f"not enough free disk in {str(tmp_path)!r} for the outputs: about 16 MiB needed, 3 MiB free" in said
    )


def test_too_little_free_disk_fails_a_batch_file_with_the_whole_sentence(tmp_path, image_file, monkeypatch):
    from napari_selfdiff.batch.worker import process_file
    from napari_selfdiff.config import DeblurConfig

    usage = type("Usage", (), {"free": 5 * 1024**2})
    monkeypatch.setattr(outputs_module.shutil, "disk_usage", lambda folder: usage)
    config = DeblurConfig.preset("tiny").replace(method="classic").to_dict()
    (tmp_path / "out").mkdir()
    record = process_file(image_file, tmp_path / "out", 5, config, device="cpu")
    assert record["status"] == "failed"
    assert record["error"].endswith("for the outputs: about 16 MiB needed, 5 MiB free")


def test_a_failed_second_write_leaves_no_first_output_and_a_rerun_works(
    tmp_path, image_file, monkeypatch, capsys
):
    import napari_selfdiff.io.formats as tiff  # where the CLI's image and PSF are written

    real = tiff.write_tiff

    def psf_disk_full(path, data, **kwargs):
        if data.shape == (5, 5):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, **kwargs)

    monkeypatch.setattr(tiff, "write_tiff", psf_disk_full)
    out = tmp_path / "img.tif"
    assert main(["deblur", str(image_file), *TINY, "-o", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]  # no image, no temporary
    monkeypatch.setattr(tiff, "write_tiff", real)
    assert main(["deblur", str(image_file), *TINY, "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tif", "img_psf.tif", "in.tif"]


def test_outputs_honour_the_umask(tmp_path, image_file):
    previous = os.umask(0o027)
    try:
        assert main(["deblur", str(image_file), *TINY, "-o", str(tmp_path / "o.tif")]) == 0
        atomic_write(tmp_path / "a.txt", lambda target: open(target, "w").close(), overwrite=False)
    finally:
        os.umask(previous)
    for name in ("o.tif", "o_psf.tif", "a.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


def test_plan_outputs_refuses_inputs_duplicates_and_existing_files(tmp_path, image_file):
    with pytest.raises(InputError, match="is also an input"):
        plan_outputs([image_file], [image_file], overwrite=True)
    with pytest.raises(InputError, match="name the same file twice"):
        plan_outputs([tmp_path / "a.tif", tmp_path / "." / "a.tif"])
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        plan_outputs([image_file])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plan_outputs([tmp_path / "missing" / "a.tif"])
    plan = plan_outputs([tmp_path / "a.tif"])

    def crash_mid_write():
        with plan.writing() as temporary:
            temporary[tmp_path / "a.tif"].write_text("half")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash mid-write"):
        crash_mid_write()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def _deep_json(depth=200_000):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / "six.tif").write_bytes(b"II*\x00\x08\x00") and "six.tif",
            "six.tif is not a readable",
        ),
        (lambda d: os.symlink("loop.tif", d / "loop.tif") or "loop.tif", "a symlink loop"),
        (lambda d: (d / "x.dat").write_bytes(b"x") and "x.dat", "unknown image format"),
    ],
)
def test_unreadable_inputs_become_error_lines(tmp_path, make, message, capsys):
    name = make(tmp_path)
    assert main(["deblur", str(tmp_path / name), *TINY, "-o", str(tmp_path / "o.tif")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-selfdiff deblur: error: ") and message in err and "Traceback" not in err


def test_deeply_nested_provenance_json_does_not_crash_reading(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("napari_selfdiff", _deep_json(), zip=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "deep.png", pnginfo=info)
    assert read_image(tmp_path / "deep.png").provenance == {}
    deep_tiff = tmp_path / "deep.tif"
    write_tiff(deep_tiff, np.zeros((8, 8), np.float32))
    import tifffile

    tifffile.imwrite(deep_tiff, np.zeros((8, 8), np.float32), imagej=True, metadata={"Info": _deep_json()})
    read = read_image(deep_tiff)  # the image is read; only the unreadable provenance is dropped
    assert read.provenance == {} and read.data.shape == (8, 8)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--na", "0.0001"], "FFT grid"),
        (["--na", "0.5", "--z-range", "0", "1e9", "1e-9"], "more than 4096"),
        (["--na", "0.5", "--z-range", "0", "nan", "1"], "finite START <= STOP"),
        (["--na", "0.5", "--zernike", "defocus=nan"], "must be finite"),
    ],
)
def test_cli_psf_refuses_absurd_requests_with_an_error_line(tmp_path, arguments, message, capsys):
    command = ["psf", "--wavelength", "0.5", "--pixel-size", "0.1", *arguments, "-o", str(tmp_path / "p.tif")]
    assert main(command) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.tif").exists()


def test_cli_nan_policy_flag_exists_and_is_named_in_the_message(tmp_path, capsys):
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    image[3, 3] = np.nan
    source = write_tiff(tmp_path / "nan.tif", image)
    assert main(["deblur", str(source), *TINY, "-o", str(tmp_path / "o.tif")]) == 2
    assert "--nan-policy replace" in capsys.readouterr().err
    assert main(["deblur", str(source), *TINY, "--nan-policy", "replace", "-o", str(tmp_path / "o.tif")]) == 0
    psf = write_tiff(tmp_path / "psf.tif", zernike_psf({}, 5, pupil_pixels=64).astype(np.float32))
    replaced = ["deconvolve", str(source), "--psf", str(psf), "--nan-policy", "replace", "-o"]
    assert main([*replaced, str(tmp_path / "d.tif")]) == 0


def test_cli_scale_too_large_for_the_image_is_an_error_line(tmp_path, image_file, capsys):
    command = [
        "deblur",
        str(image_file),
        *TINY[:4],
        "--method",
        "selfdiff",
        "--device",
        "cpu",
        "--scale",
        "100",
    ]
    assert main([*command, "-o", str(tmp_path / "o.tif")]) == 2
    assert "at 1/100 scale the 5 px PSF is 3 px, too large for the 0 x 0 region" in capsys.readouterr().err
