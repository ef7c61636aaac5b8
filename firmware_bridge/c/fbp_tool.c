/* Test driver of the C reference: one command per stdin line, hex in and out.
 *   crc16 HEX | crc32 HEX | cobs HEX | uncobs HEX
 *   enc TYPE NODE SEQ FLAGS PAYLOADHEX [AUTHTIME TAGHEX]   -> wire hex
 *   dec WIREHEX          -> "ok TYPE NODE SEQ FLAGS PAYLOADHEX [AUTHTIME TAGHEX]" or "err CODE"
 *   stream HEX           -> one "frame TYPE NODE SEQ" line per good frame, then
 *                           "end FRAMES BAD" (bad frames are counted, never fatal)
 *   readings NODEMS BASEMS CH:VT:OFF:VALUE ...   -> payload hex (VALUE: integer, or float for VT 6)
 *   poll PAYLOADHEX      -> "want HAS ACK" or "err CODE"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fbp.h"

#define LINE_MAX_LEN 8192

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
    size_t n = 0;
    while (s[0] && s[1] && n < cap) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void hex(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}

int main(void) {
    static char line[LINE_MAX_LEN];
    static uint8_t a[LINE_MAX_LEN], b[LINE_MAX_LEN];
    setvbuf(stdout, NULL, _IOLBF, 0); /* one answer per line, flushed */
    while (fgets(line, sizeof line, stdin)) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *cmd = strtok(line, " ");
        if (!cmd) continue;
        char *arg = strtok(NULL, " ");
        const char *h = arg ? arg : "";
        if (!strcmp(cmd, "crc16")) {
            size_t n = unhex(h, a, sizeof a);
            printf("%04x\n", fbp_crc16(a, n));
        } else if (!strcmp(cmd, "crc32")) {
            size_t n = unhex(h, a, sizeof a);
            printf("%08x\n", fbp_crc32(a, n));
        } else if (!strcmp(cmd, "cobs")) {
            size_t n = unhex(h, a, sizeof a);
            size_t e = fbp_cobs_encode(a, n, b);
            hex(b, e); printf("\n");
        } else if (!strcmp(cmd, "uncobs")) {
            size_t n = unhex(h, a, sizeof a);
            int d = fbp_cobs_decode(a, n, b, sizeof b);
            if (d < 0) printf("err %d\n", d); else { hex(b, (size_t)d); printf("\n"); }
        } else if (!strcmp(cmd, "enc")) {
            fbp_frame f;
            uint8_t tag[16];
            memset(&f, 0, sizeof f);
            f.version = FBP_VERSION;
            f.type = (uint8_t)strtoul(h, NULL, 0);
            f.node_id = (uint16_t)strtoul(strtok(NULL, " "), NULL, 0);
            f.seq = (uint16_t)strtoul(strtok(NULL, " "), NULL, 0);
            f.flags = (uint8_t)strtoul(strtok(NULL, " "), NULL, 0);
            char *p = strtok(NULL, " ");
            f.payload_len = unhex(p && strcmp(p, "-") ? p : "", a, sizeof a);
            f.payload = a;
            char *t = strtok(NULL, " ");
            if (t) {
                f.auth_time = (uint32_t)strtoul(t, NULL, 0);
                unhex(strtok(NULL, " "), tag, 16);
                f.auth_tag = tag;
            }
            int n = fbp_frame_encode(&f, b, sizeof b);
            if (n < 0) printf("err %d\n", n); else { hex(b, (size_t)n); printf("\n"); }
        } else if (!strcmp(cmd, "dec")) {
            size_t n = unhex(h, a, sizeof a);
            fbp_frame f;
            int rc = fbp_frame_decode(a, n, b, FBP_MAX_FRAME, &f);
            if (rc < 0) { printf("err %d\n", rc); continue; }
            printf("ok %u %u %u %u ", f.type, f.node_id, f.seq, f.flags);
            if (f.payload_len) hex(f.payload, f.payload_len); else printf("-");
            if (f.flags & FBP_F_AUTH) { printf(" %u ", f.auth_time); hex(f.auth_tag, 16); }
            printf("\n");
        } else if (!strcmp(cmd, "stream")) {
            size_t n = unhex(h, a, sizeof a);
            static fbp_stream d;
            fbp_stream_init(&d);
            for (size_t i = 0; i < n; i++)
                if (fbp_stream_feed(&d, a[i]))
                    printf("frame %u %u %u\n", d.frame.type, d.frame.node_id, d.frame.seq);
            printf("end %u %u\n", d.frames, d.bad);
        } else if (!strcmp(cmd, "readings")) {
            uint32_t node_ms = (uint32_t)strtoul(h, NULL, 0);
            uint32_t base_ms = (uint32_t)strtoul(strtok(NULL, " "), NULL, 0);
            fbp_readings r;
            fbp_readings_begin(&r, b, sizeof b, node_ms, base_ms);
            int rc = 0;
            char *it;
            while (rc == 0 && (it = strtok(NULL, " "))) {
                unsigned ch, vt, off;
                char val[64];
                if (sscanf(it, "%u:%u:%u:%63s", &ch, &vt, &off, val) != 4) { rc = FBP_E_ARG; break; }
                if (vt == FBP_V_F32) rc = fbp_readings_add_f32(&r, (uint8_t)ch, (uint16_t)off, strtof(val, NULL));
                else rc = fbp_readings_add_int(&r, (uint8_t)ch, (uint8_t)vt, (uint16_t)off, strtoll(val, NULL, 0));
            }
            if (rc < 0) printf("err %d\n", rc); else { hex(b, r.len); printf("\n"); }
        } else if (!strcmp(cmd, "poll")) {
            size_t n = unhex(h, a, sizeof a);
            uint8_t want; int has; uint16_t seq;
            int rc = fbp_poll_parse(a, n, &want, &has, &seq);
            if (rc < 0) printf("err %d\n", rc); else printf("%u %d %u\n", want, has, seq);
        } else {
            printf("err unknown\n");
        }
        fflush(stdout);
    }
    return 0;
}
