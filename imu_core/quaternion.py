"""Quaternion math, w x y z, vectorised: every function takes (4,) or (N, 4) arrays.

Conventions: Hamilton product; a unit quaternion q rotates v as q * v * conj(q), i.e. it maps vectors
from the rotated (body) frame into the reference frame. Angles are in radians unless a name says deg.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])

Num = TypeVar("Num", float, np.ndarray)
"""A component: a float, or an array of them (the same expressions serve both)."""


_FEW_ROWS = 4
"""Up to this many rows, Python floats beat numpy's per-operation set-up (same IEEE arithmetic, in the
same order, so the same bits)."""


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (broadcasts over leading dimensions)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if _few_rows(a, b):
        return _row_by_row(multiply_one, a, b, 4)
    return np.stack(_hamilton(a[..., 0], a[..., 1], a[..., 2], a[..., 3], b[..., 0], b[..., 1], b[..., 2], b[..., 3]),
                    axis=-1)


def _hamilton(aw: Num, ax: Num, ay: Num, az: Num, bw: Num, bx: Num, by: Num, bz: Num) -> tuple[Num, Num, Num, Num]:
    """The product's components, of floats or of arrays alike (one expression for both)."""
    return (aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw)


def multiply_one(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    """`multiply` of one pair, in Python floats: the same arithmetic in the same order, so the same bits."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return _hamilton(aw, ax, ay, az, bw, bx, by, bz)


def _few_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Both one row or a few rows that pair up one to one (no broadcasting beyond a single row)."""
    return (a.ndim <= 2 and b.ndim <= 2 and len(a) <= _FEW_ROWS and len(b) <= _FEW_ROWS
            and (a.ndim == 1 or b.ndim == 1 or len(a) == len(b)))


def _row_by_row(one: Callable[[Sequence[float], Sequence[float]], tuple[float, ...]], a: np.ndarray,
                b: np.ndarray, width: int) -> np.ndarray:
    """`one` applied to each pair of rows of a and b ((k,) or (n, k)): (width,) or (n, width)."""
    n = len(a) if a.ndim == 2 else len(b) if b.ndim == 2 else 1
    rows_a: list[list[float]] = a.tolist() if a.ndim == 2 else [a.tolist()] * n
    rows_b: list[list[float]] = b.tolist() if b.ndim == 2 else [b.tolist()] * n
    out = [one(x, y) for x, y in zip(rows_a, rows_b, strict=True)]
    if a.ndim == 1 and b.ndim == 1:
        return np.array(out[0], dtype=float)
    return np.array(out, dtype=float).reshape(n, width)


def conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion)."""
    out: np.ndarray = np.asarray(q, dtype=float) * np.array([1.0, -1.0, -1.0, -1.0])
    return out


def normalize(q: np.ndarray) -> np.ndarray:
    """Scale to unit norm."""
    q = np.asarray(q, dtype=float)
    out: np.ndarray = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return out


def canonical(q: np.ndarray) -> np.ndarray:
    """Pick the sign with w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=float)
    return np.where(q[..., :1] < 0.0, -q, q)


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vector(s) v (..., 3) by unit quaternion(s) q (..., 4)."""
    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float)
    if _few_rows(q, v):
        return _row_by_row(rotate_one, q, v, 3)
    return np.stack(_rotated(q[..., 0], q[..., 1], q[..., 2], q[..., 3], v[..., 0], v[..., 1], v[..., 2]), axis=-1)


def _rotated(w: Num, x: Num, y: Num, z: Num, v0: Num, v1: Num, v2: Num) -> tuple[Num, Num, Num]:
    """v + w t + q_vec x t with t = 2 q_vec x v, of floats or of arrays alike."""
    t0, t1, t2 = 2.0 * (y * v2 - z * v1), 2.0 * (z * v0 - x * v2), 2.0 * (x * v1 - y * v0)
    return v0 + w * t0 + (y * t2 - z * t1), v1 + w * t1 + (z * t0 - x * t2), v2 + w * t2 + (x * t1 - y * t0)


def rotated_axis(q: np.ndarray, axis: int) -> np.ndarray:
    """The coordinate axis `axis` (0 x, 1 y, 2 z) rotated by unit quaternion(s) q (..., 4): `rotate(q,
    e_axis)`, a column of q's rotation matrix, at a third of the arithmetic."""
    q = np.asarray(q, dtype=float)
    if q.ndim <= 2 and len(q) <= _FEW_ROWS:
        return _rotated_axis_rows(q, axis)
    out = np.empty((*q.shape[:-1], 3))
    out[..., 0], out[..., 1], out[..., 2] = _axis_of(q[..., 0], q[..., 1], q[..., 2], q[..., 3], axis)
    return out


