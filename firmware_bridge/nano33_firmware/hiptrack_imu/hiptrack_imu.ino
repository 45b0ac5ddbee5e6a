/*
 * hiptrack_imu: streams raw IMU samples from an Arduino Nano 33 BLE / BLE Sense (Rev1: LSM9DS1;
 * Rev2: BMI270 + BMM150) over Bluetooth Low Energy, for hiptrack.
 *
 * GATT service, packet format and control commands: ../README.md and hiptrack_packet.h.
 *
 *  - The board revision is detected at start-up by asking each IMU for its chip id on the internal
 *    I2C bus (Wire1). Build options (compiler.cpp.extra_flags, see README.md):
 *      -DHIPTRACK_FORCE_BOARD=1 or 2   skip detection
 *      -DHIPTRACK_WITH_REV1=0          build without Arduino_LSM9DS1 (Rev2 boards only)
 *      -DHIPTRACK_WITH_REV2=0          build without Arduino_BMI270_BMM150 (Rev1 boards only)
 *  - Nothing streams until the host writes START; a disconnect always stops streaming and puts
 *    the sensors to sleep, so a board is never left streaming into the void.
 *  - Samples are taken on a micros() grid at exactly the requested rate (50/100/200 Hz) from
 *    sensors running at about twice that rate (sample and hold of the newest output). Each grid
 *    slot has a 16-bit counter; a slot the loop could not serve in time (BLE blocking) is skipped
 *    and its counter is lost, so the host sees exactly which samples are missing.
 *  - Samples go to a ring buffer; a notification carries up to `samples_per_packet` consecutive
 *    samples (the host says how large its notifications may be; see START).
 *  - Raw int16 counts are sent in each chip's own axes; the host applies the datasheet scale
 *    factors and turns the magnetometer into the accelerometer's axes
 *    (firmware_bridge/nano33/protocol.py). The Arduino libraries are used to find and start the
 *    chips (and for Bosch's drivers); their float readings are not used, because the LSM9DS1
 *    library scales with full-scale/32768 instead of the datasheet sensitivity (gyro ~13 % low)
 *    and the BMI270 library swaps and negates X/Y on every Nano 33 BLE build.
 */
#include <ArduinoBLE.h>
#include <Wire.h>
#include <string.h>

#include "hiptrack_packet.h"

#ifndef HIPTRACK_WITH_REV1
#define HIPTRACK_WITH_REV1 1
#endif
#ifndef HIPTRACK_WITH_REV2
#define HIPTRACK_WITH_REV2 1
#endif
#ifndef HIPTRACK_FORCE_BOARD
#define HIPTRACK_FORCE_BOARD 0 /* 0 = detect */
#endif

#if HIPTRACK_WITH_REV1
#include <Arduino_LSM9DS1.h>
#endif
#if HIPTRACK_WITH_REV2
#include <Arduino_BMI270_BMM150.h>
#endif

/* ---- I2C addresses and registers -------------------------------------------------------------- */
#define LSM_AG_ADDR 0x6B    /* LSM9DS1 accelerometer + gyroscope */
#define LSM_M_ADDR 0x1E     /* LSM9DS1 magnetometer */
#define LSM_WHO_AM_I 0x0F   /* reads 0x68 (acc/gyro) */
#define LSM_CTRL_REG1_G 0x10
#define LSM_OUT_X_G 0x18
#define LSM_CTRL_REG6_XL 0x20
#define LSM_CTRL_REG8 0x22
#define LSM_OUT_X_XL 0x28
#define LSM_CTRL_REG1_M 0x20
#define LSM_CTRL_REG2_M 0x21
#define LSM_CTRL_REG3_M 0x22
#define LSM_CTRL_REG4_M 0x23
#define LSM_CTRL_REG5_M 0x24
#define LSM_STATUS_REG_M 0x27
#define LSM_OUT_X_L_M 0x28
#define BMI_ADDR 0x68       /* BMI270 */
#define BMI_CHIP_ID_REG 0x00
#define BMI_CHIP_ID 0x24

#define RING_SIZE 64        /* samples: 320 ms at 200 Hz */
#define CTRL_QUEUE 4
#define CTRL_MAX 20

