r"""Zernike polynomials: Noll and OSA/ANSI indices, names, RMS-normalised values.

Conventions
-----------
* Unit disk, polar coordinates ``rho`` in [0, 1] and ``theta = atan2(y, x)``, measured from
  +x towards +y (counter-clockwise in the right-handed x-y frame). Values are zero outside
  the disk. On the optics' arrays (:func:`.pupil.pupil_coordinates`) x is the column and y
  the row: +y points *down* the rows as an image is displayed (row 0 at the top), so there
  theta appears to turn clockwise on screen. With this frame and the forward-FFT Fraunhofer
  propagation of :mod:`.psf`, a positive Z2 moves the PSF towards +x (increasing column)
  and a positive Z3 towards +y (increasing row), as in hcipy and prysm.
* RMS (orthonormal) normalisation, Noll (1976):

  .. math::

      Z_n^m(\rho, \theta) = \sqrt{2 (n + 1)}\, R_n^{|m|}(\rho) \cos(m \theta)   \; (m > 0),
      \quad \sqrt{2 (n + 1)}\, R_n^{|m|}(\rho) \sin(|m| \theta)  \; (m < 0),
      \quad \sqrt{n + 1}\, R_n^0(\rho)  \; (m = 0),

      R_n^{|m|}(\rho) = \sum_{s=0}^{(n-|m|)/2} \frac{(-1)^s (n - s)!}
      {s!\, ((n + |m|)/2 - s)!\, ((n - |m|)/2 - s)!} \rho^{n - 2s},

  so that ``(1/pi) \int_disk Z_j Z_k = delta_jk`` and a coefficient is the RMS of its term.
* Noll index j (1-based, the default): radial order n first, then |m| ascending; for
  m != 0 an *even* j carries the cosine term (m > 0) and an *odd* j the sine term (m < 0).
  This reproduces Noll's table exactly: Z2 = 2 rho cos(theta) (tip, x), Z3 = 2 rho
  sin(theta) (tilt, y), Z4 = sqrt(3)(2 rho^2 - 1) (defocus), Z5 = sqrt(6) rho^2 sin(2 theta),
  Z6 = sqrt(6) rho^2 cos(2 theta), Z7 = sqrt(8)(3 rho^3 - 2 rho) sin(theta), Z8 = ... cos,
  Z11 = sqrt(5)(6 rho^4 - 6 rho^2 + 1) (primary spherical), ...
* OSA/ANSI index j (0-based, ANSI Z80.28): ``j = (n (n + 2) + m) / 2`` with signed m
  (m < 0 is the sine term), so Z_0 is piston, Z_4 defocus, Z_12 primary spherical.

Reference: R. J. Noll, "Zernike polynomials and atmospheric turbulence", J. Opt. Soc.
Am. 66, 207-211 (1976), doi:10.1364/JOSA.66.000207.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = [
    "NOLL_NAMES",
    "ansi_to_nm",
    "coefficients_from_names",
    "nm_to_ansi",
    "nm_to_noll",
    "noll_name",
    "noll_to_nm",
    "radial",
    "zernike",
    "zernike_noll",
]

#: Usual names of the Noll terms up to radial order 4, with short aliases for scripts.
NOLL_NAMES: dict[int, tuple[str, str]] = {
    1: ("piston", "piston"),
    2: ("tip (x tilt)", "tip"),
    3: ("tilt (y tilt)", "tilt"),
    4: ("defocus", "defocus"),
    5: ("oblique astigmatism", "astig_oblique"),
    6: ("vertical astigmatism", "astig_vertical"),
    7: ("vertical coma", "coma_y"),
    8: ("horizontal coma", "coma_x"),
    9: ("vertical trefoil", "trefoil_y"),
    10: ("oblique trefoil", "trefoil_x"),
    11: ("primary spherical", "spherical"),
    12: ("vertical secondary astigmatism", "astig2_vertical"),
    13: ("oblique secondary astigmatism", "astig2_oblique"),
    14: ("vertical quadrafoil", "quadrafoil_vertical"),
    15: ("oblique quadrafoil", "quadrafoil_oblique"),
    16: ("horizontal secondary coma", "coma2_x"),
    17: ("vertical secondary coma", "coma2_y"),
    18: ("oblique secondary trefoil", "trefoil2_x"),
    19: ("vertical secondary trefoil", "trefoil2_y"),
    20: ("oblique pentafoil", "pentafoil_x"),
    21: ("vertical pentafoil", "pentafoil_y"),
    22: ("secondary spherical", "spherical2"),
}


def _check_index(j: object, first: int, what: str) -> int:
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or j < first:
        raise ValueError(f"`{what}` must be an integer >= {first}, got {j!r}")
    return int(j)


def _check_nm(n: object, m: object) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"radial order `n` must be an integer >= 0, got {n!r}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise ValueError(f"azimuthal frequency `m` must be an integer, got {m!r}")
    if abs(m) > n or (n - abs(m)) % 2:
        raise ValueError(f"(n, m) = ({n}, {m}) is not a Zernike index: need |m| <= n and n - |m| even")
    return int(n), int(m)


def noll_to_nm(j: int) -> tuple[int, int]:
    """Noll index j (>= 1) -> (n, m) with signed m (m < 0: sine term)."""
    j = _check_index(j, 1, "j (Noll)")
    n = 0
    while (n + 1) * (n + 2) // 2 < j:
        n += 1
    position = j - n * (n + 1) // 2 - 1  # 0-based position inside row n
    # |m| values of row n in Noll order: n % 2, then each |m| > 0 twice.
    slots = [abs_m for abs_m in range(n % 2, n + 1, 2) for _ in range(1 if abs_m == 0 else 2)]
    abs_m = slots[position]
    if abs_m == 0:
        return n, 0
    return n, abs_m if j % 2 == 0 else -abs_m


def nm_to_noll(n: int, m: int) -> int:
    """(n, m) -> Noll index j; inverse of :func:`noll_to_nm`."""
    n, m = _check_nm(n, m)
    first = n * (n + 1) // 2 + 1
    for j in range(first, first + n + 1):
        if noll_to_nm(j) == (n, m):
            return j
    raise AssertionError("unreachable: every valid (n, m) has a Noll index")  # pragma: no cover


def ansi_to_nm(j: int) -> tuple[int, int]:
    """OSA/ANSI index j (>= 0) -> (n, m)."""
    j = _check_index(j, 0, "j (ANSI)")
    n = math.ceil((-3 + math.sqrt(9 + 8 * j)) / 2)
    return n, 2 * j - n * (n + 2)


def nm_to_ansi(n: int, m: int) -> int:
    """(n, m) -> OSA/ANSI index ``(n (n + 2) + m) / 2``."""
    n, m = _check_nm(n, m)
    return (n * (n + 2) + m) // 2


def noll_name(j: int) -> str:
    """Usual name of the Noll term j, or ``'Z(n, m)'`` beyond the named terms."""
    j = _check_index(j, 1, "j (Noll)")
    if j in NOLL_NAMES:
        return NOLL_NAMES[j][0]
    n, m = noll_to_nm(j)
    return f"Z({n}, {m})"


def radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    """Radial polynomial R_n^{|m|}(rho) (unnormalised, R(1) = 1)."""
    n, m = _check_nm(n, m)
    m = abs(m)
    rho = np.asarray(rho, dtype=np.float64)
    result = np.zeros_like(rho)
    for s in range((n - m) // 2 + 1):
        coefficient = (
            (-1) ** s
            * math.factorial(n - s)
            / (math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s))
        )
        result += coefficient * rho ** (n - 2 * s)
    return result


def zernike(n: int, m: int, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """RMS-normalised Zernike polynomial Z_n^m at (rho, theta); zero outside the unit disk."""
    n, m = _check_nm(n, m)
    rho = np.asarray(rho, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if m == 0:
        values = math.sqrt(n + 1) * radial(n, 0, rho)
    elif m > 0:
        values = math.sqrt(2 * (n + 1)) * radial(n, m, rho) * np.cos(m * theta)
    else:
        values = math.sqrt(2 * (n + 1)) * radial(n, m, rho) * np.sin(-m * theta)
    return np.where(rho <= 1.0, values, 0.0)


def zernike_noll(j: int, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Z_j in Noll indexing; see :func:`zernike`."""
    return zernike(*noll_to_nm(j), rho, theta)


