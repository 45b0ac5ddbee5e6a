/*
 * hiptrack_packet.h: the hiptrack Nano 33 BLE wire format, in plain C99.
 *
 * Everything the firmware puts on the air (IMU data packets, the status and device-info
 * characteristics) and everything it accepts (control writes) is packed or parsed here, with no
 * Arduino dependency, so the host compiler can build it and the Python codec can be tested against
 * exactly these bytes (tests/test_nano33_codec.py). The layout is documented in ../README.md and
 * mirrored in firmware_bridge/nano33/protocol.py: change all three together.
 *
 * All functions are `static inline`; no dynamic memory, no globals, no floating point except the
 * scale tables (which the firmware itself does not need: it sends raw counts). Multi-byte fields
 * are little-endian and are written byte by byte, so the result does not depend on the CPU.
 * Compiles as C99 and as C++ (the .ino sketch is C++).
 */
#ifndef HIPTRACK_PACKET_H
#define HIPTRACK_PACKET_H

#include <stddef.h>
#include <stdint.h>

/* ---- GATT UUIDs (128-bit, generated for hiptrack; the same in protocol.py) -------------------- */
#define HIPTRACK_UUID_SERVICE "5dfea600-02b3-4e26-abc8-2ffe8e34f80f"
#define HIPTRACK_UUID_DATA    "5dfea601-02b3-4e26-abc8-2ffe8e34f80f" /* notify: IMU packets     */
#define HIPTRACK_UUID_CONTROL "5dfea602-02b3-4e26-abc8-2ffe8e34f80f" /* write: START/STOP/...   */
#define HIPTRACK_UUID_STATUS  "5dfea603-02b3-4e26-abc8-2ffe8e34f80f" /* read + notify: state    */
#define HIPTRACK_UUID_INFO    "5dfea604-02b3-4e26-abc8-2ffe8e34f80f" /* read: device info       */

/* ---- Firmware version (reported in the info characteristic) ------------------------------------ */
#define HIPTRACK_FW_MAJOR 1
#define HIPTRACK_FW_MINOR 0
#define HIPTRACK_FW_PATCH 0

/* ---- Data packet --------------------------------------------------------------------------------
 * off  size  field
 *   0     1  format version (HIPTRACK_PACKET_VERSION)
 *   1     1  n = samples in this packet, 1..HIPTRACK_MAX_SAMPLES
 *   2     2  seq: sample counter of the first sample (u16, +1 per sample slot, wraps 65535 -> 0)
 *   4     4  t0_us: device time of the first sample, us (u32 micros(), wraps after ~71.6 min)
 *   8     2  period_us: sample i was taken at t0_us + i * period_us (and has seq + i)
 *  10     1  board: HIPTRACK_BOARD_REV1 / HIPTRACK_BOARD_REV2
 *  11     1  config: bits 0-1 acc range code, bits 2-3 gyro range code, bit 4 mag present
 *  12     2  mag_fresh: bit i set = sample i carries a new magnetometer reading (else: repeated)
 *  14  18*n  samples: ax ay az gx gy gz mx my mz, int16 raw counts in each chip's own axes
 * 14+18n  2  CRC-16/CCITT-FALSE over bytes 0 .. 13+18n
 */
#define HIPTRACK_PACKET_VERSION 1u
#define HIPTRACK_HEADER_SIZE 14u
#define HIPTRACK_SAMPLE_SIZE 18u
#define HIPTRACK_CRC_SIZE 2u
#define HIPTRACK_MAX_SAMPLES 12u
#define HIPTRACK_PACKET_SIZE(n) (HIPTRACK_HEADER_SIZE + HIPTRACK_SAMPLE_SIZE * (n) + HIPTRACK_CRC_SIZE)
#define HIPTRACK_MAX_PACKET_SIZE HIPTRACK_PACKET_SIZE(HIPTRACK_MAX_SAMPLES) /* 232 */
#define HIPTRACK_MIN_PAYLOAD HIPTRACK_PACKET_SIZE(1u)                         /* 34 = ATT MTU 37 */

