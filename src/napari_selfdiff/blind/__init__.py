"""Blind PSF estimation: which PSF blurred the image.

Reading order: :mod:`.l0` and :mod:`.tv` (the classic estimators: L0-gradient and total-variation
alternating minimisation, coarse to fine), :mod:`.guarded` (their restoration under the
do-no-harm guard), :mod:`.orientation`, :mod:`.refit`, :mod:`.regions`, then :mod:`.selfdiff`
(the paper's self-diffusion estimator: loop, networks, multiscale, tiling and the volume model).
The branches a planned run takes are in :mod:`napari_selfdiff.runs`.
"""