/* ---- GATT ------------------------------------------------------------------------------------ */
BLEService hiptrackService(HIPTRACK_UUID_SERVICE);
BLECharacteristic dataChar(HIPTRACK_UUID_DATA, BLENotify, HIPTRACK_MAX_PACKET_SIZE, false);
BLECharacteristic controlChar(HIPTRACK_UUID_CONTROL, BLEWrite | BLEWriteWithoutResponse, CTRL_MAX, false);
BLECharacteristic statusChar(HIPTRACK_UUID_STATUS, BLERead | BLENotify, HIPTRACK_STATUS_SIZE, true);
BLECharacteristic infoChar(HIPTRACK_UUID_INFO, BLERead, HIPTRACK_INFO_SIZE, true);

static char deviceName[20] = "hiptrack";

/* ---- Rev2: Bosch driver access ----------------------------------------------------------------
 * BoschSensorClass keeps its bmi2/bmm150 device structs private but hands them to the virtual
 * configure_sensor() during begin(); we keep the pointers and configure at START instead. */
#if HIPTRACK_WITH_REV2
class HiptrackBosch : public BoschSensorClass {
public:
  explicit HiptrackBosch(TwoWire& wire) : BoschSensorClass(wire) {}
  struct bmi2_dev* bmi = nullptr;
  struct bmm150_dev* bmm = nullptr;

protected:
  int8_t configure_sensor(struct bmi2_dev* dev) override {
    bmi = dev;
    return BMI2_OK;
  }
  int8_t configure_sensor(struct bmm150_dev* dev) override {
    bmm = dev;
    return BMM150_OK;
  }
};
HiptrackBosch bosch(Wire1);
#endif

/* ---- State ------------------------------------------------------------------------------------- */
static uint8_t board = HIPTRACK_BOARD_UNKNOWN;
static bool hasMag = false;

struct RingEntry {
  hiptrack_sample s;
  uint32_t t_us;
  uint16_t seq;
  bool fresh;
};
static RingEntry ring[RING_SIZE];
static uint16_t ringHead = 0; /* next write */
static uint16_t ringCount = 0;

static bool streaming = false;
static uint16_t rateHz = 0;
static uint32_t periodUs = 0;
static uint8_t accCode = 0;
static uint8_t gyrCode = 0;
static uint8_t configByte = 0;
static uint8_t perPacket = 0;
static uint32_t nextDue = 0;
static uint16_t nextSeq = 0;
static uint32_t dropped = 0;
static int16_t heldMag[3] = {0, 0, 0};

static uint8_t lastResult = HIPTRACK_OK;
static uint8_t lastOpcode = 0;

/* Filled by BLE event handlers (which may run inside writeValue() while it waits for the radio),
 * applied by loop() at a safe point. */
static uint8_t ctrlQueue[CTRL_QUEUE][CTRL_MAX];
static uint8_t ctrlLen[CTRL_QUEUE];
static uint8_t ctrlHead = 0;
static uint8_t ctrlCount = 0;
static bool pendingConnect = false;
static bool pendingDisconnect = false;
static bool connectedNow = false;

static uint32_t identifyUntilMs = 0;
static bool identifying = false;

static uint8_t packetBuf[HIPTRACK_MAX_PACKET_SIZE];

/* ---- I2C helpers (Wire1 = the Nano 33 BLE's internal sensor bus) ------------------------------ */
static bool i2cWrite(uint8_t addr, uint8_t reg, uint8_t value) {
  Wire1.beginTransmission(addr);
  Wire1.write(reg);
  Wire1.write(value);
  return Wire1.endTransmission() == 0;
}

static bool i2cRead(uint8_t addr, uint8_t reg, uint8_t* buf, size_t len) {
  Wire1.beginTransmission(addr);
  Wire1.write(reg);
  if (Wire1.endTransmission(false) != 0) {
    return false;
  }
  if (Wire1.requestFrom(addr, len) != len) {
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    buf[i] = (uint8_t)Wire1.read();
  }
  return true;
}

static void le16x3(const uint8_t* b, int16_t* out) {
  for (int k = 0; k < 3; k++) {
    out[k] = (int16_t)((uint16_t)b[2 * k] | ((uint16_t)b[2 * k + 1] << 8));
  }
}

