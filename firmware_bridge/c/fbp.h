/*
 * fbp: reference encoder/decoder of the Dehong firmware_bridge node protocol.
 * See firmware_bridge/PROTOCOL.md. C99, no allocation, no libc beyond <string.h>.
 *
 * Frame before COBS (big-endian):
 *   version u8 | type u8 | node_id u16 | seq u16 | flags u8 | payload
 *   [auth_time u32 | auth_tag 16]   (flags & FBP_F_AUTH)
 *   crc16 u16                       (CRC-16/CCITT-FALSE over all of the above)
 * at most FBP_MAX_FRAME bytes; on the line COBS(frame) followed by one 0x00.
 */
#ifndef FBP_H
#define FBP_H

#include <stddef.h>
#include <stdint.h>

#define FBP_VERSION 1
#define FBP_MAX_FRAME 256
#define FBP_HEADER_SIZE 7
#define FBP_CRC_SIZE 2
#define FBP_AUTH_TAG_SIZE 16
#define FBP_AUTH_TRAILER_SIZE 20
#define FBP_MAX_PAYLOAD (FBP_MAX_FRAME - FBP_HEADER_SIZE - FBP_CRC_SIZE) /* 247 */
#define FBP_MAX_ENCODED (FBP_MAX_FRAME + FBP_MAX_FRAME / 254 + 2)       /* with 0x00 */

/* flags */
#define FBP_F_ACK_REQ 0x01
#define FBP_F_AUTH 0x02
#define FBP_F_RETRY 0x04
#define FBP_F_MORE 0x08
#define FBP_F_FROM_NODE 0x10
#define FBP_F_KNOWN 0x1F

/* message types */
enum {
    FBP_T_HELLO = 0x01, FBP_T_POLL = 0x02, FBP_T_ACK = 0x03,
    FBP_T_READINGS = 0x10, FBP_T_EVENT = 0x11,
    FBP_T_CONFIG_GET = 0x20, FBP_T_CONFIG_SET = 0x21, FBP_T_CONFIG_VALUE = 0x22,
    FBP_T_TIME_SYNC = 0x30,
    FBP_T_OTA_OFFER = 0x40, FBP_T_OTA_CHUNK = 0x41, FBP_T_OTA_CHUNK_ACK = 0x42,
    FBP_T_OTA_COMMIT = 0x43, FBP_T_BOOT_REPORT = 0x44
};

/* value types */
enum { FBP_V_BOOL = 1, FBP_V_I16 = 2, FBP_V_U16 = 3, FBP_V_I32 = 4, FBP_V_U32 = 5, FBP_V_F32 = 6, FBP_V_STR = 7 };

/* errors (negative return values); the same reasons as the Python FrameError */
enum {
    FBP_OK = 0,
    FBP_E_COBS = -1,         /* malformed COBS */
    FBP_E_TOO_SHORT = -2,    /* fewer than header + crc bytes */
    FBP_E_TOO_LONG = -3,     /* over FBP_MAX_FRAME (decoder), or the encoder's refusal */
    FBP_E_CRC = -4,
    FBP_E_VERSION = -5,
    FBP_E_FLAGS = -6,        /* unknown flag bits */
    FBP_E_AUTH_TRAILER = -7, /* AUTH flag but no room for the trailer */
    FBP_E_ARG = -8           /* bad argument (buffer too small, field out of range) */
};

typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t node_id;
    uint16_t seq;
    uint8_t flags;
    const uint8_t *payload; /* decode: points into the caller's buffer */
    size_t payload_len;
    uint32_t auth_time;     /* valid when flags & FBP_F_AUTH */
    const uint8_t *auth_tag;/* 16 bytes, valid when flags & FBP_F_AUTH */
} fbp_frame;

uint16_t fbp_crc16(const uint8_t *data, size_t len);
uint32_t fbp_crc32(const uint8_t *data, size_t len);

/* COBS without the delimiter. encode returns the encoded length (out needs
 * len + len/254 + 1 bytes); decode returns the decoded length or FBP_E_COBS /
 * FBP_E_ARG (out too small). */
size_t fbp_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
int fbp_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* The frame before COBS into out (cap bytes); returns its length or an error.
 * With FBP_F_AUTH in f->flags, f->auth_time and f->auth_tag are written as the
 * trailer: compute the tag with HMAC-SHA256(key, fbp_auth_input(...))[:16]. */
int fbp_frame_bytes(const fbp_frame *f, uint8_t *out, size_t cap);
/* header | payload | auth_time: the bytes the HMAC covers; returns the length. */
int fbp_auth_input(const fbp_frame *f, uint8_t *out, size_t cap);
/* The frame on the line: COBS(frame) + 0x00; returns the length or an error. */
int fbp_frame_encode(const fbp_frame *f, uint8_t *out, size_t cap);

/* Parse a frame after COBS (raw, len). payload/auth_tag point into raw. */
int fbp_frame_parse(const uint8_t *raw, size_t len, fbp_frame *out);
/* Decode one frame off the line (with or without its 0x00) into buf
 * (FBP_MAX_FRAME bytes); payload points into buf. */
int fbp_frame_decode(const uint8_t *wire, size_t len, uint8_t *buf, size_t cap, fbp_frame *out);

/* Byte-stream decoder: feed bytes one at a time; a frame is ready when
 * fbp_stream_feed returns 1 (then read d->frame, valid until the next feed);
 * a bad frame is counted in d->bad and d->bad_by[-error]. */
typedef struct {
    uint8_t enc[FBP_MAX_ENCODED];
    size_t len;
    int overflow;
    uint8_t raw[FBP_MAX_FRAME];
    fbp_frame frame;
    uint32_t frames;
    uint32_t bad;
    uint32_t bad_by[9];
} fbp_stream;

void fbp_stream_init(fbp_stream *d);
int fbp_stream_feed(fbp_stream *d, uint8_t byte);

/* READINGS payload writer (node side). */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    uint8_t count;
} fbp_readings;

int fbp_readings_begin(fbp_readings *r, uint8_t *buf, size_t cap, uint32_t node_ms, uint32_t base_ms);
/* value: the raw big-endian bytes are taken from the integer/float given;
 * returns FBP_E_TOO_LONG when the reading does not fit (send and start a new frame). */
int fbp_readings_add_int(fbp_readings *r, uint8_t channel, uint8_t vtype, uint16_t offset_ms, int64_t value);
int fbp_readings_add_f32(fbp_readings *r, uint8_t channel, uint16_t offset_ms, float value);

/* POLL payload (node side): want, has_ack, ack_seq. */
int fbp_poll_parse(const uint8_t *payload, size_t len, uint8_t *want, int *has_ack, uint16_t *ack_seq);

#endif
