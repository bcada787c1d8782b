"""Command line: ``napari-selfdiff deblur | deconvolve | batch | psf | blur | demo``.

:mod:`.main` builds the parser, :mod:`.options` turns the config dataclasses into options,
:mod:`.commands` runs the deconvolution commands, :mod:`.tools` the optics commands and demo.
"""

from napari_selfdiff.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