static int rateIndex(uint16_t hz) {
  return hz == 50 ? 0 : hz == 100 ? 1 : hz == 200 ? 2 : -1;
}

/* ---- Rev1: LSM9DS1 ------------------------------------------------------------------------------ */
#if HIPTRACK_WITH_REV1
/* Sensor ODR ~2x the sample rate: 119 / 238 / 476 Hz (ODR_G codes 3/4/5; acc follows the gyro). */
static const uint8_t LSM_ODR[3] = {3, 4, 5};
/* FS_XL codes for 2/4/8/16 g (the register's odd order: 2g=0, 16g=1, 4g=2, 8g=3). */
static const uint8_t LSM_FS_XL[4] = {0, 2, 3, 1};
/* FS_G codes for 245/500/-/2000 dps. */
static const uint8_t LSM_FS_G[4] = {0, 1, 0, 3};

static bool lsmConfigure(int ri, uint8_t acc, uint8_t gyr) {
  bool ok = true;
  ok &= i2cWrite(LSM_AG_ADDR, LSM_CTRL_REG8, 0x44); /* BDU, address auto-increment */
  ok &= i2cWrite(LSM_AG_ADDR, LSM_CTRL_REG1_G, (uint8_t)((LSM_ODR[ri] << 5) | (LSM_FS_G[gyr] << 3)));
  ok &= i2cWrite(LSM_AG_ADDR, LSM_CTRL_REG6_XL, (uint8_t)((LSM_ODR[ri] << 5) | (LSM_FS_XL[acc] << 3)));
  /* Magnetometer: temperature compensation, high-performance X/Y and Z, 40 Hz, +-4 gauss, BDU. */
  ok &= i2cWrite(LSM_M_ADDR, LSM_CTRL_REG1_M, 0xD8);
  ok &= i2cWrite(LSM_M_ADDR, LSM_CTRL_REG2_M, 0x00);
  ok &= i2cWrite(LSM_M_ADDR, LSM_CTRL_REG4_M, 0x08);
  ok &= i2cWrite(LSM_M_ADDR, LSM_CTRL_REG5_M, 0x40);
  ok &= i2cWrite(LSM_M_ADDR, LSM_CTRL_REG3_M, 0x00); /* continuous conversion */
  return ok;
}

static void lsmSleep() {
  i2cWrite(LSM_AG_ADDR, LSM_CTRL_REG1_G, 0x00);
  i2cWrite(LSM_AG_ADDR, LSM_CTRL_REG6_XL, 0x00);
  i2cWrite(LSM_M_ADDR, LSM_CTRL_REG3_M, 0x03); /* power-down */
}

/* Multi-byte reads set bit 7 of the register address, as Arduino_LSM9DS1 does (the magnetometer
 * needs it for auto-increment). */
static bool lsmRead(hiptrack_sample* s, bool* fresh) {
  uint8_t b[6];
  uint8_t st = 0;
  if (!i2cRead(LSM_AG_ADDR, 0x80 | LSM_OUT_X_XL, b, 6)) {
    return false;
  }
  le16x3(b, s->acc);
  if (!i2cRead(LSM_AG_ADDR, 0x80 | LSM_OUT_X_G, b, 6)) {
    return false;
  }
  le16x3(b, s->gyr);
  *fresh = false;
  if (i2cRead(LSM_M_ADDR, LSM_STATUS_REG_M, &st, 1) && (st & 0x08) &&
      i2cRead(LSM_M_ADDR, 0x80 | LSM_OUT_X_L_M, b, 6)) {
    le16x3(b, heldMag);
    *fresh = true;
  }
  return true;
}
#endif

/* ---- Rev2: BMI270 + BMM150 -------------------------------------------------------------------- */
#if HIPTRACK_WITH_REV2
/* Sensor ODR ~2x the sample rate: 100 / 200 / 400 Hz (the same codes for acc and gyro). */
static const uint8_t BMI_ODR[3] = {BMI2_ACC_ODR_100HZ, BMI2_ACC_ODR_200HZ, BMI2_ACC_ODR_400HZ};
static const uint8_t BMI_GYR_RANGE[4] = {BMI2_GYR_RANGE_250, BMI2_GYR_RANGE_500, BMI2_GYR_RANGE_1000,
                                         BMI2_GYR_RANGE_2000};

