"""Start postures of the simulated exercises: where the pelvis is in the world, and the leg's joint angles.

A posture is drawn per simulated person from ranges (a range with equal ends draws nothing, so the
seated posture consumes no random numbers and stays exactly what it always was).

Pelvis attitude. The pelvis frame follows imu_core/frames.py (x anterior, y to the person's left, z up
the spine). Its orientation in the earth frame (ENU) is
    q_pelvis = Rz(heading) * Rx(lat * roll) * Ry(pitch)
with heading drawn per session and lat = +1 for a left instrumented leg, -1 for a right one, so a positive
`roll` raises the instrumented side and a positive `pitch` tips the pelvis forward (anterior face down).

Joint angles are those of leg.py (hip flexion, adduction positive toward the midline, IR positive
inward, knee flexion 0 = straight). `hip_ir_rest_deg` is the hip's anatomical IR at rest; the IR truth is
always relative to the calibration posture, so it is 0 there whatever the resting IR.

Geometry check (femur 0.42 m, tibia 0.40 m, hip centres 0.18 m apart), for each posture below:
- seated-ir: thigh horizontal forward on the chair, shin hanging vertical, foot below the knee. The
  band exercise, the seated IR test and the figure-four and pigeon stretches calibrate here too.
- prone-ir-test: face down on a treatment table, thighs on the table, knee bent 90 so the shin points
  straight up; IR lets the foot fall outward (the clinical prone IR test, norm about 45 deg).
- side-lying-ir: lying on the side opposite the instrumented leg (instrumented leg on top), hips flexed
  about 45, knees 90; the top thigh adducts 5-10 deg so the knees rest together (top knee centre
  about 12 cm above the bottom one, about one knee width). The leg's sagittal plane is horizontal, so the
  knee hinge axis is vertical, the shin lies horizontal and IR lifts the foot toward the ceiling.
- ninety-ninety-foot-lift: sitting on the floor in 90/90 with the instrumented leg as the BACK leg:
  hip flexion 32-38, abduction 40-44, resting IR 25-30, knee 90. An upright pelvis would leave that femur
  pointing about 45 deg down, into the floor; to get the back thigh down onto the floor the weight sits on
  the front-leg buttock and the pelvis is tilted 24-28 deg in the frontal plane (instrumented side up).
  Then the femur runs 10-20 deg below horizontal, out to the side and a little forward, the knee centre
  5-12 cm above the floor, and the shin lies within about 10 deg of horizontal pointing backward, with the
  foot beside the buttock; more IR lifts the back foot off the floor. The 90/90 stretch and the 90/90
  transitions start here too.
- supine hook-lying (supine-ir-stretch): on the back on a mat, hip flexion 40-50, knee 88-95, foot flat
  (ankle 4-18 cm above the floor, knee 37-42 cm up, shin 38-55 deg below horizontal). The hinge is
  horizontal, the thigh's and shin's anterior axes point about half up. The knee falls in with the foot
  planted (`IrCoupling`).
- supine feet on a wall (wall-ir-stretch): on the back, hips and knees 85-95, thigh within 5 deg of
  vertical, shin within 10 deg of horizontal toward the wall (ankle 45-59 cm up the wall), so the thigh's
  long axis points down (distal end up) and the shin's front faces up. The knee falls in, the foot stays
  on the wall (`IrCoupling`).
- floor sitting, knees bent (sitting-knee-drop): on the floor leaning back on the hands, pelvis tipped
  back 18-22 deg, hip flexion 111-115, abduction 15-25, knee 86-92: the thigh rises 35-45 deg toward a
  knee 34-40 cm up, the foot is flat (ankle 2-14 cm up) and 10-19 cm further out than the hip. The
  inner side of thigh and shin partly faces up. The knee falls inward with the foot planted
  (`IrCoupling`).
- floor sitting, leg straight (straight-leg-roll): pelvis upright on the floor, hip flexion 86-90 (the
  thigh slopes down to the knee by at most 4 deg, the shin by at most 8), knee 0-4: the whole leg lies
  along the floor (knee centre 7-10 cm up), its front facing up, hinge horizontal. IR rolls the leg about
  its long axis; the calibration "swings" are heel slides (the knee bends, the hip flexes along by about
  half as much, so the heel stays on the floor and the thigh turns about the hinge too).
- kneeling on a chair (swivel-chair-ir): standing on the other leg, pelvis upright, hip flexion -2..3
  (thigh within 3 deg of vertical), knee 86-94, knee centre 50 cm up on a 45 cm seat, shin within 7 deg of
  horizontal on the seat pointing back, its front facing down. IR swings the foot outward in the
  horizontal plane (the seat turns with it); the calibration swings lift the foot off the seat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware_bridge.simulator.leg import PelvisPose, lateral_sign
from imu_core import quaternion as quat
from imu_core.frames import Side

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Span:
    """A closed range [low, high] a value is drawn from uniformly (no draw when low == high)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if self.high < self.low:
            raise ValueError(f"empty range [{self.low}, {self.high}]")

    @staticmethod
    def fixed(value: float) -> Span:
        return Span(value, value)

    def draw(self, rng: np.random.Generator) -> float:
        if self.low == self.high:
            return self.low
        return float(rng.uniform(self.low, self.high))

    def contains(self, value: float, tol: float = 0.0) -> bool:
        return self.low - tol <= value <= self.high + tol


