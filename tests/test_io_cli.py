"""TIFF input/output with metadata, and the command-line interface end to end."""

import dataclasses
import json

import numpy as np
import pytest
import tifffile

from napari_selfdiff import InputError
from napari_selfdiff.cli import main
from napari_selfdiff.config import ComputeConfig
from napari_selfdiff.io.tiff import read_tiff, write_tiff


def test_tiff_round_trip_keeps_axes_pixel_size_and_provenance(tmp_path):
    data = np.random.default_rng(0).random((3, 20, 24)).astype(np.float32)
    path = write_tiff(
        tmp_path / "a.tif",
        data,
        axes="ZYX",
        pixel_size=(0.1, 0.2),
        z_spacing=0.5,
        provenance={"seed": 4, "config": {"lr": 0.01}},
    )
    image = read_tiff(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.axes == "ZYX" and image.pixel_size == pytest.approx((0.1, 0.2)) and image.z_spacing == 0.5
    assert image.provenance == {"seed": 4, "config": {"lr": 0.01}}
    assert not list(tmp_path.glob("*.part"))  # atomic write leaves no temporary file


def test_tiff_reads_rgb_ome_and_plain(tmp_path):
    rgb = (np.random.default_rng(1).random((16, 18, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    image = read_tiff(tmp_path / "rgb.tif")
    assert image.axes == "YXC" and image.data.shape == (16, 18, 3)
    tifffile.imwrite(
        tmp_path / "ome.ome.tif",
        rgb[..., 0],
        ome=True,
        metadata={"axes": "YX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.3},
    )
    assert read_tiff(tmp_path / "ome.ome.tif").pixel_size == pytest.approx((0.3, 0.25))
    tifffile.imwrite(tmp_path / "plain.tif", rgb[..., 0])
    assert read_tiff(tmp_path / "plain.tif").pixel_size is None


def test_tiff_refuses_overwrite_missing_truncated_and_bombs(tmp_path):
    path = write_tiff(tmp_path / "a.tif", np.zeros((8, 8), np.float32))
    with pytest.raises(FileExistsError, match="overwrite"):
        write_tiff(path, np.ones((8, 8), np.float32))
    with pytest.raises(FileNotFoundError):
        read_tiff(tmp_path / "missing.tif")
    (tmp_path / "text.tif").write_text("not a tiff")
    with pytest.raises(InputError, match="not a readable TIFF"):
        read_tiff(tmp_path / "text.tif")
    big = write_tiff(tmp_path / "big.tif", np.zeros((64, 64), np.float32))
    (tmp_path / "cut.tif").write_bytes(big.read_bytes()[:200])
    with pytest.raises(InputError):
        read_tiff(tmp_path / "cut.tif")
    with pytest.raises(InputError, match="over the"):
        read_tiff(big, max_bytes=1000)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_tiff(tmp_path / "nowhere" / "x.tif", np.zeros((8, 8)))


def test_cli_deblur_round_trip_on_a_stack(tmp_path, small_case, capsys):
    _, blurred, _ = small_case
    stack = (np.stack([blurred, blurred[:, ::-1]]) * 1000).astype(np.uint16)
    src = write_tiff(tmp_path / "in.tif", stack, axes="ZYX", pixel_size=(0.11, 0.11), z_spacing=0.3)
    out = tmp_path / "out.tif"
    args = [
        "deblur",
        str(src),
        "-k",
        "5",
        "-o",
        str(out),
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--steps",
        "2",
        "--set",
        "lr=0.02",
    ]
    assert main(args) == 0
    result = read_tiff(out)
    assert result.data.shape == stack.shape and result.data.dtype == np.float32
    assert result.pixel_size == pytest.approx((0.11, 0.11)) and result.z_spacing == pytest.approx(0.3)
    assert result.provenance["config"]["schedule"]["steps"] == 2 and result.provenance["config"]["lr"] == 0.02
    psf = read_tiff(tmp_path / "out_psf.tif")
    assert psf.data.shape == (2, 5, 5) and np.allclose(psf.data.sum(axis=(1, 2)), 1, atol=1e-5)
    assert main(args) == 2  # outputs exist: refused without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert main(["deblur", str(src), "-k", "5", "-o", str(src), "--preset", "tiny"]) == 2
    assert "is also an input" in capsys.readouterr().err


@pytest.mark.parametrize("compute", ["throughput", "reference"])
def test_cli_compute_option_selects_the_execution_options(capsys, compute):
    # Named options come before --set, so a single field can still be overridden.
    assert (
        main(
            [
                "deblur",
                "--preset",
                "tiny",
                "--compute",
                compute,
                "--set",
                "compute.cuda_graph=false",
                "--print-config",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)["compute"]
    expected = {**dataclasses.asdict(getattr(ComputeConfig, compute)()), "cuda_graph": False}
    assert printed == expected and printed != dataclasses.asdict(ComputeConfig())


def test_cli_print_config_paper(capsys):
    assert main(["deblur", "--preset", "paper", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["schedule"] == {
        "steps": 30,
        "inner_steps": 200,
        "beta_start": 1e-4,
        "beta_end": 2e-2,
        "kernel_noise_scale": 0.15,
        "plateau_tolerance": 0.0,  # the paper runs all S inner iterations
        "coarse_fraction": 0.0,  # ... all of them at full resolution
    }
    assert printed["lr"] == 1e-3 and printed["derived"]["kernel_lr"] == pytest.approx(2.5e-4)
    assert printed["kernel_sparsity"] == 2e-3 and printed["image_net"]["widths"] == [64, 128, 256, 512, 1024]


def test_cli_psf_blur_deconvolve(tmp_path):
    psf_path = tmp_path / "psf.tif"
    assert (
        main(
            [
                "psf",
                "--zernike",
                "defocus=0.3,coma_x=0.1",
                "--wavelength",
                "0.52",
                "--na",
                "1.4",
                "--immersion-index",
                "1.518",
                "--pixel-size",
                "0.065",
                "--size",
                "15",
                "-o",
                str(psf_path),
            ]
        )
        == 0
    )
    psf = read_tiff(psf_path)
    assert psf.data.shape == (15, 15) and psf.pixel_size == pytest.approx((0.065, 0.065))
    assert psf.provenance["coefficients_waves_rms"] == {"4": 0.3, "8": 0.1}
    stack_path = tmp_path / "psf3d.tif"
    assert (
        main(
            [
                "psf",
                "--wavelength",
                "0.52",
                "--na",
                "1.2",
                "--immersion-index",
                "1.33",
                "--pixel-size",
                "0.1",
                "--size",
                "15",
                "--z-range",
                "-1",
                "1",
                "0.5",
                "-o",
                str(stack_path),
            ]
        )
        == 0
    )
    assert read_tiff(stack_path).data.shape == (5, 15, 15)
    image = write_tiff(tmp_path / "img.tif", np.random.default_rng(0).random((40, 40)).astype(np.float32))
    blurred = tmp_path / "blurred.tif"
    assert main(["blur", str(image), "--psf", str(psf_path), "--noise", "0.01", "-o", str(blurred)]) == 0
    restored = tmp_path / "restored.tif"
    assert (
        main(["deconvolve", str(blurred), "--psf", str(psf_path), "--method", "wiener", "-o", str(restored)])
        == 0
    )
    assert read_tiff(restored).data.shape == (40, 40)
    assert (
        main(["blur", str(tmp_path / "missing.tif"), "--psf", str(psf_path), "-o", str(tmp_path / "x.tif")])
        == 2
    )
