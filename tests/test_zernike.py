"""Zernike polynomials: Noll table, index conversions, orthonormality."""

import math

import numpy as np
import pytest

from napari_selfdiff.optics import (
    ansi_to_nm,
    coefficients_from_names,
    nm_to_ansi,
    nm_to_noll,
    noll_name,
    noll_to_nm,
    zernike,
)
from napari_selfdiff.optics.zernike import zernike_noll

# Noll (1976), Table I: Z_1..Z_22 in closed form (rho, theta).
s = math.sqrt
NOLL_TABLE = {
    1: lambda r, t: np.ones_like(r),
    2: lambda r, t: 2 * r * np.cos(t),
    3: lambda r, t: 2 * r * np.sin(t),
    4: lambda r, t: s(3) * (2 * r**2 - 1),
    5: lambda r, t: s(6) * r**2 * np.sin(2 * t),
    6: lambda r, t: s(6) * r**2 * np.cos(2 * t),
    7: lambda r, t: s(8) * (3 * r**3 - 2 * r) * np.sin(t),
    8: lambda r, t: s(8) * (3 * r**3 - 2 * r) * np.cos(t),
    9: lambda r, t: s(8) * r**3 * np.sin(3 * t),
    10: lambda r, t: s(8) * r**3 * np.cos(3 * t),
    11: lambda r, t: s(5) * (6 * r**4 - 6 * r**2 + 1),
    12: lambda r, t: s(10) * (4 * r**4 - 3 * r**2) * np.cos(2 * t),
    13: lambda r, t: s(10) * (4 * r**4 - 3 * r**2) * np.sin(2 * t),
    14: lambda r, t: s(10) * r**4 * np.cos(4 * t),
    15: lambda r, t: s(10) * r**4 * np.sin(4 * t),
    16: lambda r, t: s(12) * (10 * r**5 - 12 * r**3 + 3 * r) * np.cos(t),
    17: lambda r, t: s(12) * (10 * r**5 - 12 * r**3 + 3 * r) * np.sin(t),
    18: lambda r, t: s(12) * (5 * r**5 - 4 * r**3) * np.cos(3 * t),
    19: lambda r, t: s(12) * (5 * r**5 - 4 * r**3) * np.sin(3 * t),
    20: lambda r, t: s(12) * r**5 * np.cos(5 * t),
    21: lambda r, t: s(12) * r**5 * np.sin(5 * t),
    22: lambda r, t: s(7) * (20 * r**6 - 30 * r**4 + 12 * r**2 - 1),
}


@pytest.fixture(scope="module")
def disk():
    rng = np.random.default_rng(0)
    rho = np.sqrt(rng.random(2000))
    theta = 2 * np.pi * rng.random(2000)
    return rho, theta


@pytest.mark.parametrize("j", sorted(NOLL_TABLE))
def test_noll_table_closed_forms(j, disk):
    rho, theta = disk
    np.testing.assert_allclose(zernike_noll(j, rho, theta), NOLL_TABLE[j](rho, theta), atol=1e-12)


def test_orthonormal_up_to_j66():
    # Gauss-Legendre in rho (weight rho) x uniform trapezoid in theta: exact for polynomials.
    nodes, weights = np.polynomial.legendre.leggauss(40)
    rho = (nodes + 1) / 2
    w_rho = weights / 2 * rho
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    r, t = np.meshgrid(rho, theta, indexing="ij")
    w = np.broadcast_to(w_rho[:, None] * (2 * np.pi / theta.size) / np.pi, r.shape)  # / disk area
    basis = np.stack([zernike_noll(j, r, t).ravel() for j in range(1, 67)])
    gram = (basis * w.ravel()) @ basis.T
    np.testing.assert_allclose(gram, np.eye(66), atol=1e-10)
    assert noll_to_nm(66)[0] == 10  # radial order 10 covered


@pytest.mark.parametrize("j", range(1, 100))
def test_index_round_trips(j):
    n, m = noll_to_nm(j)
    assert nm_to_noll(n, m) == j
    n, m = ansi_to_nm(j - 1)
    assert nm_to_ansi(n, m) == j - 1


def test_ansi_order_and_noll_parity():
    assert [ansi_to_nm(j) for j in range(6)] == [(0, 0), (1, -1), (1, 1), (2, -2), (2, 0), (2, 2)]
    assert ansi_to_nm(12) == (4, 0) == noll_to_nm(11)
    for j in range(2, 67):
        _, m = noll_to_nm(j)
        if m != 0:
            assert (m > 0) == (j % 2 == 0), j


def test_zero_outside_disk_and_bad_indices():
    assert zernike(2, 0, np.array([1.5]), np.array([0.0]))[0] == 0.0
    with pytest.raises(ValueError, match=r"n - \|m\| even"):
        zernike(3, 2, np.array([0.5]), np.array([0.0]))
    with pytest.raises(ValueError, match="Noll"):
        noll_to_nm(0)


def test_names_and_parsing():
    assert noll_name(4) == "defocus" and noll_name(11) == "primary spherical"
    assert noll_name(40).startswith("Z(")
    assert coefficients_from_names("defocus=0.3,coma_x=0.1,Z11=0.05") == {4: 0.3, 8: 0.1, 11: 0.05}
    assert coefficients_from_names({"7": 0.2, 5: 0.1}) == {7: 0.2, 5: 0.1}
    with pytest.raises(ValueError, match="unknown Zernike term"):
        coefficients_from_names("wobble=1")