static bool bmiConfigure(int ri, uint8_t acc, uint8_t gyr) {
  if (bosch.bmi == nullptr) {
    return false;
  }
  struct bmi2_sens_config cfg[2];
  memset(cfg, 0, sizeof(cfg));
  cfg[0].type = BMI2_ACCEL;
  cfg[1].type = BMI2_GYRO;
  int8_t r = bmi2_get_sensor_config(cfg, 2, bosch.bmi);
  cfg[0].cfg.acc.odr = BMI_ODR[ri];
  cfg[0].cfg.acc.range = acc; /* codes 0..3 are BMI2_ACC_RANGE_2G..16G */
  cfg[0].cfg.acc.bwp = BMI2_ACC_OSR2_AVG2;
  cfg[0].cfg.acc.filter_perf = BMI2_PERF_OPT_MODE;
  cfg[1].cfg.gyr.odr = BMI_ODR[ri];
  cfg[1].cfg.gyr.range = BMI_GYR_RANGE[gyr];
  cfg[1].cfg.gyr.bwp = BMI2_GYR_OSR2_MODE;
  cfg[1].cfg.gyr.filter_perf = BMI2_PERF_OPT_MODE;
  cfg[1].cfg.gyr.ois_range = BMI2_GYR_OIS_2000;
  if (r == BMI2_OK) {
    r = bmi2_set_sensor_config(cfg, 2, bosch.bmi);
  }
  uint8_t list[2] = {BMI2_ACCEL, BMI2_GYRO};
  if (r == BMI2_OK) {
    r = bmi2_sensor_enable(list, 2, bosch.bmi);
  }
  if (hasMag) {
    /* BMM150: normal mode, "regular" preset (9 XY / 15 Z repetitions), 25 Hz. A magnetometer that
     * fails here is dropped for the rest of the session (config bit 4 tells the host). */
    struct bmm150_settings ms;
    memset(&ms, 0, sizeof(ms));
    ms.pwr_mode = BMM150_POWERMODE_NORMAL;
    int8_t m = bmm150_set_op_mode(&ms, bosch.bmm);
    ms.preset_mode = BMM150_PRESETMODE_REGULAR;
    if (m == BMM150_OK) {
      m = bmm150_set_presetmode(&ms, bosch.bmm);
    }
    ms.data_rate = BMM150_DATA_RATE_25HZ;
    if (m == BMM150_OK) {
      m = bmm150_set_sensor_settings(BMM150_SEL_DATA_RATE, &ms, bosch.bmm);
    }
    hasMag = (m == BMM150_OK);
  }
  return r == BMI2_OK;
}

static void bmiSleep() {
  if (bosch.bmi != nullptr) {
    uint8_t list[2] = {BMI2_ACCEL, BMI2_GYRO};
    bmi2_sensor_disable(list, 2, bosch.bmi);
  }
  if (hasMag) {
    struct bmm150_settings ms;
    memset(&ms, 0, sizeof(ms));
    ms.pwr_mode = BMM150_POWERMODE_SLEEP;
    bmm150_set_op_mode(&ms, bosch.bmm);
  }
}

/* Compensated uT (whole uT from Bosch's fixed-point path) -> 1/16 uT counts, clamped. */
static int16_t magTo16th(float uT) {
  float v = uT * 16.0f;
  if (v > 32767.0f) {
    return 32767;
  }
  if (v < -32767.0f) {
    return -32767;
  }
  return (int16_t)lroundf(v);
}

static bool bmiRead(hiptrack_sample* s, bool* fresh) {
  struct bmi2_sens_data d;
  memset(&d, 0, sizeof(d));
  if (bmi2_get_sensor_data(&d, bosch.bmi) != BMI2_OK) {
    return false;
  }
  /* The BMI270's own axes; no remap (the library's Nano remap is a reflection, see README). */
  s->acc[0] = d.acc.x;
  s->acc[1] = d.acc.y;
  s->acc[2] = d.acc.z;
  s->gyr[0] = d.gyr.x;
  s->gyr[1] = d.gyr.y;
  s->gyr[2] = d.gyr.z;
  *fresh = false;
  if (hasMag && bmm150_get_interrupt_status(bosch.bmm) == BMM150_OK &&
      (bosch.bmm->int_status & BMM150_INT_ASSERTED_DRDY)) {
    struct bmm150_mag_data m;
    if (bmm150_read_mag_data(&m, bosch.bmm) == BMM150_OK && m.x != -32768 && m.y != -32768 && m.z != -32768) {
      heldMag[0] = magTo16th((float)m.x);
      heldMag[1] = magTo16th((float)m.y);
      heldMag[2] = magTo16th((float)m.z);
      *fresh = true;
    }
  }
  return true;
}
#endif

