"""The stages of a run, each a generator of :class:`~napari_selfdiff.engine.events.Progress`.

:func:`.estimate_psf.full_scale` / :func:`.estimate_psf.reduced_scale` (blind self-diffusion),
:func:`.refit_psf.refit_on_window`, :func:`.restore.restore_groups` (Richardson-Lucy) and
:func:`.tiled.solve_tiled`. :mod:`napari_selfdiff.api` chains them as the run plan says; a new
PSF estimator or restoration is one more module here and one more choice in
:mod:`napari_selfdiff.policy`.
"""