@dataclass(frozen=True)
class Posture:
    """One drawn start posture (deg, m)."""

    name: str
    pelvis_roll_deg: float
    """Frontal-plane tilt of the pelvis in the world, positive raising the instrumented side (90 = lying on
    the other side)."""
    pelvis_pitch_deg: float
    """Forward tip of the pelvis in the world (90 = prone, anterior face down)."""
    pelvis_height_m: float
    """Height of the pelvis origin (mid-way between the hip centres) above the floor, m."""
    pelvis_pivot_m: tuple[float, float, float]
    """Point the pelvis turns about when it moves (its contact with the support): pelvis axes, but the
    second component is toward the instrumented side (negative: the other side), m."""
    hip_flexion_deg: float
    hip_adduction_deg: float
    """Positive toward the midline; negative = abduction."""
    hip_ir_rest_deg: float
    """Anatomical hip IR at rest (the IR truth is relative to this)."""
    knee_flexion_deg: float

    def pelvis_pose(self, heading_rad: float, side: Side) -> PelvisPose:
        """The pelvis at rest, facing `heading_rad` (counter-clockwise from east) before roll and pitch."""
        q = quat.about_z(heading_rad)
        if self.pelvis_roll_deg != 0.0:
            q = quat.multiply(q, quat.from_axis_angle(_X, lateral_sign(side) * np.deg2rad(self.pelvis_roll_deg)))
        if self.pelvis_pitch_deg != 0.0:
            q = quat.multiply(q, quat.from_axis_angle(_Y, np.deg2rad(self.pelvis_pitch_deg)))
        return PelvisPose(q, np.array([0.0, 0.0, self.pelvis_height_m]))

    def pivot(self, side: Side) -> np.ndarray:
        """`pelvis_pivot_m` in plain pelvis axes (x anterior, y left, z up), m."""
        x, toward_instrumented, z = self.pelvis_pivot_m
        return np.array([x, lateral_sign(side) * toward_instrumented, z])


@dataclass(frozen=True)
class PostureSpec:
    """Ranges a posture is drawn from (drawn in field order)."""

    name: str
    pelvis_roll_deg: Span
    pelvis_pitch_deg: Span
    pelvis_height_m: float
    pelvis_pivot_m: tuple[float, float, float]
    hip_flexion_deg: Span
    hip_adduction_deg: Span
    hip_ir_rest_deg: Span
    knee_flexion_deg: Span

    def draw(self, rng: np.random.Generator) -> Posture:
        return Posture(
            name=self.name,
            pelvis_roll_deg=self.pelvis_roll_deg.draw(rng),
            pelvis_pitch_deg=self.pelvis_pitch_deg.draw(rng),
            pelvis_height_m=self.pelvis_height_m,
            pelvis_pivot_m=self.pelvis_pivot_m,
            hip_flexion_deg=self.hip_flexion_deg.draw(rng),
            hip_adduction_deg=self.hip_adduction_deg.draw(rng),
            hip_ir_rest_deg=self.hip_ir_rest_deg.draw(rng),
            knee_flexion_deg=self.knee_flexion_deg.draw(rng),
        )