/* ---- Board-independent sensor calls ------------------------------------------------------------ */
static bool imuConfigure(int ri, uint8_t acc, uint8_t gyr) {
#if HIPTRACK_WITH_REV1
  if (board == HIPTRACK_BOARD_REV1) {
    return lsmConfigure(ri, acc, gyr);
  }
#endif
#if HIPTRACK_WITH_REV2
  if (board == HIPTRACK_BOARD_REV2) {
    return bmiConfigure(ri, acc, gyr);
  }
#endif
  return false;
}

static void imuSleep() {
#if HIPTRACK_WITH_REV1
  if (board == HIPTRACK_BOARD_REV1) {
    lsmSleep();
  }
#endif
#if HIPTRACK_WITH_REV2
  if (board == HIPTRACK_BOARD_REV2) {
    bmiSleep();
  }
#endif
}

static bool imuRead(hiptrack_sample* s, bool* fresh) {
  bool ok = false;
#if HIPTRACK_WITH_REV1
  if (board == HIPTRACK_BOARD_REV1) {
    ok = lsmRead(s, fresh);
  }
#endif
#if HIPTRACK_WITH_REV2
  if (board == HIPTRACK_BOARD_REV2) {
    ok = bmiRead(s, fresh);
  }
#endif
  for (int k = 0; k < 3; k++) {
    s->mag[k] = hasMag ? heldMag[k] : 0;
  }
  return ok;
}

static uint8_t detectBoard() {
  uint8_t id = 0;
  Wire1.begin();
  delay(10);
#if HIPTRACK_FORCE_BOARD != 0
  return HIPTRACK_FORCE_BOARD;
#endif
  if (i2cRead(LSM_AG_ADDR, LSM_WHO_AM_I, &id, 1) && id == 0x68) {
    return HIPTRACK_BOARD_REV1;
  }
  if (i2cRead(BMI_ADDR, BMI_CHIP_ID_REG, &id, 1) && id == BMI_CHIP_ID) {
    return HIPTRACK_BOARD_REV2;
  }
  return HIPTRACK_BOARD_UNKNOWN;
}

/* Start the detected IMU's library; on failure the board is reported as having no IMU. */
static void startImu() {
  bool ok = false;
#if HIPTRACK_WITH_REV1
  if (board == HIPTRACK_BOARD_REV1) {
    ok = IMU_LSM9DS1.begin() == 1; /* resets both dies, checks WHO_AM_I */
    hasMag = ok;
  }
#endif
#if HIPTRACK_WITH_REV2
  if (board == HIPTRACK_BOARD_REV2) {
    /* begin()'s return value cannot be trusted (a later step overwrites an earlier error code),
     * so check each chip: the BMI270 reports its config upload in INTERNAL_STATUS, and Bosch's
     * bmm150_init stores the chip id only when it read the right one. */
    bosch.begin();
    uint8_t st = 0;
    ok = bosch.bmi != nullptr && bmi2_get_internal_status(&st, bosch.bmi) == BMI2_OK &&
         (st & BMI2_CONFIG_LOAD_SUCCESS);
    hasMag = bosch.bmm != nullptr && bosch.bmm->chip_id == BMM150_CHIP_ID;
  }
#endif
  if (!ok) {
    board = HIPTRACK_BOARD_UNKNOWN;
    hasMag = false;
    return;
  }
  Wire1.setClock(400000); /* after begin(): 100 kHz is too slow for 200 Hz */
  imuSleep();
}