#define HIPTRACK_BOARD_UNKNOWN 0u
#define HIPTRACK_BOARD_REV1 1u /* Nano 33 BLE / BLE Sense: ST LSM9DS1 (acc+gyro+mag)        */
#define HIPTRACK_BOARD_REV2 2u /* Nano 33 BLE Rev2 / BLE Sense Rev2: Bosch BMI270 + BMM150 */

/* Range codes (2 bits each in the config byte, and in the START command). */
#define HIPTRACK_ACC_2G 0u
#define HIPTRACK_ACC_4G 1u
#define HIPTRACK_ACC_8G 2u
#define HIPTRACK_ACC_16G 3u
#define HIPTRACK_GYR_250DPS 0u  /* +-245 dps on the LSM9DS1 */
#define HIPTRACK_GYR_500DPS 1u
#define HIPTRACK_GYR_1000DPS 2u /* BMI270 only */
#define HIPTRACK_GYR_2000DPS 3u
#define HIPTRACK_CONFIG_MAG_PRESENT 0x10u

static inline uint8_t hiptrack_config_byte(uint8_t acc_code, uint8_t gyr_code, int has_mag)
{
    return (uint8_t)((acc_code & 3u) | ((gyr_code & 3u) << 2) | (has_mag ? HIPTRACK_CONFIG_MAG_PRESENT : 0u));
}

/* ---- Control characteristic (host writes) -------------------------------------------------------
 * START     01 | rate_hz u16 | acc_code u8 | gyr_code u8 | max_payload u16 | samples_per_packet u8
 *           (8 bytes; rate 50/100/200; max_payload = ATT MTU - 3 as the host sees it;
 *            samples_per_packet 0 = let the firmware choose)
 * STOP      02
 * IDENTIFY  03 | seconds u8        (blink the orange LED)
 */
#define HIPTRACK_OP_START 0x01u
#define HIPTRACK_OP_STOP 0x02u
#define HIPTRACK_OP_IDENTIFY 0x03u
#define HIPTRACK_START_SIZE 8u

/* Result codes (status characteristic byte 1). */
#define HIPTRACK_OK 0u
#define HIPTRACK_ERR_UNKNOWN_OPCODE 1u
#define HIPTRACK_ERR_BAD_LENGTH 2u
#define HIPTRACK_ERR_BAD_RATE 3u
#define HIPTRACK_ERR_BAD_ACC_RANGE 4u
#define HIPTRACK_ERR_BAD_GYRO_RANGE 5u
#define HIPTRACK_ERR_PAYLOAD_TOO_SMALL 6u
#define HIPTRACK_ERR_SENSOR 7u
#define HIPTRACK_ERR_NOT_CONNECTED 8u

typedef struct {
    uint16_t rate_hz;
    uint8_t acc_code;
    uint8_t gyr_code;
    uint16_t max_payload;
    uint8_t samples_per_packet;
} hiptrack_start_cmd;

/* ---- Status characteristic (read + notify), 12 bytes ----------------------------------------------
 * off size field
 *  0   1   state: 0 idle, 1 streaming
 *  1   1   result of the last control write (HIPTRACK_OK / HIPTRACK_ERR_*)
 *  2   1   opcode that result belongs to (0 = none yet)
 *  3   1   samples per packet in use (0 when idle)
 *  4   2   sample rate in use, Hz (0 when idle)
 *  6   1   config byte in use (as data packet byte 11)
 *  7   1   reserved, 0
 *  8   4   samples the firmware dropped since START (missed slots + ring-buffer overflow), u32
 */
#define HIPTRACK_STATUS_SIZE 12u
#define HIPTRACK_STATE_IDLE 0u
#define HIPTRACK_STATE_STREAMING 1u

typedef struct {
    uint8_t state;
    uint8_t result;
    uint8_t opcode;
    uint8_t samples_per_packet;
    uint16_t rate_hz;
    uint8_t config;
    uint32_t dropped;
} hiptrack_status;

