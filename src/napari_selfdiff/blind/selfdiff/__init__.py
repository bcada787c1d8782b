"""Self-diffusion blind deconvolution (DeblurSDI), on PyTorch.

:mod:`.loop` (the iteration), :mod:`.schedule` (noise schedule), :mod:`.losses`,
:mod:`.nets` (U-Net, kernel and pupil generators), :mod:`.planes` (plane groups and batching),
:mod:`.multiscale` (reduced-scale estimate), :mod:`.tiling` (overlapping tiles),
:mod:`.restore` (RL-TV after the estimate), :mod:`.psf3d`, :mod:`.volume` and
:mod:`.volume_run` (one 3D PSF for a z-stack), :mod:`.compute` and :mod:`.ensemble` (speed).
"""
