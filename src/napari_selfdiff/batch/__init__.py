"""Batch blind deconvolution of many files on Dask distributed.

:mod:`.runner` drives a batch, :mod:`.worker` is what a worker does with one file,
:mod:`.files` the inputs, outputs, records and summary, :mod:`.cluster` the embedded cluster.
"""

from napari_selfdiff.batch.runner import iter_batch, run

__all__ = ["iter_batch", "run"]