/* ---- Device-info characteristic (read), 16 bytes ---------------------------------------------------
 * off size field
 *  0   1   info layout version (1)
 *  1   1   data packet format version (HIPTRACK_PACKET_VERSION)
 *  2   1   board (HIPTRACK_BOARD_*)
 *  3   1   sensors present: bit0 acc, bit1 gyro, bit2 mag
 *  4   1   acc/gyro part: 0 none, 1 LSM9DS1, 2 BMI270
 *  5   1   mag part: 0 none, 1 LSM9DS1 (its magnetometer die), 2 BMM150
 *  6   3   firmware version major, minor, patch
 *  9   1   battery percent, 0xFF = unknown (a Nano 33 BLE has no battery gauge)
 * 10   1   max samples per packet (HIPTRACK_MAX_SAMPLES)
 * 11   1   supported rates: bit0 50 Hz, bit1 100 Hz, bit2 200 Hz
 * 12   1   supported acc range codes (bit k = code k)
 * 13   1   supported gyro range codes (bit k = code k)
 * 14   2   reserved, 0
 */
#define HIPTRACK_INFO_SIZE 16u
#define HIPTRACK_INFO_VERSION 1u
#define HIPTRACK_SENSOR_ACC 0x01u
#define HIPTRACK_SENSOR_GYR 0x02u
#define HIPTRACK_SENSOR_MAG 0x04u
#define HIPTRACK_PART_NONE 0u
#define HIPTRACK_PART_LSM9DS1 1u
#define HIPTRACK_PART_BMI270 2u
#define HIPTRACK_PART_BMM150 2u
#define HIPTRACK_BATTERY_UNKNOWN 0xFFu

typedef struct {
    uint8_t board;
    uint8_t sensors;
    uint8_t imu_part;
    uint8_t mag_part;
    uint8_t battery_percent;
} hiptrack_info;

/* ---- Samples and headers ------------------------------------------------------------------------ */
typedef struct {
    int16_t acc[3];
    int16_t gyr[3];
    int16_t mag[3];
} hiptrack_sample;

typedef struct {
    uint16_t seq;
    uint32_t t0_us;
    uint16_t period_us;
    uint8_t board;
    uint8_t config;
    uint16_t mag_fresh;
} hiptrack_header;

/* ---- Little-endian helpers ---------------------------------------------------------------------- */
static inline void hiptrack_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static inline void hiptrack_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static inline void hiptrack_put_i16(uint8_t *p, int16_t v)
{
    hiptrack_put_u16(p, (uint16_t)v); /* two's complement bit pattern */
}

static inline uint16_t hiptrack_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)(p[1] << 8));
}

/* ---- CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.
 *      Check value: "123456789" -> 0x29B1. Stored little-endian after the covered bytes. ---------- */
