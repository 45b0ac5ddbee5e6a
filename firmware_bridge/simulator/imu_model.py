"""Sensor mounting, ideal IMU signals from kinematics, and the sensor error model.

Ideal signals are derived from a pose function (true time -> sensor orientation and position): angular
rate from the quaternion derivative, specific force from the second derivative of the position plus
gravity, the magnetic field rotated into sensor axes. Errors (noise, bias, scale, timing, loss, soft
tissue artefact, magnetic disturbance) are then applied with a numpy Generator the caller passes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmware_bridge.simulator.leg import LegGeometry, lateral_sign
from imu_core import quaternion as quat
from imu_core.frames import EARTH_UP, GRAVITY_M_S2, Segment, Side, ir_sign

PoseFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""True times (N,) s -> (sensor-to-earth quaternions (N, 4), sensor positions (N, 3) m ENU)."""
FieldFunction = Callable[[np.ndarray], np.ndarray]
"""Positions (N, 3) m ENU -> magnetic field (N, 3) µT ENU."""

# Vacuum permeability / 4 pi, in µT * m^3 / (A * m^2).
_MU0_OVER_4PI_UT = 0.1


@dataclass(frozen=True)
class SensorMount:
    """How a sensor sits on its segment."""

    q_mount: tuple[float, float, float, float]
    """Sensor-to-segment quaternion (w, x, y, z): q_sensor = q_segment * q_mount."""
    lever_arm_m: tuple[float, float, float]
    """Sensor position relative to the segment origin, segment axes, m."""
    placement: str

    @property
    def q(self) -> np.ndarray:
        return np.array(self.q_mount)

    @property
    def lever_arm(self) -> np.ndarray:
        return np.array(self.lever_arm_m)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed random rotation (w >= 0)."""
    return np.asarray(quat.canonical(quat.normalize(rng.standard_normal(4))))


def default_mount(
    segment: Segment,
    side: Side,
    rng: np.random.Generator,
    geometry: LegGeometry | None = None,
    random_orientation: bool = True,
) -> SensorMount:
    """Typical strap placement with a few cm of scatter; orientation random ("strapped at any angle").

    The pelvis sensor's lever arm is from the pelvis origin, in pelvis axes; the thigh's from the hip
    centre and the shin's from the knee centre, in their segment axes.

    Thigh: lateral, about mid-femur, on the skin ~7-8 cm from the femur axis. Shin: mid-tibia on the flat
    anterior-medial face, which lies close to the bone. Pelvis: on the sacrum (about S2) in the midline,
    10-13 cm behind and 2-6 cm above the mid-point of the hip centres (the pelvis origin). Without
    `random_orientation` the sensor axes equal the segment axes.
    """
    geometry = LegGeometry() if geometry is None else geometry
    q = random_rotation(rng) if random_orientation else quat.IDENTITY.copy()
    lat = lateral_sign(side)
    if segment is Segment.THIGH:
        lever = np.array([
            rng.uniform(-0.02, 0.02),
            lat * rng.uniform(0.07, 0.085),
            -geometry.femur_length_m * rng.uniform(0.42, 0.58),
        ])
        placement = "lateral thigh, mid-femur"
    elif segment is Segment.SHIN:
        lever = np.array([
            rng.uniform(0.03, 0.045),
            -lat * rng.uniform(0.015, 0.03),
            -geometry.tibia_length_m * rng.uniform(0.42, 0.58),
        ])
        placement = "anterior-medial shin, mid-tibia"
    elif segment is Segment.PELVIS:
        lever = np.array([-rng.uniform(0.10, 0.13), rng.uniform(-0.01, 0.01), rng.uniform(0.02, 0.06)])
        placement = "sacrum (S2), midline"
    else:
        raise ValueError(f"the simulator has no {segment.value} sensor")
    return SensorMount(
        (float(q[0]), float(q[1]), float(q[2]), float(q[3])),
        (float(lever[0]), float(lever[1]), float(lever[2])),
        placement,
    )


@dataclass(frozen=True)
class EarthField:
    """The undisturbed geomagnetic field."""

    total_ut: float = 49.0
    """Total intensity, µT (mid-latitude Europe / North America)."""
    dip_deg: float = 65.0
    """Inclination below the horizontal, deg (positive: the field points down, northern hemisphere)."""
    declination_deg: float = 0.0
    """Magnetic north east of true north, deg."""

    def enu(self) -> np.ndarray:
        """Field vector in ENU, µT."""
        dip = np.deg2rad(self.dip_deg)
        dec = np.deg2rad(self.declination_deg)
        horizontal = self.total_ut * np.cos(dip)
        return np.array([horizontal * np.sin(dec), horizontal * np.cos(dec), -self.total_ut * np.sin(dip)])


@dataclass(frozen=True)
class MagneticDisturbance:
    """A local disturbance near the chair: a uniform offset field plus a magnetic dipole (e.g. steel)."""

    offset_ut: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Uniform extra field, ENU, µT (shifts apparent north and dip for both sensors alike)."""
    dipole_moment_am2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Dipole moment, A*m^2, in the pelvis (seat) frame; ~0.5 A*m^2 gives a few µT at 30 cm."""
    dipole_position_m: tuple[float, float, float] = (0.25, 0.0, -0.2)
    """Dipole position relative to the pelvis origin, pelvis frame, m (default: under the seat front)."""

    def field_ut(
        self, positions_m: np.ndarray, q_pelvis: np.ndarray, pelvis_position_m: np.ndarray
    ) -> np.ndarray:
        """Disturbance field at world positions (N, 3) m, ENU, µT."""
        dipole_at = pelvis_position_m + quat.rotate(q_pelvis, np.array(self.dipole_position_m))
        moment = quat.rotate(q_pelvis, np.array(self.dipole_moment_am2))
        r = np.asarray(positions_m, dtype=float) - dipole_at
        dist = np.linalg.norm(r, axis=-1, keepdims=True)
        r_hat = r / dist
        m_dot_r = np.sum(moment * r_hat, axis=-1, keepdims=True)
        dipole = _MU0_OVER_4PI_UT * (3.0 * m_dot_r * r_hat - moment) / dist**3
        return np.asarray(dipole + np.array(self.offset_ut))


@dataclass(frozen=True)
class ImuErrorModel:
    """Sensor imperfections. Defaults: a consumer MEMS IMU (Bosch BMI160/BMI270-class accelerometer and
    gyroscope, BMM150-class magnetometer, as in MetaMotion-type wearables) after factory calibration,
    streamed over BLE. Soft-tissue artefact and magnetic disturbance are off by default.
    White-noise densities are one-sided; the per-sample standard deviation is density * sqrt(rate / 2).
    """

    gyro_noise_density_dps_rthz: float = 0.007
    """Gyro white noise, deg/s/sqrt(Hz) (BMI160 datasheet: 0.007)."""
    gyro_bias_max_dps: float = 0.5
    """Constant gyro bias per sensor and axis, uniform in +-this, deg/s."""
    gyro_bias_walk_dps_rts: float = 0.001
    """Gyro bias random walk, deg/s/sqrt(s) (a few deg/h of bias instability over minutes)."""
    gyro_scale_error_max: float = 0.01
    """Gyro scale-factor error per axis, uniform in +-this, fraction (1 %)."""
    acc_noise_density_ug_rthz: float = 180.0
    """Accelerometer white noise, µg/sqrt(Hz) (BMI160: 180, BMI270: 160)."""
    acc_bias_max_m_s2: float = 0.02
    """Residual accelerometer offset per axis, uniform in +-this, m/s^2 (~2 mg)."""
    acc_scale_error_max: float = 0.005
    """Accelerometer scale-factor error per axis, uniform in +-this, fraction."""
    mag_noise_ut_rms: float = 0.4
    """Magnetometer white noise per axis, µT rms (BMM150 regular preset: 0.3-0.6)."""
    clock_drift_max_ppm: float = 100.0
    """Sensor sample clock error, uniform in +-this, ppm: true rate = nominal * (1 + drift)."""
    independent_sample_phase: bool = True
    """Each sensor starts sampling at a random phase within one period (else both at t = k / rate)."""
    host_jitter_max_s: float = 0.004
    """Host timestamp = true sample time + a delay uniform in [0, this), s; kept strictly increasing."""
    packet_loss_probability: float = 0.0
    """Long-run fraction of samples lost."""
    packet_loss_mean_burst: float = 3.0
    """Mean length of a run of lost samples (losses come in bursts, Gilbert model)."""
    sta_ir_fraction: float = 0.0
    """Soft-tissue artefact of the thigh sensor: extra rotation about the femur axis of -k * hip IR
    (k = this; the skin lags the bone, e.g. 0.3)."""
    sta_wobble_deg: float = 0.0
    """Amplitude of a small soft-tissue wobble of the thigh sensor about the segment's x and y axes, deg;
    full once the hip is rotated 10 deg or more from rest, none at rest."""
    sta_wobble_hz: float = 4.0
    """Frequency of that wobble, Hz."""
    magnetic_disturbance: MagneticDisturbance | None = None

    @staticmethod
    def ideal() -> ImuErrorModel:
        """Every error off: exact signals at t = k / rate."""
        return ImuErrorModel(
            gyro_noise_density_dps_rthz=0.0, gyro_bias_max_dps=0.0, gyro_bias_walk_dps_rts=0.0,
            gyro_scale_error_max=0.0, acc_noise_density_ug_rthz=0.0, acc_bias_max_m_s2=0.0,
            acc_scale_error_max=0.0, mag_noise_ut_rms=0.0, clock_drift_max_ppm=0.0,
            independent_sample_phase=False, host_jitter_max_s=0.0, packet_loss_probability=0.0,
            sta_ir_fraction=0.0, sta_wobble_deg=0.0, magnetic_disturbance=None,
        )

    @staticmethod
    def realistic() -> ImuErrorModel:
        """The defaults (what the demo uses)."""
        return ImuErrorModel()


@dataclass(frozen=True)
class SensorErrorDraw:
    """The random constants one sensor drew from an `ImuErrorModel`."""

    gyro_bias_dps: tuple[float, float, float]
    gyro_scale_error: tuple[float, float, float]
    acc_bias_m_s2: tuple[float, float, float]
    acc_scale_error: tuple[float, float, float]
    clock_drift_ppm: float
    start_offset_s: float
    """First sample's true time, s."""
    sta_wobble_phase_rad: tuple[float, float]