/* ---- Status ------------------------------------------------------------------------------------- */
static void publishStatus() {
  hiptrack_status st;
  uint8_t buf[HIPTRACK_STATUS_SIZE];
  st.state = streaming ? HIPTRACK_STATE_STREAMING : HIPTRACK_STATE_IDLE;
  st.result = lastResult;
  st.opcode = lastOpcode;
  st.samples_per_packet = streaming ? perPacket : 0;
  st.rate_hz = streaming ? rateHz : 0;
  st.config = configByte;
  st.dropped = dropped;
  if (hiptrack_pack_status(buf, sizeof(buf), &st) == HIPTRACK_STATUS_SIZE) {
    statusChar.writeValue(buf, HIPTRACK_STATUS_SIZE);
  }
}

static void publishInfo() {
  hiptrack_info info;
  uint8_t buf[HIPTRACK_INFO_SIZE];
  info.board = board;
  info.sensors = board == HIPTRACK_BOARD_UNKNOWN
                     ? 0
                     : (uint8_t)(HIPTRACK_SENSOR_ACC | HIPTRACK_SENSOR_GYR | (hasMag ? HIPTRACK_SENSOR_MAG : 0));
  info.imu_part = board == HIPTRACK_BOARD_REV1   ? HIPTRACK_PART_LSM9DS1
                  : board == HIPTRACK_BOARD_REV2 ? HIPTRACK_PART_BMI270
                                                 : HIPTRACK_PART_NONE;
  info.mag_part = !hasMag                        ? HIPTRACK_PART_NONE
                  : board == HIPTRACK_BOARD_REV1 ? HIPTRACK_PART_LSM9DS1
                                                 : HIPTRACK_PART_BMM150;
  info.battery_percent = HIPTRACK_BATTERY_UNKNOWN; /* no battery gauge on a Nano 33 BLE */
  if (hiptrack_pack_info(buf, sizeof(buf), &info) == HIPTRACK_INFO_SIZE) {
    infoChar.writeValue(buf, HIPTRACK_INFO_SIZE);
  }
}

/* ---- Streaming ---------------------------------------------------------------------------------- */
static void stopStreaming() {
  if (streaming) {
    imuSleep();
  }
  streaming = false;
  ringHead = 0;
  ringCount = 0;
}

static uint8_t startStreaming(const uint8_t* data, size_t len) {
  hiptrack_start_cmd cmd;
  if (board == HIPTRACK_BOARD_UNKNOWN) {
    return HIPTRACK_ERR_SENSOR;
  }
  uint8_t r = hiptrack_parse_start(data, len, board, &cmd);
  if (r != HIPTRACK_OK) {
    return r;
  }
  stopStreaming();
  int ri = rateIndex(cmd.rate_hz);
  if (!imuConfigure(ri, cmd.acc_code, cmd.gyr_code)) {
    imuSleep();
    return HIPTRACK_ERR_SENSOR;
  }
  rateHz = cmd.rate_hz;
  periodUs = 1000000UL / cmd.rate_hz;
  accCode = cmd.acc_code;
  gyrCode = cmd.gyr_code;
  configByte = hiptrack_config_byte(accCode, gyrCode, hasMag);
  perPacket = cmd.samples_per_packet;
  /* Let the sensors settle and get a first magnetometer reading, so no sample carries a made-up
   * field (the host keeps a magnetometer only if every sample has one). */
  heldMag[0] = heldMag[1] = heldMag[2] = 0;
  uint32_t t0 = millis();
  while (hasMag && millis() - t0 < 100) {
    hiptrack_sample s;
    bool fresh = false;
    if (imuRead(&s, &fresh) && fresh) {
      break;
    }
    delay(2);
  }
  dropped = 0;
  nextSeq = 0;
  ringHead = 0;
  ringCount = 0;
  nextDue = micros() + periodUs;
  streaming = true;
  return HIPTRACK_OK;
}

static void pushSample(const hiptrack_sample* s, bool fresh, uint16_t seq, uint32_t t) {
  if (ringCount == RING_SIZE) { /* the link is not draining: drop the oldest, the host sees the gap */
    ringCount--;
    dropped++;
  }
  RingEntry& e = ring[ringHead];
  e.s = *s;
  e.fresh = fresh;
  e.seq = seq;
  e.t_us = t;
  ringHead = (uint16_t)((ringHead + 1) % RING_SIZE);
  ringCount++;
}

