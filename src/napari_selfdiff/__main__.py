"""``python -m napari_selfdiff`` runs the command-line interface."""

import sys

from napari_selfdiff.cli import main

sys.exit(main())