def _vec3(a: np.ndarray) -> tuple[float, float, float]:
    return (float(a[0]), float(a[1]), float(a[2]))


def draw_sensor_errors(model: ImuErrorModel, rate_hz: float, rng: np.random.Generator) -> SensorErrorDraw:
    """Draw one sensor's constant errors (always the same number of draws, so streams stay aligned)."""
    u = rng.uniform(-1.0, 1.0, size=13)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=3)
    return SensorErrorDraw(
        gyro_bias_dps=_vec3(model.gyro_bias_max_dps * u[0:3]),
        gyro_scale_error=_vec3(model.gyro_scale_error_max * u[3:6]),
        acc_bias_m_s2=_vec3(model.acc_bias_max_m_s2 * u[6:9]),
        acc_scale_error=_vec3(model.acc_scale_error_max * u[9:12]),
        clock_drift_ppm=float(model.clock_drift_max_ppm * u[12]),
        start_offset_s=float(phase[2] / (2.0 * np.pi) / rate_hz) if model.independent_sample_phase else 0.0,
        sta_wobble_phase_rad=(float(phase[0]), float(phase[1])),
    )


def soft_tissue_rotation(
    t: np.ndarray, hip_ir_deg: np.ndarray, side: Side, model: ImuErrorModel, draw: SensorErrorDraw
) -> np.ndarray:
    """Rotation of the thigh sensor relative to the femur, (N, 4), applied as q_thigh * this * q_mount."""
    lag = np.deg2rad(ir_sign(side) * -model.sta_ir_fraction * np.asarray(hip_ir_deg, dtype=float))
    q = quat.from_axis_angle(np.array([0.0, 0.0, 1.0]), lag)
    if model.sta_wobble_deg > 0.0:
        # soft tissue jiggles while the muscles work, not while the person sits still: the wobble fades
        # in over the first 10 deg of rotation away from rest
        envelope = np.clip(np.abs(np.asarray(hip_ir_deg, dtype=float)) / 10.0, 0.0, 1.0)
        amp = np.deg2rad(model.sta_wobble_deg) * envelope
        w = 2.0 * np.pi * model.sta_wobble_hz * np.asarray(t, dtype=float)
        rv = np.stack([amp * np.sin(w + draw.sta_wobble_phase_rad[0]),
                       amp * np.sin(w + draw.sta_wobble_phase_rad[1]),
                       np.zeros_like(w)], axis=-1)
        q = quat.multiply(q, quat.from_rotation_vector(rv))
    return np.asarray(q)


