"""Large-layer dock: a Dask or Zarr layer deblurred in tiles, the result an OME-Zarr shown lazily.

The layer's array is never loaded whole: the engine (:func:`napari_selfdiff.large.iter_deblur_large`)
slices it tile by tile in the background worker, estimates the PSF on regions of the field (or on
a drawn rectangle), writes each restored plane to an OME-Zarr folder as it is produced, and the
result comes back as a multiscale layer reading that folder on demand.
"""

import tempfile
from pathlib import Path

from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, SpinBox, create_widget
from napari.layers import Image

import napari
from napari_selfdiff._napari._layers import spatial_properties
from napari_selfdiff._napari._roi import region
from napari_selfdiff._napari._runner import RunnerWidget
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import InputError
from napari_selfdiff.io.lazy import FIVE_AXES, is_ome_zarr, lazy_array
from napari_selfdiff.io.ome_zarr import OmeZarrWriter, open_levels
from napari_selfdiff.large import expected_time, iter_deblur_large
from napari_selfdiff.plan.large import plan_large
from napari_selfdiff.progress_text import format_seconds

#: The axes of a layer by its number of dimensions, when its metadata does not name them.
LAYER_AXES = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}


def large_layer_axes(layer: Image) -> str:
    """The axes of a large image layer: its metadata's ``axes`` (letters of TCZYX), else by dimensions."""
    if layer.rgb:
        raise InputError(f"layer {layer.name!r} is RGB: the large-data run takes grey (multi-channel) stacks")
    ndim = layer.ndim
    named = str(layer.metadata.get("axes", "")).upper()
    if len(named) == ndim and set(named) <= set(FIVE_AXES):
        return named
    if ndim not in LAYER_AXES:
        raise InputError(f"layer {layer.name!r} has {ndim} dimensions: name them in its metadata['axes']")
    return LAYER_AXES[ndim]


def get_zarr_reader(path: str | list[str]):
    """A reader for one OME-Zarr folder (a lazy multiscale layer), else None."""
    if isinstance(path, list) or not is_ome_zarr(path):
        return None
    try:
        open_levels(path)
    except (InputError, OSError, ImportError):
        return None
    return read_zarr_layer


def read_zarr_layer(path: str) -> list[tuple]:
    """One OME-Zarr image as a lazy multiscale layer (channels split), sizes in micrometres."""
    levels, axes, sizes, provenance = open_levels(path)
    spatial = [a for a in axes if a != "C"]
    kwargs = {
        "name": Path(path).stem,
        "multiscale": len(levels) > 1,
        "scale": tuple(sizes[a] for a in spatial),
        "axis_labels": tuple(a.lower() for a in spatial),
        "units": tuple("micrometer" if a in "ZYX" else "pixel" for a in spatial),
        "metadata": {"napari_selfdiff": provenance, "axes": "".join(spatial)},
    }
    if "C" in axes:
        kwargs["channel_axis"] = axes.index("C")
    return [(levels if len(levels) > 1 else levels[0], kwargs, "image")]


