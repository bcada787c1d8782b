"""Fixtures of the viewer tests (each module skips itself when napari is missing)."""

import pytest


@pytest.fixture
def viewer(make_napari_viewer):
    """A fresh headless napari viewer, closed by napari's fixture after the test."""
    return make_napari_viewer()


@pytest.fixture(autouse=True)
def _no_speed_probe(monkeypatch):
    """The blind dock measures the machine's speed in the background when its settings change;
    the tests that are not about it keep their CPU (and their threads) to themselves."""
    try:
        from napari_selfdiff._napari.blind import BlindDeconvolutionWidget
    except ImportError:  # napari missing: the modules skip themselves
        return
    monkeypatch.setattr(BlindDeconvolutionWidget, "auto_calibrate", False)
