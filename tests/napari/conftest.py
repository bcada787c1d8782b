"""Fixtures of the viewer tests (each module skips itself when napari is missing)."""

import pytest


@pytest.fixture
def viewer(make_napari_viewer):
    """A fresh headless napari viewer, closed by napari's fixture after the test."""
    return make_napari_viewer()