static void sampleIfDue() {
  uint32_t now = micros();
  int32_t late = (int32_t)(now - nextDue);
  if (late < 0) {
    return;
  }
  if ((uint32_t)late >= periodUs) { /* slots missed while BLE blocked: they are lost, not faked */
    uint32_t missed = (uint32_t)late / periodUs;
    nextDue += missed * periodUs;
    nextSeq = (uint16_t)(nextSeq + missed);
    dropped += missed;
  }
  hiptrack_sample s;
  bool fresh = false;
  if (imuRead(&s, &fresh)) {
    pushSample(&s, fresh, nextSeq, nextDue);
  } else {
    dropped++;
  }
  nextSeq++;
  nextDue += periodUs;
}

static void sendIfReady() {
  if (ringCount == 0 || !dataChar.subscribed()) {
    return;
  }
  uint16_t tail = (uint16_t)((ringHead + RING_SIZE - ringCount) % RING_SIZE);
  /* Consecutive samples from the oldest on, up to perPacket. */
  uint8_t n = 1;
  while (n < perPacket && n < ringCount &&
         ring[(tail + n) % RING_SIZE].seq == (uint16_t)(ring[tail].seq + n)) {
    n++;
  }
  if (n < perPacket && n == ringCount) {
    return; /* wait for more (a gap after n samples sends the short packet at once) */
  }
  hiptrack_sample batch[HIPTRACK_MAX_SAMPLES];
  hiptrack_header h;
  h.seq = ring[tail].seq;
  h.t0_us = ring[tail].t_us;
  h.period_us = (uint16_t)periodUs;
  h.board = board;
  h.config = configByte;
  h.mag_fresh = 0;
  for (uint8_t i = 0; i < n; i++) {
    const RingEntry& e = ring[(tail + i) % RING_SIZE];
    batch[i] = e.s;
    if (e.fresh) {
      h.mag_fresh = (uint16_t)(h.mag_fresh | (1u << i));
    }
  }
  size_t len = hiptrack_pack_packet(packetBuf, sizeof(packetBuf), &h, batch, n);
  ringCount = (uint16_t)(ringCount - n);
  if (len == 0) {
    return;
  }
  int sent = dataChar.writeValue(packetBuf, (int)len); /* may wait for the radio */
  if (sent > 0 && (size_t)sent < len) {
    /* ArduinoBLE cut the notification to the real ATT MTU - 3 without telling: the host was wrong
     * about max_payload. Shrink the batches to what fits (the cut packet fails its CRC on the host
     * and shows as lost samples); stop if not even one sample fits. */
    uint8_t fit = hiptrack_samples_fitting((uint16_t)sent);
    lastOpcode = HIPTRACK_OP_START;
    if (fit == 0) {
      lastResult = HIPTRACK_ERR_PAYLOAD_TOO_SMALL;
      stopStreaming();
    } else {
      perPacket = fit;
    }
    publishStatus();
  }
}

/* ---- Control commands --------------------------------------------------------------------------- */
static void handleControl(const uint8_t* data, size_t len) {
  uint8_t r = HIPTRACK_OK;
  if (len == 0) {
    r = HIPTRACK_ERR_BAD_LENGTH;
  } else if (data[0] == HIPTRACK_OP_START) {
    r = connectedNow ? startStreaming(data, len) : HIPTRACK_ERR_NOT_CONNECTED;
  } else if (data[0] == HIPTRACK_OP_STOP) {
    r = len == 1 ? HIPTRACK_OK : HIPTRACK_ERR_BAD_LENGTH;
    stopStreaming();
  } else if (data[0] == HIPTRACK_OP_IDENTIFY) {
    if (len == 2) {
      identifyUntilMs = millis() + 1000UL * data[1];
      identifying = data[1] > 0;
    } else {
      r = HIPTRACK_ERR_BAD_LENGTH;
    }
  } else {
    r = HIPTRACK_ERR_UNKNOWN_OPCODE;
  }
  lastOpcode = data[0];
  lastResult = r;
  publishStatus();
}

/* BLE event handlers: only record what happened (see ctrlQueue). */
static void onConnect(BLEDevice central) {
  (void)central;
  pendingConnect = true;
}