SEATED = PostureSpec(
    name="seated",
    # upright on a chair; turns about the sit bone of the other side (a hip hike lifts this side)
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span.fixed(0.0), pelvis_height_m=0.5,
    pelvis_pivot_m=(-0.03, -0.06, -0.09),
    hip_flexion_deg=Span.fixed(90.0), hip_adduction_deg=Span.fixed(0.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span.fixed(90.0),
)

PRONE = PostureSpec(
    name="prone",
    # face down on a 0.6 m table; turns about the ASIS of the instrumented side (the other side lifts)
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span.fixed(90.0), pelvis_height_m=0.7,
    pelvis_pivot_m=(0.06, 0.11, 0.05),
    hip_flexion_deg=Span.fixed(0.0), hip_adduction_deg=Span.fixed(0.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span.fixed(90.0),
)

SIDE_LYING = PostureSpec(
    name="side-lying",
    # on the other side on a 0.6 m bed; rolls about the bottom greater trochanter
    pelvis_roll_deg=Span.fixed(90.0), pelvis_pitch_deg=Span.fixed(0.0), pelvis_height_m=0.76,
    pelvis_pivot_m=(0.0, -0.16, 0.0),
    hip_flexion_deg=Span(40.0, 50.0), hip_adduction_deg=Span(5.0, 10.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span.fixed(90.0),
)

NINETY_NINETY_BACK_LEG = PostureSpec(
    name="90/90 back leg",
    # on the floor, weight on the front-leg buttock, which is also what the pelvis turns about
    pelvis_roll_deg=Span(24.0, 28.0), pelvis_pitch_deg=Span.fixed(0.0), pelvis_height_m=0.15,
    pelvis_pivot_m=(-0.03, -0.06, -0.09),
    hip_flexion_deg=Span(32.0, 38.0), hip_adduction_deg=Span(-44.0, -40.0), hip_ir_rest_deg=Span(25.0, 30.0),
    knee_flexion_deg=Span.fixed(90.0),
)

SUPINE_HOOK_LYING = PostureSpec(
    name="supine hook-lying",
    # on the back on a mat; the pelvis rolls about the other side's buttock
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span.fixed(-90.0), pelvis_height_m=0.10,
    pelvis_pivot_m=(-0.10, -0.09, 0.0),
    hip_flexion_deg=Span(40.0, 50.0), hip_adduction_deg=Span.fixed(0.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span(88.0, 95.0),
)

SUPINE_FEET_ON_WALL = PostureSpec(
    name="supine feet on wall",
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span.fixed(-90.0), pelvis_height_m=0.10,
    pelvis_pivot_m=(-0.10, -0.09, 0.0),
    hip_flexion_deg=Span(85.0, 95.0), hip_adduction_deg=Span.fixed(0.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span(85.0, 95.0),
)

FLOOR_SITTING_KNEES_BENT = PostureSpec(
    name="floor sitting, knees bent",
    # leaning back on the hands; turns about the other sit bone
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span(-22.0, -18.0), pelvis_height_m=0.10,
    pelvis_pivot_m=(-0.03, -0.06, -0.09),
    hip_flexion_deg=Span(111.0, 115.0), hip_adduction_deg=Span(-25.0, -15.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span(86.0, 92.0),
)

FLOOR_SITTING_LEG_STRAIGHT = PostureSpec(
    name="floor sitting, leg straight",
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span.fixed(0.0), pelvis_height_m=0.10,
    pelvis_pivot_m=(-0.03, -0.06, -0.09),
    hip_flexion_deg=Span(86.0, 90.0), hip_adduction_deg=Span.fixed(0.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span(0.0, 4.0),
)

KNEELING_ON_CHAIR = PostureSpec(
    name="kneeling on a chair",
    # standing on the other leg, which the pelvis turns about
    pelvis_roll_deg=Span.fixed(0.0), pelvis_pitch_deg=Span.fixed(0.0), pelvis_height_m=0.92,
    pelvis_pivot_m=(0.0, -0.09, 0.0),
    hip_flexion_deg=Span(-2.0, 3.0), hip_adduction_deg=Span.fixed(0.0), hip_ir_rest_deg=Span.fixed(0.0),
    knee_flexion_deg=Span(86.0, 94.0),
)
