"""Blind PSF estimation: which PSF blurred the image.

Reading order: :mod:`.runs` (the branches a planned run takes), :mod:`.l0` (the classic
L0-gradient estimator), :mod:`.guarded` (its restoration and the do-no-harm guard),
:mod:`.orientation`, :mod:`.refit`, :mod:`.regions`, then :mod:`.selfdiff` (the paper's
self-diffusion estimator: loop, networks, multiscale, tiling and the volume model).
"""
