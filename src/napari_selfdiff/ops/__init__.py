"""Array operators every algorithm shares, in 2D and 3D, for NumPy arrays and torch tensors.

:mod:`.fft`: the one OTF builder, same and valid convolution and the adjoint, PSF centring
and registration. :mod:`.intensity`: the robust affine map to the solvers' working range.
"""