class LargeDeblurWidget(RunnerWidget):
    """Deblur a large (Dask, Zarr, memory-mapped) image layer in tiles, without loading it."""

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        super().__init__(viewer)
        self.image = create_widget(
            annotation=Image,
            label="image",
            options={"tooltip": "the large layer: (Z, Y, X), (T, Z, Y, X) or its metadata's axes"},
        )
        self.kernel_size = SpinBox(
            label="PSF size", value=15, min=3, max=255, step=2, tooltip="odd side of the PSF in pixels"
        )
        self.mode = ComboBox(
            label="mode", choices=["2d", "3d"], value="2d",
            tooltip="2d: each plane restored with its channel's 2D PSF; 3d: a 3D PSF and 3D restoration",
        )  # fmt: skip
        self.kernel_depth = SpinBox(
            label="PSF planes (3d)", value=9, min=1, max=255, step=2, tooltip="odd depth of the 3D PSF"
        )
        self.regions = SpinBox(
            label="regions", value=4, min=1, max=16,
            tooltip="regions across the field the PSF is estimated on; their agreement is reported",
        )  # fmt: skip
        self.on_rectangle = CheckBox(
            label="PSF from the drawn rectangle", value=False,
            tooltip="estimate the PSF on the rectangle of the top Shapes layer instead of automatic regions",
        )  # fmt: skip
        self.output = FileEdit(
            label="output (.zarr)", mode="w", filter="*.zarr",
            tooltip="OME-Zarr folder the result is written to as it is produced (default: a temporary one)",
        )  # fmt: skip
        self.memory = FloatSpinBox(
            label="memory limit (GiB)", value=6.0, min=0.5, max=1024, step=0.5,
            tooltip="peak memory the tiles are planned for",
        )  # fmt: skip
        self.run_button.tooltip = "deblur the whole layer in tiles, in the background"
        basic = [self.image, self.kernel_size, self.mode, self.regions, self.on_rectangle, self.output,
                 *self._controls()]  # fmt: skip
        self._lay_out(basic, [self.kernel_depth, self.memory])

    def prepare(self):
        """The run on the chosen layer and what to do with its result (see :class:`RunnerWidget`)."""
        layer = self.image.value
        if layer is None:
            raise InputError("choose an image layer")
        data = layer.data[0] if layer.multiscale else layer.data
        axes = large_layer_axes(layer)
        image = lazy_array(data, axes, source=layer.name)
        k = int(self.kernel_size.value)
        kernel = (int(self.kernel_depth.value), k, k) if self.mode.value == "3d" else (1, k, k)
        plan = plan_large(
            image.shape, kernel, self.mode.value, memory_limit=int(self.memory.value * 1024**3),
            regions=int(self.regions.value),
        )  # fmt: skip
        rectangle = None
        if self.on_rectangle.value:
            index, where = region(self.viewer, layer)
            if where != "the drawn rectangle":
                raise InputError(
                    "draw a rectangle in a Shapes layer, or untick 'PSF from the drawn rectangle'"
                )
            rows, cols = index[-2], index[-1]
            rectangle = (rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start)
        chosen = Path(str(self.output.value)) if str(self.output.value) not in ("", ".") else None
        path = chosen or Path(tempfile.mkdtemp(prefix="napari-selfdiff-")) / f"{layer.name}_deblurred.zarr"
        properties = spatial_properties(layer)
        scale = properties["scale"]
        spacing = {a: s for a, s in zip(axes, scale, strict=True)}
        writer = OmeZarrWriter(
            path, image.shape, axes, "float32",
            pixel_size=(spacing["Y"], spacing["X"]), z_spacing=spacing.get("Z"),
            provenance={"input": layer.name, "plan": plan.describe()}, overwrite=chosen is not None,
        )  # fmt: skip
        config = DeblurConfig()
        expected = expected_time(plan, config, z_spacing=image.z_spacing, pixel_size=image.pixel_size)
        self.status.value = f"plan: {plan.describe()}; {expected.describe()}"

        def make_run(cancel):
            try:
                result = yield from iter_deblur_large(
                    image, plan, writer, config, region=rectangle, cancel=cancel
                )
                writer.commit()
            except BaseException:
                writer.abort()
                raise
            return result

        def on_result(result) -> str:
            levels = open_levels(path)[0]
            self.viewer.add_image(
                levels if len(levels) > 1 else levels[0], multiscale=len(levels) > 1,
                name=f"{layer.name} deblurred", metadata={"napari_selfdiff": result.metadata(), "axes": axes},
                **properties,
            )  # fmt: skip
            reliability = ", ".join(f"{c.reliability:.2f}" for c in result.channels)
            return (
                f"done in {format_seconds(result.seconds)}; PSF reliability {reliability}; written to {path}"
            )

        return make_run, on_result, expected
