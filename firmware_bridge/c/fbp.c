/* fbp: reference encoder/decoder of the firmware_bridge node protocol (see fbp.h). */
#include "fbp.h"

#include <string.h>

uint16_t fbp_crc16(const uint8_t *data, size_t len) {
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)data[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint32_t fbp_crc32(const uint8_t *data, size_t len) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

size_t fbp_cobs_encode(const uint8_t *in, size_t len, uint8_t *out) {
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFF) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

int fbp_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
    size_t i = 0, o = 0;
    if (len == 0) return FBP_E_COBS;
    while (i < len) {
        uint8_t code = in[i];
        if (code == 0) return FBP_E_COBS;
        if (i + code > len) return FBP_E_COBS;
        for (size_t k = 1; k < code; k++) {
            if (in[i + k] == 0) return FBP_E_COBS;
            if (o >= cap) return FBP_E_ARG;
            out[o++] = in[i + k];
        }
        i += code;
        if (code < 0xFF && i < len) {
            if (o >= cap) return FBP_E_ARG;
            out[o++] = 0;
        }
    }
    return (int)o;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int fbp_auth_input(const fbp_frame *f, uint8_t *out, size_t cap) {
    size_t n = FBP_HEADER_SIZE + f->payload_len + 4;
    if (n > cap || f->payload_len > FBP_MAX_PAYLOAD) return FBP_E_ARG;
    out[0] = f->version; out[1] = f->type; put16(out + 2, f->node_id); put16(out + 4, f->seq);
    out[6] = (uint8_t)(f->flags | FBP_F_AUTH);
    if (f->payload_len) memcpy(out + FBP_HEADER_SIZE, f->payload, f->payload_len);
    put32(out + FBP_HEADER_SIZE + f->payload_len, f->auth_time);
    return (int)n;
}

int fbp_frame_bytes(const fbp_frame *f, uint8_t *out, size_t cap) {
    int auth = (f->flags & FBP_F_AUTH) != 0;
    size_t n = FBP_HEADER_SIZE + f->payload_len + (auth ? FBP_AUTH_TRAILER_SIZE : 0) + FBP_CRC_SIZE;
    if (f->flags & ~FBP_F_KNOWN) return FBP_E_FLAGS;
    if (n > FBP_MAX_FRAME) return FBP_E_TOO_LONG; /* refused, never truncated */
    if (n > cap || (auth && f->auth_tag == NULL)) return FBP_E_ARG;
    out[0] = f->version; out[1] = f->type; put16(out + 2, f->node_id); put16(out + 4, f->seq);
    out[6] = f->flags;
    size_t o = FBP_HEADER_SIZE;
    if (f->payload_len) memcpy(out + o, f->payload, f->payload_len);
    o += f->payload_len;
    if (auth) {
        put32(out + o, f->auth_time);
        memcpy(out + o + 4, f->auth_tag, FBP_AUTH_TAG_SIZE);
        o += FBP_AUTH_TRAILER_SIZE;
    }
    put16(out + o, fbp_crc16(out, o));
    return (int)(o + FBP_CRC_SIZE);
}

int fbp_frame_encode(const fbp_frame *f, uint8_t *out, size_t cap) {
    uint8_t raw[FBP_MAX_FRAME];
    int n = fbp_frame_bytes(f, raw, sizeof raw);
    if (n < 0) return n;
    if ((size_t)n + (size_t)n / 254 + 2 > cap) return FBP_E_ARG;
    size_t e = fbp_cobs_encode(raw, (size_t)n, out);
    out[e] = 0;
    return (int)(e + 1);
}

int fbp_frame_parse(const uint8_t *raw, size_t len, fbp_frame *f) {
    if (len > FBP_MAX_FRAME) return FBP_E_TOO_LONG;
    if (len < FBP_HEADER_SIZE + FBP_CRC_SIZE) return FBP_E_TOO_SHORT;
    if (fbp_crc16(raw, len - 2) != get16(raw + len - 2)) return FBP_E_CRC;
    if (raw[0] != FBP_VERSION) return FBP_E_VERSION;
    if (raw[6] & ~FBP_F_KNOWN) return FBP_E_FLAGS;
    f->version = raw[0];
    f->type = raw[1];
    f->node_id = get16(raw + 2);
    f->seq = get16(raw + 4);
    f->flags = raw[6];
    f->payload = raw + FBP_HEADER_SIZE;
    f->payload_len = len - FBP_HEADER_SIZE - FBP_CRC_SIZE;
    f->auth_time = 0;
    f->auth_tag = NULL;
    if (f->flags & FBP_F_AUTH) {
        if (f->payload_len < FBP_AUTH_TRAILER_SIZE) return FBP_E_AUTH_TRAILER;
        f->payload_len -= FBP_AUTH_TRAILER_SIZE;
        f->auth_time = get32(f->payload + f->payload_len);
        f->auth_tag = f->payload + f->payload_len + 4;
    }
    return FBP_OK;
}

/* The decoded length of a COBS block sequence, or FBP_E_COBS; writes nothing. */
static int cobs_check(const uint8_t *in, size_t len) {
    size_t i = 0, o = 0;
    if (len == 0) return FBP_E_COBS;
    while (i < len) {
        uint8_t code = in[i];
        if (code == 0 || i + code > len) return FBP_E_COBS;
        for (size_t k = 1; k < code; k++)
            if (in[i + k] == 0) return FBP_E_COBS;
        o += code - 1u;
        i += code;
        if (code < 0xFF && i < len) o++;
    }
    return (int)o;
}

int fbp_frame_decode(const uint8_t *wire, size_t len, uint8_t *buf, size_t cap, fbp_frame *f) {
    if (len && wire[len - 1] == 0) len--;
    if (len > FBP_MAX_ENCODED) return FBP_E_TOO_LONG;
    int n = cobs_check(wire, len); /* malformed COBS is "cobs" even when it is long */
    if (n < 0) return n;
    if ((size_t)n > cap || n > FBP_MAX_FRAME) return FBP_E_TOO_LONG;
    n = fbp_cobs_decode(wire, len, buf, cap);
    if (n < 0) return n;
    return fbp_frame_parse(buf, (size_t)n, f);
}

void fbp_stream_init(fbp_stream *d) { memset(d, 0, sizeof *d); }

int fbp_stream_feed(fbp_stream *d, uint8_t byte) {
    if (byte != 0) {
        if (d->overflow) return 0;
        if (d->len >= FBP_MAX_ENCODED) {
            d->overflow = 1;
            d->len = 0;
            return 0;
        }
        d->enc[d->len++] = byte;
        return 0;
    }
    if (d->overflow) {
        d->overflow = 0;
        d->bad++;
        d->bad_by[-FBP_E_TOO_LONG]++;
        return 0;
    }
    if (d->len == 0) return 0; /* idle delimiters */
    int rc = fbp_frame_decode(d->enc, d->len, d->raw, sizeof d->raw, &d->frame);
    d->len = 0;
    if (rc < 0) {
        d->bad++;
        d->bad_by[-rc]++;
        return 0;
    }
    d->frames++;
    return 1;
}

int fbp_readings_begin(fbp_readings *r, uint8_t *buf, size_t cap, uint32_t node_ms, uint32_t base_ms) {
    if (cap < 9) return FBP_E_ARG;
    r->buf = buf;
    r->cap = cap < FBP_MAX_PAYLOAD ? cap : FBP_MAX_PAYLOAD;
    put32(buf, node_ms);
    put32(buf + 4, base_ms);
    buf[8] = 0;
    r->len = 9;
    r->count = 0;
    return FBP_OK;
}

static int value_size(uint8_t vtype) {
    switch (vtype) {
    case FBP_V_BOOL: return 1;
    case FBP_V_I16: case FBP_V_U16: return 2;
    case FBP_V_I32: case FBP_V_U32: case FBP_V_F32: return 4;
    default: return -1;
    }
}

static int readings_head(fbp_readings *r, uint8_t channel, uint8_t vtype, uint16_t offset_ms) {
    int vs = value_size(vtype);
    if (vs < 0) return FBP_E_ARG;
    if (r->count == 255 || r->len + 4 + (size_t)vs > r->cap) return FBP_E_TOO_LONG;
    uint8_t *p = r->buf + r->len;
    p[0] = channel; p[1] = vtype; put16(p + 2, offset_ms);
    r->len += 4;
    return vs;
}

int fbp_readings_add_int(fbp_readings *r, uint8_t channel, uint8_t vtype, uint16_t offset_ms, int64_t v) {
    if (vtype == FBP_V_F32) return FBP_E_ARG;
    int vs = readings_head(r, channel, vtype, offset_ms);
    if (vs < 0) return vs;
    uint8_t *p = r->buf + r->len;
    if (vs == 1) p[0] = v ? 1 : 0;
    else if (vs == 2) put16(p, (uint16_t)v);
    else put32(p, (uint32_t)v);
    r->len += (size_t)vs;
    r->buf[8] = ++r->count;
    return FBP_OK;
}

int fbp_readings_add_f32(fbp_readings *r, uint8_t channel, uint16_t offset_ms, float value) {
    int vs = readings_head(r, channel, FBP_V_F32, offset_ms);
    if (vs < 0) return vs;
    uint32_t bits;
    memcpy(&bits, &value, 4);
    put32(r->buf + r->len, bits);
    r->len += 4;
    r->buf[8] = ++r->count;
    return FBP_OK;
}

int fbp_poll_parse(const uint8_t *payload, size_t len, uint8_t *want, int *has_ack, uint16_t *ack_seq) {
    if (len != 4 || payload[1] > 1 || (!payload[1] && get16(payload + 2))) return FBP_E_ARG;
    *want = payload[0];
    *has_ack = payload[1];
    *ack_seq = get16(payload + 2);
    return FBP_OK;
}