static inline uint16_t hiptrack_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)data[i] << 8));
        for (bit = 0; bit < 8; bit++) {
            if (crc & 0x8000u) {
                crc = (uint16_t)((crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return crc;
}

/* Samples that fit one notification whose payload may be at most `max_payload` bytes
 * (ATT MTU - 3), capped at HIPTRACK_MAX_SAMPLES; 0 if not even one sample fits. */
static inline uint8_t hiptrack_samples_fitting(uint16_t max_payload)
{
    uint32_t n;
    if (max_payload < HIPTRACK_MIN_PAYLOAD) {
        return 0;
    }
    n = ((uint32_t)max_payload - HIPTRACK_HEADER_SIZE - HIPTRACK_CRC_SIZE) / HIPTRACK_SAMPLE_SIZE;
    return (uint8_t)(n > HIPTRACK_MAX_SAMPLES ? HIPTRACK_MAX_SAMPLES : n);
}

/* Pack one data packet into buf (capacity buf_size). Returns its length, or 0 if n is 0 or above
 * HIPTRACK_MAX_SAMPLES or the buffer is too small (nothing useful is written then). */
static inline size_t hiptrack_pack_packet(uint8_t *buf, size_t buf_size, const hiptrack_header *h,
                                          const hiptrack_sample *samples, uint8_t n)
{
    size_t len;
    size_t off;
    uint8_t i;
    int k;
    if (buf == NULL || h == NULL || samples == NULL || n == 0u || n > HIPTRACK_MAX_SAMPLES) {
        return 0;
    }
    len = HIPTRACK_PACKET_SIZE((size_t)n);
    if (buf_size < len) {
        return 0;
    }
    buf[0] = (uint8_t)HIPTRACK_PACKET_VERSION;
    buf[1] = n;
    hiptrack_put_u16(buf + 2, h->seq);
    hiptrack_put_u32(buf + 4, h->t0_us);
    hiptrack_put_u16(buf + 8, h->period_us);
    buf[10] = h->board;
    buf[11] = h->config;
    hiptrack_put_u16(buf + 12, (uint16_t)(h->mag_fresh & (uint16_t)((1u << n) - 1u)));
    off = HIPTRACK_HEADER_SIZE;
    for (i = 0; i < n; i++) {
        for (k = 0; k < 3; k++) {
            hiptrack_put_i16(buf + off + 2u * (size_t)k, samples[i].acc[k]);
            hiptrack_put_i16(buf + off + 6u + 2u * (size_t)k, samples[i].gyr[k]);
            hiptrack_put_i16(buf + off + 12u + 2u * (size_t)k, samples[i].mag[k]);
        }
        off += HIPTRACK_SAMPLE_SIZE;
    }
    hiptrack_put_u16(buf + off, hiptrack_crc16(buf, off));
    return len;
}

/* Pack the status characteristic (HIPTRACK_STATUS_SIZE bytes); returns the length or 0. */
static inline size_t hiptrack_pack_status(uint8_t *buf, size_t buf_size, const hiptrack_status *s)
{
    if (buf == NULL || s == NULL || buf_size < HIPTRACK_STATUS_SIZE) {
        return 0;
    }
    buf[0] = s->state;
    buf[1] = s->result;
    buf[2] = s->opcode;
    buf[3] = s->samples_per_packet;
    hiptrack_put_u16(buf + 4, s->rate_hz);
    buf[6] = s->config;
    buf[7] = 0;
    hiptrack_put_u32(buf + 8, s->dropped);
    return HIPTRACK_STATUS_SIZE;
}

/* Bitmask of gyro range codes a board supports (the LSM9DS1 has no +-1000 dps). */
static inline uint8_t hiptrack_gyro_codes(uint8_t board)
{
    if (board == HIPTRACK_BOARD_REV1) {
        return (uint8_t)((1u << HIPTRACK_GYR_250DPS) | (1u << HIPTRACK_GYR_500DPS) | (1u << HIPTRACK_GYR_2000DPS));
    }
    if (board == HIPTRACK_BOARD_REV2) {
        return 0x0Fu;
    }
    return 0;
}

/* Pack the device-info characteristic (HIPTRACK_INFO_SIZE bytes); returns the length or 0. */
static inline size_t hiptrack_pack_info(uint8_t *buf, size_t buf_size, const hiptrack_info *info)
{
    int has_imu;
    if (buf == NULL || info == NULL || buf_size < HIPTRACK_INFO_SIZE) {
        return 0;
    }
    has_imu = info->board == HIPTRACK_BOARD_REV1 || info->board == HIPTRACK_BOARD_REV2;
    buf[0] = (uint8_t)HIPTRACK_INFO_VERSION;
    buf[1] = (uint8_t)HIPTRACK_PACKET_VERSION;
    buf[2] = info->board;
    buf[3] = info->sensors;
    buf[4] = info->imu_part;
    buf[5] = info->mag_part;
    buf[6] = (uint8_t)HIPTRACK_FW_MAJOR;
    buf[7] = (uint8_t)HIPTRACK_FW_MINOR;
    buf[8] = (uint8_t)HIPTRACK_FW_PATCH;
    buf[9] = info->battery_percent;
    buf[10] = (uint8_t)HIPTRACK_MAX_SAMPLES;
    buf[11] = (uint8_t)(has_imu ? 0x07u : 0u);
    buf[12] = (uint8_t)(has_imu ? 0x0Fu : 0u);
    buf[13] = hiptrack_gyro_codes(info->board);
    buf[14] = 0;
    buf[15] = 0;
    return HIPTRACK_INFO_SIZE;
}

/* Parse and validate a START command for `board`. Returns HIPTRACK_OK and fills *cmd, or an
 * HIPTRACK_ERR_* code (cmd then holds whatever could be read). samples_per_packet 0 becomes the
 * firmware's choice; any value is then capped at what fits max_payload. */
static inline uint8_t hiptrack_parse_start(const uint8_t *data, size_t len, uint8_t board, hiptrack_start_cmd *cmd)
{
    uint8_t fit;
    if (data == NULL || cmd == NULL || len != HIPTRACK_START_SIZE || data[0] != HIPTRACK_OP_START) {
        return HIPTRACK_ERR_BAD_LENGTH;
    }
    cmd->rate_hz = hiptrack_get_u16(data + 1);
    cmd->acc_code = data[3];
    cmd->gyr_code = data[4];
    cmd->max_payload = hiptrack_get_u16(data + 5);
    cmd->samples_per_packet = data[7];
    if (cmd->rate_hz != 50u && cmd->rate_hz != 100u && cmd->rate_hz != 200u) {
        return HIPTRACK_ERR_BAD_RATE;
    }
    if (cmd->acc_code > 3u) {
        return HIPTRACK_ERR_BAD_ACC_RANGE;
    }
    if (cmd->gyr_code > 3u || !(hiptrack_gyro_codes(board) & (1u << cmd->gyr_code))) {
        return HIPTRACK_ERR_BAD_GYRO_RANGE;
    }
    fit = hiptrack_samples_fitting(cmd->max_payload);
    if (fit == 0u) {
        return HIPTRACK_ERR_PAYLOAD_TOO_SMALL;
    }
    if (cmd->samples_per_packet == 0u) {
        /* Firmware's choice: about 25 notifications/s (ArduinoBLE was measured to sustain roughly
         * 40/s), i.e. 2 / 4 / 8 samples at 50 / 100 / 200 Hz, fewer if the MTU is smaller. */
        cmd->samples_per_packet = (uint8_t)((cmd->rate_hz + 24u) / 25u);
    }
    if (cmd->samples_per_packet > fit) {
        cmd->samples_per_packet = fit;
    }
    return HIPTRACK_OK;
}

/* ---- Scale factors: SI units per LSB, by board and range code (also in protocol.py) -------------
 * Rev1 LSM9DS1 (ST datasheet sensitivities, not full-scale/32768):
 *   acc 0.061 / 0.122 / 0.244 / 0.732 mg/LSB; gyro 8.75 / 17.5 / - / 70 mdps/LSB; mag 0.14 mgauss/LSB
 *   = 0.014 uT/LSB (+-4 gauss, fixed).
 * Rev2 BMI270: acc 16384 / 8192 / 4096 / 2048 LSB/g; gyro 131.2 / 65.6 / 32.8 / 16.4 LSB/dps;
 *   BMM150 (trim-compensated on the board by Bosch's driver, whole uT) sent as 1/16 uT/LSB.
 * A value of 0 means "this range does not exist on this board". */
static inline double hiptrack_acc_g_per_lsb(uint8_t board, uint8_t code)
{
    static const double rev1[4] = {0.061e-3, 0.122e-3, 0.244e-3, 0.732e-3};
    static const double rev2[4] = {1.0 / 16384.0, 1.0 / 8192.0, 1.0 / 4096.0, 1.0 / 2048.0};
    if (code > 3u) {
        return 0.0;
    }
    return board == HIPTRACK_BOARD_REV1 ? rev1[code] : board == HIPTRACK_BOARD_REV2 ? rev2[code] : 0.0;
}

static inline double hiptrack_gyr_dps_per_lsb(uint8_t board, uint8_t code)
{
    static const double rev1[4] = {8.75e-3, 17.5e-3, 0.0, 70.0e-3};
    static const double rev2[4] = {1.0 / 131.2, 1.0 / 65.6, 1.0 / 32.8, 1.0 / 16.4};
    if (code > 3u) {
        return 0.0;
    }
    return board == HIPTRACK_BOARD_REV1 ? rev1[code] : board == HIPTRACK_BOARD_REV2 ? rev2[code] : 0.0;
}

static inline double hiptrack_mag_ut_per_lsb(uint8_t board)
{
    return board == HIPTRACK_BOARD_REV1 ? 0.014 : board == HIPTRACK_BOARD_REV2 ? 1.0 / 16.0 : 0.0;
}

#endif /* HIPTRACK_PACKET_H */
