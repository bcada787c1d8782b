"""Architecture: the engine and the CLI import no GUI module; light imports stay light."""

import subprocess
import sys

import pytest

GUI = ("napari", "magicgui", "qtpy", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import napari_selfdiff.results, napari_selfdiff.optics, napari_selfdiff.io, napari_selfdiff.cli",
        "from napari_selfdiff import deblur, deconvolve; from napari_selfdiff.restoration import nonblind",
    ],
)
def test_engine_imports_no_gui(statement):
    loaded = _loaded_after(statement)
    assert not loaded & set(GUI), loaded & set(GUI)


def test_package_and_cli_help_do_not_import_torch():
    assert "torch" not in _loaded_after("import napari_selfdiff")
    code = (
        "import sys\nfrom napari_selfdiff.cli.app import build_parser\n"
        "build_parser()\nprint('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_no_pickle_loading_in_the_package():
    from pathlib import Path

    import napari_selfdiff

    root = Path(napari_selfdiff.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "torch.load(" not in text, path
