import numpy as np
import pytest

from imu_core import quaternion as Q

RNG = np.random.default_rng(7)


def random_quats(n: int) -> np.ndarray:
    return Q.normalize(RNG.normal(size=(n, 4)))


def test_rotation_about_z_turns_x_into_y() -> None:
    q = Q.from_axis_angle(np.array([0.0, 0, 1]), np.pi / 2)
    np.testing.assert_allclose(Q.rotate(q, np.array([1.0, 0, 0])), [0, 1, 0], atol=1e-12)


def test_product_composes_rotations_like_matrices() -> None:
    a, b = random_quats(50), random_quats(50)
    np.testing.assert_allclose(Q.to_matrix(Q.multiply(a, b)), Q.to_matrix(a) @ Q.to_matrix(b), atol=1e-12)


def test_matrix_round_trip_including_half_turns() -> None:
    q = np.vstack([random_quats(200), Q.from_axis_angle(RNG.normal(size=(20, 3)), np.pi)])
    back = Q.from_matrix(Q.to_matrix(q))
    np.testing.assert_allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-9)


def test_conjugate_inverts() -> None:
    q = random_quats(10)
    np.testing.assert_allclose(Q.multiply(q, Q.conjugate(q)), np.tile(Q.IDENTITY, (10, 1)), atol=1e-12)


def test_rotation_vector_round_trip_and_zero() -> None:
    unit = Q.normalize(RNG.normal(size=(100, 3)))
    rv = unit * RNG.uniform(0.0, 0.99 * np.pi, size=(100, 1))
    np.testing.assert_allclose(Q.to_rotation_vector(Q.from_rotation_vector(rv)), rv, atol=1e-9)
    np.testing.assert_allclose(Q.from_rotation_vector(np.zeros(3)), Q.IDENTITY)


@pytest.mark.parametrize("twist_deg", [-170.0, -30.0, 0.0, 12.5, 90.0, 179.0])
def test_twist_is_recovered_whatever_the_swing(twist_deg: float) -> None:
    axis = Q.normalize(np.array([0.3, -0.2, 0.9]))
    twist = Q.from_axis_angle(axis, np.radians(twist_deg))
    perp = np.cross(axis, [1.0, 0, 0])
    swing = Q.from_axis_angle(perp, np.radians(40.0))
    got = np.degrees(Q.twist_angle(Q.multiply(swing, twist), axis))
    assert got == pytest.approx(twist_deg, abs=1e-9)
    assert np.degrees(Q.swing_angle(Q.multiply(swing, twist), axis)) == pytest.approx(40.0, abs=1e-9)


def test_rotation_between_maps_u_onto_v_also_opposite() -> None:
    u, v = Q.normalize(RNG.normal(size=(30, 3))), Q.normalize(RNG.normal(size=(30, 3)))
    v[0] = -u[0]
    np.testing.assert_allclose(Q.rotate(Q.rotation_between(u, v), u), v, atol=1e-9)


def test_slerp_halfway_is_half_the_angle() -> None:
    a = Q.IDENTITY
    b = Q.from_axis_angle(np.array([0.0, 1, 0]), 1.0)
    mid = Q.slerp(a, b, 0.5)
    assert float(Q.angle(mid)) == pytest.approx(0.5)


def test_heading_of_a_yawed_and_tilted_body() -> None:
    q = Q.multiply(Q.about_z(0.7), Q.from_axis_angle(np.array([1.0, 0, 0]), 0.2))
    assert float(Q.heading(q)) == pytest.approx(0.7, abs=1e-9)


def _hamilton_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The product written out in numpy, for any number of rows."""
    aw, ax, ay, az = np.moveaxis(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


@pytest.mark.parametrize("rows", [0, 1, 2, 4, 5, 100])
def test_few_rows_and_many_rows_give_the_same_bits(rows: int) -> None:
    """Up to a few rows the products and rotated axes are worked out in Python floats (the live path's
    one-sample blocks); the same arithmetic as numpy's, so the same bits as the offline path's blocks."""
    rng = np.random.default_rng(rows)
    a, b = Q.normalize(rng.normal(size=(rows, 4))), Q.normalize(rng.normal(size=(rows, 4)))
    one = Q.normalize(rng.normal(size=4))
    for x, y in ((a, b), (a, one), (one, b), (one, one)):
        got = Q.multiply(x, y)
        expected = _hamilton_numpy(x, y)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    for axis in range(3):
        unit = np.eye(3)[axis]
        np.testing.assert_array_equal(Q.rotated_axis(a, axis), Q.rotate(a, unit))
        np.testing.assert_array_equal(Q.rotated_axis(one, axis), Q.rotate(one, unit))
        angles = rng.normal(size=rows)
        np.testing.assert_array_equal(Q.about_axis(axis, angles) + 0.0,  # + 0.0: -0.0 and 0.0 alike
                                      Q.from_axis_angle(unit, angles) + 0.0)


@pytest.mark.parametrize("rows", [0, 1, 3, 4, 5, 50])
def test_rotations_of_few_rows_give_the_bits_of_many(rows: int) -> None:
    rng = np.random.default_rng(100 + rows)
    q, v = Q.normalize(rng.normal(size=(rows, 4))), rng.normal(size=(rows, 3))
    one_q, one_v = Q.normalize(rng.normal(size=4)), rng.normal(size=3)

    def written_out(q: np.ndarray, v: np.ndarray) -> np.ndarray:
        shape = np.broadcast_shapes(q.shape[:-1], v.shape[:-1])
        qv, w = np.broadcast_to(q[..., 1:], (*shape, 3)), np.broadcast_to(q[..., :1], (*shape, 1))
        t = 2.0 * Q.cross(qv, np.broadcast_to(v, (*shape, 3)))
        return v + w * t + Q.cross(qv, t)

    for x, y in ((q, v), (q, one_v), (one_q, v), (one_q, one_v)):
        got = Q.rotate(x, y)
        expected = written_out(x, y)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_one_matrix_converts_as_a_stack_of_them_does() -> None:
    """A single matrix takes a Python-float path: same arithmetic, same bits as within a stack."""
    rng = np.random.default_rng(5)
    quats = Q.normalize(rng.normal(size=(400, 4)))
    matrices = Q.to_matrix(quats)
    matrices[::7] = np.diag(rng.choice([-1.0, 1.0], size=3)) @ np.eye(3)  # ties between candidates
    stacked = Q.from_matrix(matrices)
    for m, expected in zip(matrices, stacked, strict=True):
        np.testing.assert_array_equal(Q.from_matrix(m), expected)