@dataclass(frozen=True, eq=False)
class IdealSignals:
    """Exact sensor quantities at the given true instants."""

    t: np.ndarray
    q_sensor: np.ndarray
    """(N, 4) sensor-to-earth."""
    position_m: np.ndarray
    gyr: np.ndarray
    """(N, 3) rad/s, sensor axes."""
    acc: np.ndarray
    """(N, 3) specific force, m/s^2, sensor axes."""
    mag: np.ndarray
    """(N, 3) µT, sensor axes."""


def ideal_signals(
    pose: PoseFunction, t: np.ndarray, field_enu: FieldFunction, step_s: float = 1e-3
) -> IdealSignals:
    """Angular rate, specific force and magnetic field from the pose by central differences.

    The pose is analytic in time, so instead of differentiating on a 1 kHz grid and interpolating we
    evaluate it at t - h, t, t + h (h = `step_s`, 1 ms: the same stencil as a 1 kHz grid, without
    interpolation error). Truncation error ~h^2: micro-rad/s and micro-m/s^2 for human motion.
    """
    t = np.asarray(t, dtype=float)
    n = t.shape[0]
    q_all, p_all = pose(np.concatenate([t - step_s, t, t + step_s]))
    q_minus, q0, q_plus = q_all[:n], q_all[n:2 * n], q_all[2 * n:]
    p_minus, p0, p_plus = p_all[:n], p_all[n:2 * n], p_all[2 * n:]
    dq_dt = (q_plus - q_minus) / (2.0 * step_s)
    gyr = 2.0 * quat.multiply(quat.conjugate(q0), dq_dt)[:, 1:]
    p_ddot = (p_plus - 2.0 * p0 + p_minus) / step_s**2
    acc = quat.rotate(quat.conjugate(q0), p_ddot + GRAVITY_M_S2 * EARTH_UP)
    mag = quat.rotate(quat.conjugate(q0), field_enu(p0))
    return IdealSignals(t, q0, p0, gyr, acc, mag)


