"""Non-blind restoration with a known PSF: one function per algorithm.

:mod:`.noise_aware`: weighted TV deconvolution under a Poisson-Gaussian noise model (the
default restoration). :mod:`.classic`: Richardson-Lucy (with an optional TV term) and Wiener.
:mod:`.nonblind`: the public non-blind entry point (self-diffusion, Richardson-Lucy, Wiener).
"""
