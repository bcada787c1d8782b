"""Image input/output (TIFF with metadata, PNG/JPEG/BMP), and the command-line interface end to end."""

import dataclasses
import json

import numpy as np
import pytest
import tifffile

from napari_selfdiff import InputError
from napari_selfdiff.cli.app import main
from napari_selfdiff.config import ComputeConfig
from napari_selfdiff.io.formats import image_stem, read_image, write_image
from napari_selfdiff.io.tiff import read_tiff, write_tiff

#: The tiny self-diffusion run on the CPU (these CLI tests follow the networks, not the cascade).
TINY_SELFDIFF = ["--preset", "tiny", "--method", "selfdiff", "--device", "cpu"]


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
        "--restore",
        "richardson_lucy",
        "--method",
        "selfdiff",
    ]
    assert main(args) == 0
    result = read_tiff(out)
    assert result.data.shape == stack.shape and result.data.dtype == np.float32
    assert result.pixel_size == pytest.approx((0.11, 0.11)) and result.z_spacing == pytest.approx(0.3)
    assert result.provenance["config"]["schedule"]["steps"] == 2 and result.provenance["config"]["lr"] == 0.02
    assert result.provenance["config"]["restore"] == result.provenance["restore"] == "richardson_lucy"
    assert "(image: richardson_lucy)" in capsys.readouterr().out
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
    }
    assert printed["lr"] == 1e-3 and printed["derived"]["kernel_lr"] == pytest.approx(2.5e-4)
    assert printed["kernel_sparsity"] == 2e-3 and printed["image_net"]["widths"] == [64, 128, 256, 512, 1024]
    assert printed["psf_refit"]["enabled"] is True
    assert main(["deblur", "--preset", "paper", "--no-psf-refit", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["psf_refit"]["enabled"] is False


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


def test_photo_formats_read_as_grey_or_rgb(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    grey = (rng.random((20, 30)) * 255).astype(np.uint8)
    rgb = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.PNG")
    Image.fromarray(rgb).save(tmp_path / "c.bmp")
    image = read_image(tmp_path / "g.png")
    assert image.axes == "YX" and image.data.dtype == np.uint8
    np.testing.assert_array_equal(image.data, grey)
    wide = read_image(tmp_path / "g16.PNG")
    assert wide.data.dtype == np.uint16 and np.array_equal(wide.data, grey.astype(np.uint16) * 257)
    colour = read_image(tmp_path / "c.bmp")
    assert colour.axes == "YXC" and np.array_equal(colour.data, rgb)
    # A palette becomes RGB; an alpha channel is dropped, with a warning if it is used.
    Image.fromarray(rgb).quantize(16).save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").data.shape == (20, 30, 3)
    alpha = np.full((20, 30), 255, np.uint8)
    alpha[:5] = 0
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="alpha channel"):
        assert np.array_equal(read_image(tmp_path / "a.png").data, rgb)
    # A camera JPEG is read the way viewers show it: EXIF orientation 6 is a quarter turn.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "r.jpg", exif=exif, quality=95)
    assert read_image(tmp_path / "r.jpg").data.shape == (30, 20, 3)


def test_photo_formats_refuse_unknown_broken_and_bombs(tmp_path):
    from PIL import Image

    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(InputError, match=r"unknown image format '\.gif'"):
        read_image(tmp_path / "x.gif")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        read_image(tmp_path / "text.png")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(InputError, match="over the"):
        read_image(tmp_path / "big.png", max_bytes=1000)
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def test_png_round_trip_keeps_values_and_provenance(tmp_path):
    data = (np.random.default_rng(3).random((12, 16)) * 65535).astype(np.uint16)
    source = read_image(write_tiff(tmp_path / "s.tif", data))
    written = write_image(tmp_path / "o.png", data, source, provenance={"seed": 7})
    back = read_image(written)
    assert back.data.dtype == np.uint16 and np.array_equal(back.data, data)
    assert back.provenance == {"seed": 7}
    with pytest.raises(InputError, match="8- or 16-bit"):
        write_image(tmp_path / "f.png", data.astype(np.float32), source)


def test_image_stem_drops_only_the_image_suffix():
    assert [image_stem(name) for name in ("a.ome.tif", "b.PNG", "c.tiff", "d.v2.jpg", "e.json")] == [
        "a",
        "b",
        "c",
        "d.v2",
        "e.json",
    ]


def test_cli_deblurs_png_into_png_and_refuses_bad_outputs_before_work(tmp_path, small_case, capsys):
    from PIL import Image

    _, blurred, psf = small_case
    source = tmp_path / "in.png"
    Image.fromarray((np.clip(blurred, 0, 1) * 255).astype(np.uint8)).save(source)
    tiny = ["-k", "5", "--preset", "tiny", "--device", "cpu", "--steps", "2"]
    out = tmp_path / "out.png"
    assert main(["deblur", str(source), *tiny, "-o", str(out)]) == 0
    result = read_image(out)
    assert result.data.shape == blurred.shape and result.data.dtype == np.uint8
    assert result.provenance["input"] == str(source)
    # The default ran on NumPy: its provenance has the classic settings, not self-diffusion's.
    recorded = result.provenance["config"]
    assert recorded["classic"]["estimator"] == "tv" and "schedule" not in recorded
    estimated = read_tiff(tmp_path / "out_psf.tif").data
    assert estimated.dtype == np.float32 and abs(float(estimated.sum()) - 1) < 1e-5
    # Unwritable outputs are refused before the solve, so a long run never ends in an error.
    for output, reason in [
        ("x.jpg", "lossy"),
        ("x.webp", "unknown suffix"),
    ]:
        assert main(["deblur", str(source), *tiny, "-o", str(tmp_path / output)]) == 2
        assert reason in capsys.readouterr().err
    psf_png = ["-o", str(tmp_path / "o2.tif"), "--psf-out", str(tmp_path / "k.png")]
    assert main(["deblur", str(source), *tiny, *psf_png]) == 2
    assert "float array" in capsys.readouterr().err
    float_input = write_tiff(tmp_path / "float.tif", blurred.astype(np.float32))
    assert main(["deblur", str(float_input), *tiny, "-o", str(tmp_path / "f.png")]) == 2
    assert "8- or 16-bit integers, and the input is float32" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("x.jpg", "x.webp", "o2.tif", "k.png", "f.png"))
    # A PSF given as an 8-bit PNG (as the Levin kernels are) is scaled to sum 1.
    Image.fromarray((psf / psf.max() * 255).astype(np.uint8)).save(tmp_path / "psf.png")
    restored = tmp_path / "restored.png"
    assert main(["deconvolve", str(source), "--psf", str(tmp_path / "psf.png"), "-o", str(restored)]) == 0
    restored_image = read_image(restored).data.astype(float) / 255
    sharp = small_case[0]
    assert np.abs(restored_image - sharp).mean() < np.abs(np.clip(blurred, 0, 1) - sharp).mean()


def test_cli_deblur_at_reduced_scale_writes_full_resolution_outputs(tmp_path, rng, capsys):
    from PIL import Image

    colour = (rng.random((96, 80, 3)) * 255).astype(np.uint8)
    source = tmp_path / "photo.png"
    Image.fromarray(colour).save(source)
    out = tmp_path / "sharp.png"
    tiny = ["-k", "9", *TINY_SELFDIFF, "--steps", "2", "--scale", "2"]
    options = ["--psf-window", "0", "--restore-iterations", "7", "--restore-tv-weight", "0.004"]
    assert main(["deblur", str(source), *tiny, *options, "-o", str(out)]) == 0
    result = read_image(out)
    assert result.data.shape == colour.shape and result.data.dtype == np.uint8
    info = result.provenance["multiscale"]
    assert info["factor"] == 2 and info["kernel_size"] == 5 and info["window"]["height"] == 96
    assert result.provenance["config"]["restore_iterations"] == 7
    assert result.provenance["config"]["restore_tv_weight"] == 0.004
    assert result.provenance["plan"].startswith("PSF at half scale on a 48x40 window, 5 px")
    assert info["psf_refit"] is result.provenance["config"]["psf_refit"]["enabled"] is True
    assert result.provenance["method"] == "selfdiff"
    psf = read_tiff(tmp_path / "sharp_psf.tif").data
    assert psf.shape == (9, 9) and abs(float(psf.sum()) - 1) < 1e-5
    assert "plan: PSF at half scale" in capsys.readouterr().err
    assert main(["deblur", str(source), *tiny, "--tile-on-oom", "-o", str(tmp_path / "t.png")]) == 2
    assert "must be 1 or 'auto' with tiling on out-of-memory, which needs the full" in capsys.readouterr().err
    # By default ("auto") a long blur is estimated at half scale ...
    long = ["-k", "31", *TINY_SELFDIFF, "--steps", "1", "--inner", "2"]
    assert main(["deblur", str(source), *long, "-o", str(tmp_path / "auto.png")]) == 0
    assert "plan: PSF at half scale" in capsys.readouterr().err
    assert read_image(tmp_path / "auto.png").provenance["multiscale"]["factor"] == 2
    # ... and one asked at full scale is solved as asked.
    assert main(["deblur", str(source), *long, "--scale", "1", "-o", str(tmp_path / "full.png")]) == 0
    err = capsys.readouterr().err
    assert "plan: PSF at full scale" in err
    assert "multiscale" not in read_image(tmp_path / "full.png").provenance
    # "auto" with --tile-on-oom keeps the full-resolution solve it asks for.
    tiled = ["deblur", str(source), *long, "--tile-on-oom", "-o", str(tmp_path / "tiled.png")]
    assert main(tiled) == 0 and "plan: PSF at full scale" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["deblur", str(source), *long, "--scale", "0", "-o", str(tmp_path / "zero.png")])
    assert "must be 'auto' or an integer >= 1, got '0'" in capsys.readouterr().err


def test_cli_demo_runs_the_default_pipeline_and_improves_the_image(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--method", "classic", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    before, after = (float(value) for value in out.split("PSNR ")[1].split(" dB")[0].split(" -> "))
    assert after > before + 2.0, out  # measured 21.52 -> 24.81 dB
    result = read_tiff(tmp_path / "deblurred.tif")
    assert result.provenance["method"] == "classic" and result.provenance["restore"] == "tv"
    assert (tmp_path / "demo.png").exists() and (tmp_path / "psf.tif").exists()


def test_cli_deblur_refuses_one_path_for_the_image_and_the_psf(tmp_path, small_case, capsys):
    src = write_tiff(tmp_path / "in.tif", small_case[1])
    same = str(tmp_path / "y.tif")
    args = ["deblur", str(src), "-k", "5", "-o", same, "--psf-out", same, "--overwrite", "--device", "cpu"]
    assert main(args) == 2
    assert "name the same file twice" in capsys.readouterr().err
    assert not (tmp_path / "y.tif").exists()  # refused before any work