static void onDisconnect(BLEDevice central) {
  (void)central;
  pendingDisconnect = true;
}

static void onControlWritten(BLEDevice central, BLECharacteristic characteristic) {
  (void)central;
  if (ctrlCount == CTRL_QUEUE) {
    return; /* the host writes faster than we apply: ignore (the status says what was applied) */
  }
  uint8_t slot = (uint8_t)((ctrlHead + ctrlCount) % CTRL_QUEUE);
  int n = characteristic.valueLength();
  if (n > CTRL_MAX) {
    n = CTRL_MAX;
  }
  memcpy(ctrlQueue[slot], characteristic.value(), (size_t)n);
  ctrlLen[slot] = (uint8_t)n;
  ctrlCount++;
}

static void applyEvents() {
  if (pendingDisconnect) {
    pendingDisconnect = false;
    connectedNow = false;
    stopStreaming(); /* never stream without a host */
    identifying = false;
    ctrlCount = 0;
  }
  if (pendingConnect) {
    pendingConnect = false;
    connectedNow = true;
    stopStreaming();
    lastResult = HIPTRACK_OK;
    lastOpcode = 0;
    publishStatus();
  }
  while (ctrlCount > 0) {
    uint8_t slot = ctrlHead;
    ctrlHead = (uint8_t)((ctrlHead + 1) % CTRL_QUEUE);
    ctrlCount--;
    handleControl(ctrlQueue[slot], ctrlLen[slot]);
  }
  if (streaming && !BLE.connected()) { /* belt and braces: a missed disconnect event */
    connectedNow = false;
    stopStreaming();
  }
}

static void updateLed() {
  if (identifying && (int32_t)(millis() - identifyUntilMs) >= 0) {
    identifying = false;
  }
  bool on = identifying ? ((millis() / 100) % 2 == 0) : connectedNow;
  digitalWrite(LED_BUILTIN, on ? HIGH : LOW);
}

/* ---- Arduino entry points ----------------------------------------------------------------------- */
void setup() {
  pinMode(LED_BUILTIN, OUTPUT);
  Serial.begin(115200); /* diagnostics only; never waits for a terminal */

  board = detectBoard();
  startImu();
  Serial.print("hiptrack_imu: board ");
  Serial.println(board == HIPTRACK_BOARD_REV1 ? "Rev1 (LSM9DS1)"
                 : board == HIPTRACK_BOARD_REV2 ? "Rev2 (BMI270 + BMM150)"
                                                : "unknown: no IMU found");

  if (!BLE.begin()) {
    Serial.println("hiptrack_imu: BLE.begin() failed");
    while (true) { /* fast blink: BLE broken */
      digitalWrite(LED_BUILTIN, (millis() / 50) % 2 ? HIGH : LOW);
    }
  }
  /* Name: hiptrack-XXXX, the last 4 hex digits of the BLE address (aa:bb:cc:dd:ee:ff -> eeff). */
  String addr = BLE.address();
  if (addr.length() >= 17) {
    snprintf(deviceName, sizeof(deviceName), "hiptrack-%c%c%c%c", addr[12], addr[13], addr[15], addr[16]);
  }
  BLE.setLocalName(deviceName);
  BLE.setDeviceName(deviceName);
  BLE.setConnectionInterval(6, 12); /* ask for 7.5-15 ms; the central decides */
  BLE.setAdvertisedService(hiptrackService);
  hiptrackService.addCharacteristic(dataChar);
  hiptrackService.addCharacteristic(controlChar);
  hiptrackService.addCharacteristic(statusChar);
  hiptrackService.addCharacteristic(infoChar);
  BLE.addService(hiptrackService);
  BLE.setEventHandler(BLEConnected, onConnect);
  BLE.setEventHandler(BLEDisconnected, onDisconnect);
  controlChar.setEventHandler(BLEWritten, onControlWritten);
  publishInfo();
  publishStatus();
  BLE.advertise();
  Serial.print("hiptrack_imu: advertising as ");
  Serial.println(deviceName);
}

void loop() {
  BLE.poll();
  applyEvents();
  if (streaming) {
    sampleIfDue();
    sendIfReady();
  }
  updateLed();
}