_ALIASES = {alias: j for j, (_, alias) in NOLL_NAMES.items()}
_ALIASES.update({name.replace(" ", "_"): j for j, (name, _) in NOLL_NAMES.items()})


def coefficients_from_names(spec: Mapping[str | int, float] | str) -> dict[int, float]:
    """Parse coefficients given by name, alias, ``Z<j>`` or Noll index into ``{j: value}``.

    Accepts a mapping or a string such as ``"defocus=0.3,coma_x=0.1,Z11=0.05"``.
    """
    if isinstance(spec, str):
        items: list[tuple[str | int, float]] = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"Zernike term {part!r} must read NAME=VALUE, e.g. defocus=0.3")
            try:
                items.append((key.strip(), float(value)))
            except ValueError:
                raise ValueError(f"Zernike term {part!r}: {value!r} is not a number") from None
    else:
        items = list(spec.items())
    result: dict[int, float] = {}
    for key, value in items:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            j = _check_index(key, 1, "Noll index")
        else:
            text = str(key).strip().lower()
            if text.isdigit():
                j = _check_index(int(text), 1, "Noll index")
            elif text[:1] == "z" and text[1:].isdigit():
                j = _check_index(int(text[1:]), 1, "Noll index")
            elif text in _ALIASES:
                j = _ALIASES[text]
            else:
                known = ", ".join(alias for _, alias in NOLL_NAMES.values())
                raise ValueError(f"unknown Zernike term {key!r}; use a Noll index, Z<j>, or one of: {known}")
        if not math.isfinite(float(value)):
            raise ValueError(f"Zernike coefficient for term {key!r} must be finite, got {value!r}")
        result[j] = result.get(j, 0.0) + float(value)
    return result
