/*
 * Host-side driver for firmware_bridge/nano33_firmware/hiptrack_imu/hiptrack_packet.h, used by
 * tests/test_nano33_codec.py: it reads one request per line on stdin and prints one answer line,
 * so the Python codec can be checked against exactly the bytes the firmware's C code produces.
 *
 *   P seq t0 period board config mag_fresh n v1 .. v(9n)  -> packet as hex ("ERR" if not packable)
 *   C hex                                                 -> CRC-16 of the bytes, 4 hex digits
 *   F max_payload                                         -> samples that fit
 *   S board hex                                           -> START parse: result rate acc gyr payload spp
 *   T state result opcode spp rate config dropped         -> status characteristic as hex
 *   I board sensors imu_part mag_part battery              -> info characteristic as hex
 *   K board                                               -> scales: acc[0..3] gyr[0..3] mag (%.17g)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiptrack_packet.h"

static void print_hex(const uint8_t *buf, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        printf("%02x", buf[i]);
    }
    printf("\n");
}

static size_t parse_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (hex[0] && hex[1] && n < cap) {
        unsigned int byte;
        if (sscanf(hex, "%2x", &byte) != 1) {
            break;
        }
        out[n++] = (uint8_t)byte;
        hex += 2;
    }
    return n;
}

static void do_packet(char *rest)
{
    hiptrack_header h;
    hiptrack_sample samples[HIPTRACK_MAX_SAMPLES + 1];
    uint8_t buf[HIPTRACK_MAX_PACKET_SIZE + 32];
    unsigned long seq, t0, period, board, config, fresh, n;
    char *p = rest;
    char *end;
    size_t i, len;
    int k;

    seq = strtoul(p, &end, 10); p = end;
    t0 = strtoul(p, &end, 10); p = end;
    period = strtoul(p, &end, 10); p = end;
    board = strtoul(p, &end, 10); p = end;
    config = strtoul(p, &end, 10); p = end;
    fresh = strtoul(p, &end, 10); p = end;
    n = strtoul(p, &end, 10); p = end;
    memset(samples, 0, sizeof(samples));
    for (i = 0; i < n && i <= HIPTRACK_MAX_SAMPLES; i++) {
        for (k = 0; k < 9; k++) {
            long v = strtol(p, &end, 10);
            p = end;
            if (k < 3) {
                samples[i].acc[k] = (int16_t)v;
            } else if (k < 6) {
                samples[i].gyr[k - 3] = (int16_t)v;
            } else {
                samples[i].mag[k - 6] = (int16_t)v;
            }
        }
    }
    h.seq = (uint16_t)seq;
    h.t0_us = (uint32_t)t0;
    h.period_us = (uint16_t)period;
    h.board = (uint8_t)board;
    h.config = (uint8_t)config;
    h.mag_fresh = (uint16_t)fresh;
    len = hiptrack_pack_packet(buf, sizeof(buf), &h, samples, (uint8_t)n);
    if (len == 0) {
        printf("ERR\n");
        return;
    }
    print_hex(buf, len);
}

int main(void)
{
    char line[8192];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *rest = line + 1;
        line[strcspn(line, "\r\n")] = '\0';
        switch (line[0]) {
        case 'P':
            do_packet(rest);
            break;
        case 'C': {
            uint8_t buf[1024];
            size_t n = parse_hex(rest + 1, buf, sizeof(buf));
            printf("%04x\n", hiptrack_crc16(buf, n));
            break;
        }
        case 'F':
            printf("%u\n", (unsigned)hiptrack_samples_fitting((uint16_t)strtoul(rest, NULL, 10)));
            break;
        case 'S': {
            uint8_t buf[64];
            char *end;
            unsigned long board = strtoul(rest, &end, 10);
            size_t n = parse_hex(end + 1, buf, sizeof(buf));
            hiptrack_start_cmd cmd;
            uint8_t result;
            memset(&cmd, 0, sizeof(cmd));
            result = hiptrack_parse_start(buf, n, (uint8_t)board, &cmd);
            printf("%u %u %u %u %u %u\n", (unsigned)result, (unsigned)cmd.rate_hz, (unsigned)cmd.acc_code,
                   (unsigned)cmd.gyr_code, (unsigned)cmd.max_payload, (unsigned)cmd.samples_per_packet);
            break;
        }
        case 'T': {
            hiptrack_status s;
            unsigned long v[7];
            uint8_t buf[HIPTRACK_STATUS_SIZE];
            char *p = rest;
            char *end;
            int k;
            for (k = 0; k < 7; k++) {
                v[k] = strtoul(p, &end, 10);
                p = end;
            }
            s.state = (uint8_t)v[0];
            s.result = (uint8_t)v[1];
            s.opcode = (uint8_t)v[2];
            s.samples_per_packet = (uint8_t)v[3];
            s.rate_hz = (uint16_t)v[4];
            s.config = (uint8_t)v[5];
            s.dropped = (uint32_t)v[6];
            print_hex(buf, hiptrack_pack_status(buf, sizeof(buf), &s));
            break;
        }
        case 'I': {
            hiptrack_info info;
            unsigned long v[5];
            uint8_t buf[HIPTRACK_INFO_SIZE];
            char *p = rest;
            char *end;
            int k;
            for (k = 0; k < 5; k++) {
                v[k] = strtoul(p, &end, 10);
                p = end;
            }
            info.board = (uint8_t)v[0];
            info.sensors = (uint8_t)v[1];
            info.imu_part = (uint8_t)v[2];
            info.mag_part = (uint8_t)v[3];
            info.battery_percent = (uint8_t)v[4];
            print_hex(buf, hiptrack_pack_info(buf, sizeof(buf), &info));
            break;
        }
        case 'K': {
            uint8_t board = (uint8_t)strtoul(rest, NULL, 10);
            uint8_t c;
            for (c = 0; c < 4; c++) {
                printf("%.17g ", hiptrack_acc_g_per_lsb(board, c));
            }
            for (c = 0; c < 4; c++) {
                printf("%.17g ", hiptrack_gyr_dps_per_lsb(board, c));
            }
            printf("%.17g\n", hiptrack_mag_ut_per_lsb(board));
            break;
        }
        default:
            printf("?\n");
            break;
        }
        fflush(stdout);
    }
    return 0;
}
