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
