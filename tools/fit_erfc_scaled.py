"""Fits the polynomial of engine/ops/detail/gelu_avx512.h: r(z) = erfc(z) exp(z^2) on z in
[0.5, 10] as a degree-12 polynomial in u = (t - mid) / half, t = 1 / (1 + z) (Chebyshev
least squares on 800 Chebyshev nodes, mpmath reference at 30 digits), printed highest power first
for Horner, with the largest relative error on 20001 points. Run with /usr/bin/python3 (numpy,
mpmath)."""
import mpmath
import numpy as np
from numpy.polynomial import chebyshev as C

mpmath.mp.dps = 30
LO, HI, DEG = 0.5, 10.0, 12
T_LO, T_HI = 1 / (1 + HI), 1 / (1 + LO)
MID, HALF = (T_LO + T_HI) / 2, (T_HI - T_LO) / 2


def r(z):
    return float(mpmath.erfc(z) * mpmath.exp(z * z))


def z_of(u):
    return 1 / (MID + HALF * u) - 1


nodes = np.cos(np.pi * (np.arange(800) + 0.5) / 800)
cheb = C.chebfit(nodes, [r(z) for z in z_of(nodes)], DEG)
power = C.cheb2poly(cheb)
u = np.linspace(-1, 1, 20001)
horner = np.zeros_like(u)
for c in power[::-1]:
    horner = horner * u + c
err = np.max(np.abs(horner / np.array([r(z) for z in z_of(u)]) - 1))
print(f"mid {MID!r} half {HALF!r} max relative error {err:.3g}")
for c in power[::-1]:
    print(f"    {c!r},")