def true_sample_times(duration_s: float, rate_hz: float, draw: SensorErrorDraw) -> np.ndarray:
    """True instants at which the sensor samples, within [0, duration_s)."""
    period = 1.0 / (rate_hz * (1.0 + 1e-6 * draw.clock_drift_ppm))
    n = max(0, int(np.ceil((duration_s - draw.start_offset_s) / period)))
    t = draw.start_offset_s + period * np.arange(n)
    return t[t < duration_s]


def host_timestamps(true_t: np.ndarray, model: ImuErrorModel, rng: np.random.Generator) -> np.ndarray:
    """Host receive times: true time + a random delay, forced strictly increasing (>= 10 µs apart)."""
    delay = rng.uniform(0.0, 1.0, size=true_t.shape[0]) * model.host_jitter_max_s
    host = true_t + delay
    min_gap = 1e-5
    if host.shape[0] < 2 or bool(np.all(np.diff(host) >= min_gap)):
        return host
    k = np.arange(host.shape[0]) * min_gap
    return np.asarray(np.maximum.accumulate(host - k) + k)


def kept_samples(n: int, model: ImuErrorModel, rng: np.random.Generator) -> np.ndarray:
    """Mask (n,) of samples that arrive; losses in bursts (two-state Gilbert model)."""
    p = model.packet_loss_probability
    if p <= 0.0 or n == 0:
        return np.ones(n, dtype=bool)
    mean_bad = max(model.packet_loss_mean_burst, 1.0)
    mean_good = mean_bad * (1.0 - p) / p
    # Alternating runs (good, bad, good, ...), lengths geometric with the means above.
    n_runs = 2 * int(n / (mean_good + mean_bad)) + 20
    good = rng.geometric(min(1.0, 1.0 / max(mean_good, 1.0)), size=n_runs)
    bad = rng.geometric(1.0 / mean_bad, size=n_runs)
    while int(good.sum() + bad.sum()) < n:
        good = np.concatenate([good, rng.geometric(min(1.0, 1.0 / max(mean_good, 1.0)), size=n_runs)])
        bad = np.concatenate([bad, rng.geometric(1.0 / mean_bad, size=n_runs)])
    lengths = np.stack([good, bad], axis=-1).ravel()
    state_is_good = np.tile([True, False], good.shape[0])
    return np.repeat(state_is_good, lengths)[:n]


def apply_sensor_errors(
    ideal: IdealSignals, model: ImuErrorModel, draw: SensorErrorDraw, rate_hz: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured (gyr rad/s, acc m/s^2, mag µT) from ideal signals: scale, bias (+ walk), white noise."""
    n = ideal.t.shape[0]
    dt = 1.0 / rate_hz
    root_half_rate = np.sqrt(rate_hz / 2.0)
    walk_step = np.deg2rad(model.gyro_bias_walk_dps_rts) * np.sqrt(dt)
    walk = np.cumsum(rng.standard_normal((n, 3)) * walk_step, axis=0)
    gyr = (
        ideal.gyr * (1.0 + np.array(draw.gyro_scale_error))
        + np.deg2rad(np.array(draw.gyro_bias_dps))
        + walk
        + rng.standard_normal((n, 3)) * np.deg2rad(model.gyro_noise_density_dps_rthz) * root_half_rate
    )
    acc_sigma = model.acc_noise_density_ug_rthz * 1e-6 * GRAVITY_M_S2 * root_half_rate
    acc = (
        ideal.acc * (1.0 + np.array(draw.acc_scale_error))
        + np.array(draw.acc_bias_m_s2)
        + rng.standard_normal((n, 3)) * acc_sigma
    )
    mag = ideal.mag + rng.standard_normal((n, 3)) * model.mag_noise_ut_rms
    return gyr, acc, mag