def _axis_of(w: Num, x: Num, y: Num, z: Num, axis: int) -> tuple[Num, Num, Num]:
    """Column `axis` of the rotation matrix, of floats or of arrays alike."""
    if axis == 0:
        return 1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y)
    if axis == 1:
        return 2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x)
    return 2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)


def _rotated_axis_rows(q: np.ndarray, axis: int) -> np.ndarray:
    """`rotated_axis` for a few rows (or one quaternion)."""
    out = [_axis_of(w, x, y, z, axis) for w, x, y, z in (q.tolist() if q.ndim == 2 else [q.tolist()])]
    if q.ndim == 1:
        return np.array(out[0], dtype=float)
    return np.array(out, dtype=float).reshape(len(out), 3)


def about_axis(axis: int, angle_rad: np.ndarray | float) -> np.ndarray:
    """Rotation(s) by angle_rad about the coordinate axis `axis` (0 x, 1 y, 2 z): `from_axis_angle` for
    a coordinate axis, without its general set-up."""
    half = 0.5 * np.asarray(angle_rad, dtype=float)
    out = np.zeros((*half.shape, 4))
    out[..., 0] = np.cos(half)
    out[..., 1 + axis] = np.sin(half)
    return out


def rotate_one(q: Sequence[float], v: Sequence[float]) -> tuple[float, float, float]:
    """`rotate` of one vector by one quaternion, in Python floats: the same arithmetic in the same order,
    so the same bits."""
    w, x, y, z = q
    v0, v1, v2 = v
    return _rotated(w, x, y, z, v0, v1, v2)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of 3-vectors over the last axis, broadcasting: the arithmetic of np.cross, without
    its set-up cost (a few µs a call, which dominated the live path's per-sample work)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def from_axis_angle(axis: np.ndarray, angle_rad: np.ndarray | float) -> np.ndarray:
    """Rotation by angle about axis (axis need not be unit length)."""
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    half = 0.5 * np.asarray(angle_rad, dtype=float)
    shape = np.broadcast_shapes(half.shape, axis.shape[:-1])
    half = np.broadcast_to(half, shape)[..., None]
    axis = np.broadcast_to(axis, (*shape, 3))
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def from_rotation_vector(rv: np.ndarray) -> np.ndarray:
    """Quaternion of a rotation vector (axis * angle, rad); safe at zero."""
    rv = np.asarray(rv, dtype=float)
    angle = np.linalg.norm(rv, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(a/2)/a -> 1/2 as a -> 0
    scale = np.where(angle > 1e-12, np.sin(half) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    return np.concatenate([np.cos(half), rv * scale], axis=-1)


def to_rotation_vector(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, rad, angle in [0, pi]) of unit quaternion(s)."""
    q = canonical(q)
    vn = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(vn, q[..., :1])
    scale = np.where(vn > 1e-12, angle / np.where(vn > 1e-12, vn, 1.0), 2.0)
    return q[..., 1:] * scale


def angle(q: np.ndarray) -> np.ndarray:
    """Rotation angle in [0, pi] rad."""
    q = np.asarray(q, dtype=float)
    out: np.ndarray = 2.0 * np.arctan2(np.linalg.norm(q[..., 1:], axis=-1), np.abs(q[..., 0]))
    return out


def to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (..., 3, 3) whose columns are the rotated frame's axes."""
    w, x, y, z = np.moveaxis(normalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit quaternion (w >= 0) of rotation matrix/matrices (..., 3, 3)."""
    m = np.asarray(m, dtype=float)
    if m.shape == (3, 3) and not np.isnan(m).any():
        return _from_one_matrix(m.tolist())
    # Shepperd's method via the symmetric 4x4 K matrix's dominant diagonal; robust for all angles.
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cand = np.stack(
        [
            np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                      m[..., 1, 0] - m[..., 0, 1]], axis=-1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - tr,
                      m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], axis=-1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                      1 + 2 * m[..., 1, 1] - tr, m[..., 1, 2] + m[..., 2, 1]], axis=-1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                      m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - tr], axis=-1),
        ],
        axis=-2,
    )
    diag = np.stack([1 + tr, 1 + 2 * m[..., 0, 0] - tr, 1 + 2 * m[..., 1, 1] - tr,
                     1 + 2 * m[..., 2, 2] - tr], axis=-1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    return canonical(normalize(q))


def _from_one_matrix(m: list[list[float]]) -> np.ndarray:
    """`from_matrix` of one matrix, in Python floats with the same arithmetic (a mount is fitted from one
    matrix a second during an exercise)."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = m
    tr = m00 + m11 + m22
    diag = [1 + tr, 1 + 2 * m00 - tr, 1 + 2 * m11 - tr, 1 + 2 * m22 - tr]
    best = max(range(4), key=diag.__getitem__)  # the first largest, as np.argmax
    if best == 0:
        q = (1 + tr, m21 - m12, m02 - m20, m10 - m01)
    elif best == 1:
        q = (m21 - m12, 1 + 2 * m00 - tr, m01 + m10, m02 + m20)
    elif best == 2:
        q = (m02 - m20, m01 + m10, 1 + 2 * m11 - tr, m12 + m21)
    else:
        q = (m10 - m01, m02 + m20, m12 + m21, 1 + 2 * m22 - tr)
    norm = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    unit = [c / norm for c in q]
    return np.array([-c for c in unit] if unit[0] < 0.0 else unit, dtype=float)


def from_two_frames(axes_in_ref: np.ndarray) -> np.ndarray:
    """Quaternion of the frame whose x, y, z axes (given as matrix rows, in reference coordinates)."""
    return from_matrix(np.swapaxes(np.asarray(axes_in_ref, dtype=float), -1, -2))


def twist_angle(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Signed angle (rad, in (-pi, pi]) of the twist of q about a unit axis (swing-twist decomposition).

    q = swing * twist with twist a rotation about `axis` and swing a rotation about an axis
    perpendicular to it. The twist does not depend on how far the axis itself swung.
    """
    q = np.asarray(q, dtype=float)
    axis = np.asarray(axis, dtype=float)
    proj = np.sum(q[..., 1:] * axis, axis=-1)
    a = 2.0 * np.arctan2(proj, q[..., 0])
    return np.asarray((a + np.pi) % (2.0 * np.pi) - np.pi)


def swing_angle(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle (rad, in [0, pi]) by which q moves the axis itself (the swing of swing-twist)."""
    moved = rotate(q, axis)
    cosang = np.clip(np.sum(moved * np.asarray(axis, dtype=float), axis=-1), -1.0, 1.0)
    out: np.ndarray = np.arccos(cosang)
    return out


def slerp(a: np.ndarray, b: np.ndarray, frac: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation from a (frac=0) to b (frac=1), shortest path."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    d = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(d < 0, -b, b)
    rel = multiply(conjugate(a), b)
    return multiply(a, from_rotation_vector(to_rotation_vector(rel) * np.asarray(frac)[..., None]))


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest rotation taking unit vector u onto unit vector v."""
    u = np.asarray(u, dtype=float) / np.linalg.norm(u, axis=-1, keepdims=True)
    v = np.asarray(v, dtype=float) / np.linalg.norm(v, axis=-1, keepdims=True)
    c = np.sum(u * v, axis=-1, keepdims=True)
    axis = np.cross(u, v)
    # antiparallel: any axis perpendicular to u
    helper = np.where(np.abs(u[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    perp = np.cross(u, helper)
    near_anti = c[..., 0] < -1 + 1e-12
    axis = np.where(near_anti[..., None], perp / np.linalg.norm(perp, axis=-1, keepdims=True), axis)
    q = np.concatenate([1.0 + c, axis], axis=-1)
    q = np.where(near_anti[..., None], np.concatenate([np.zeros_like(c), axis], axis=-1), q)
    return normalize(q)


def about_z(angle_rad: np.ndarray | float) -> np.ndarray:
    """Rotation about the earth's vertical (heading change)."""
    return from_axis_angle(np.array([0.0, 0.0, 1.0]), angle_rad)


def heading(q: np.ndarray) -> np.ndarray:
    """Heading (rad) of a body's frame: yaw of the twist about earth z."""
    return twist_angle(q, np.array([0.0, 0.0, 1.0]))
