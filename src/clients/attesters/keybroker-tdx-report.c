/*
 * keybroker-tdx-report: Intel TDX evidence for keybroker from /dev/tdx_guest, for guests whose
 * kernel has no configfs-tsm (Linux before 6.7).
 *
 *   keybroker-tdx-report [--qgs-port PORT | --no-qgs] REPORT_DATA_HEX [REPORT_DATA_FILE]
 *   keybroker-tdx-report --probe
 *
 * The keybroker pin's attester contract: argv[1] is the 64 bytes of report data as 128 hex
 * digits, argv[2] (optional) a file holding the same 64 bytes; stdout gets one evidence object,
 * {"type":"tdx","quote":"<base64 DCAP quote>"}, what the pin sends for configfs-tsm. Messages go
 * to stderr. Exit 0 on success, 1 on any failure, 2 for usage. `--probe` exits 0 when the
 * device opens.
 *
 * Two steps, as Intel's libtdx_attest does (intel/SGXDataCenterAttestationPrimitives,
 * QuoteGeneration/quote_wrapper/tdx_attest/tdx_attest.c):
 *
 * 1. TDREPORT: TDX_CMD_GET_REPORT0 on /dev/tdx_guest (include/uapi/linux/tdx-guest.h, Linux
 *    v6.2 and later):
 *      struct tdx_report_req { __u8 reportdata[64]; __u8 tdreport[1024]; }         1088 B
 *      TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
 *    The TDREPORT's REPORTMACSTRUCT carries REPORTDATA at offset 128 (Intel TDX Module ABI,
 *    REPORTMACSTRUCT); it is checked against the request.
 *
 * 2. The quote, from the host's Quote Generation Service (QGS), with a GET_QUOTE_REQ message
 *    of Intel's qgs_msg_lib (QuoteGeneration/quote_wrapper/qgs_msg_lib/inc/qgs_msg_lib.h;
 *    packed, little-endian):
 *      header { u16 major_version = 1; u16 minor_version = 0; u32 type = 0 (GET_QUOTE_REQ);
 *               u32 size (whole message); u32 error_code = 0 }
 *      u32 report_size = 1024; u32 id_list_size = 0; u8 report[1024]
 *    answered by GET_QUOTE_RESP (type 1): header, u32 selected_id_size, u32 quote_size, the
 *    selected id, the quote. On the wire each message is preceded by its length as a 4-byte
 *    big-endian number. Two transports:
 *    - vsock to the host (CID 2) at the QGS port: --qgs-port, KEYBROKER_TDX_QGS_PORT, or
 *      `port = N` in /etc/tdx-attest.conf (libtdx_attest's file; KEYBROKER_TDX_ATTEST_CONF names
 *      another); works on every kernel with vsock (vmw_vsock_virtio_transport);
 *    - otherwise the GetQuote TDVMCALL through TDX_CMD_GET_QUOTE, an ioctl of the TDX guest
 *      driver in Intel's and distributions' TDX kernels (intel/tdx; never in mainline, whose
 *      route to GetQuote is configfs-tsm from v6.7):
 *        struct tdx_quote_req { __u64 buf; __u64 len; }   TDX_CMD_GET_QUOTE _IOR('T', 4, ...)
 *        buf: struct tdx_quote_hdr { u64 version = 1; u64 status; u32 in_len; u32 out_len; }
 *             followed by the length-prefixed message (GHCI 1.0, "TDG.VP.VMCALL<GetQuote>");
 *        status 0 success, 0xFFFFFFFFFFFFFFFF in flight, 0x8000000000000001 service unavailable.
 *    Mainline v6.2-v6.6 have no GetQuote ioctl: there the QGS must be reachable over vsock.
 *
 * Environment: KEYBROKER_TDX_QGS_PORT, KEYBROKER_TDX_ATTEST_CONF, KEYBROKER_ATTESTER_BACKOFF_MS
 * (first retry delay for a busy device, default 1000).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PROG "keybroker-tdx-report"
#define DEVICE "/dev/tdx_guest"
#define ATTEST_CONF "/etc/tdx-attest.conf"

#define REPORT_DATA_SIZE 64
#define TDREPORT_SIZE 1024
#define TDREPORT_REPORTDATA_AT 128
#define QGS_HEADER_SIZE 16
#define QGS_REQ_SIZE (QGS_HEADER_SIZE + 8 + TDREPORT_SIZE)
#define QGS_RESP_FIXED 24
#define QGS_MAJOR 1
#define QGS_GET_QUOTE_REQ 0
#define QGS_GET_QUOTE_RESP 1
#define QUOTE_BUF_SIZE (4 * 4096) /* libtdx_attest's REQ_BUF_SIZE */
#define QUOTE_HDR_SIZE 24
#define QGS_MAX_MESSAGE (1u << 20)
#define QGS_TIMEOUT_S 30
#define GET_QUOTE_IN_FLIGHT 0xFFFFFFFFFFFFFFFFull
#define GET_QUOTE_ERROR 0x8000000000000000ull
#define GET_QUOTE_SERVICE_UNAVAILABLE 0x8000000000000001ull
#define ATTEMPTS 5

/* <linux/vm_sockets.h> is not in every libc's headers; the ABI is fixed. */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define VMADDR_CID_HOST 2u
struct vsock_addr {
    unsigned short svm_family;
    unsigned short svm_reserved1;
    unsigned int svm_port;
    unsigned int svm_cid;
    unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(unsigned short) * 2 - sizeof(unsigned int) * 2];
};
_Static_assert(sizeof(struct vsock_addr) == 16, "sockaddr_vm");

struct tdx_report_req {
    uint8_t reportdata[REPORT_DATA_SIZE];
    uint8_t tdreport[TDREPORT_SIZE];
};
struct tdx_quote_req {
    uint64_t buf;
    uint64_t len;
};
_Static_assert(sizeof(struct tdx_report_req) == 1088, "tdx_report_req");
_Static_assert(sizeof(struct tdx_quote_req) == 16, "tdx_quote_req");

#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
#define TDX_CMD_GET_QUOTE _IOR('T', 4, struct tdx_quote_req)
_Static_assert(TDX_CMD_GET_REPORT0 == 0xC4405401u, "TDX_CMD_GET_REPORT0");
_Static_assert(TDX_CMD_GET_QUOTE == 0x80105404u, "TDX_CMD_GET_QUOTE");

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int usage(void)
{
    fputs("usage: " PROG " [--qgs-port PORT | --no-qgs] REPORT_DATA_HEX [REPORT_DATA_FILE]\n"
          "       " PROG " --probe\n",
          stderr);
    return 2;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int check_file(const char *path, const uint8_t want[REPORT_DATA_SIZE])
{
    uint8_t buf[REPORT_DATA_SIZE + 1];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        say("cannot read the report data file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n != REPORT_DATA_SIZE || memcmp(buf, want, REPORT_DATA_SIZE) != 0) {
        say("the report data file %s does not hold the %d bytes given in hex", path, REPORT_DATA_SIZE);
        return -1;
    }
    return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9') return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) return -1;
    *out = (unsigned)v;
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static unsigned backoff_start(void)
{
    unsigned ms = 1000;
    const char *env = getenv("KEYBROKER_ATTESTER_BACKOFF_MS");
    if (env != NULL && parse_uint(env, 60000, &ms) != 0) ms = 1000;
    return ms;
}

static int put_base64(const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[0] = tab[v >> 18 & 63];
        out[1] = tab[v >> 12 & 63];
        out[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[3] = i + 2 < n ? tab[v & 63] : '=';
        if (fwrite(out, 1, 4, stdout) != 4) return -1;
    }
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int open_device(void)
{
    int fd = open(DEVICE, O_RDWR | O_CLOEXEC);
    if (fd >= 0) return fd;
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
        say("no " DEVICE " (%s): not a TDX guest, or the tdx-guest driver is not loaded (modprobe tdx-guest; "
            "Linux 6.2 or later)",
            strerror(e));
    else if (e == EACCES || e == EPERM)
        say("cannot open " DEVICE ": %s (it is root's)", strerror(e));
    else
        say("cannot open " DEVICE ": %s", strerror(e));
    return -1;
}

/* Step 1: the TDREPORT for report_data, retried while the device is busy. */
static int get_tdreport(int fd, const uint8_t report_data[REPORT_DATA_SIZE], uint8_t tdreport[TDREPORT_SIZE])
{
    struct tdx_report_req req;
    unsigned delay_ms = backoff_start();
    for (int attempt = 1;; attempt++) {
        memset(&req, 0, sizeof req);
        memcpy(req.reportdata, report_data, REPORT_DATA_SIZE);
        if (ioctl(fd, TDX_CMD_GET_REPORT0, &req) == 0) break;
        int e = errno;
        if ((e == EBUSY || e == EAGAIN || e == EINTR) && attempt < ATTEMPTS) {
            say("TDX_CMD_GET_REPORT0: device busy; retrying in %u ms", delay_ms);
            sleep_ms(delay_ms);
            delay_ms = delay_ms * 2 > 8000 ? 8000 : delay_ms * 2;
            continue;
        }
        if (e == ENOTTY || e == EINVAL)
            say("TDX_CMD_GET_REPORT0 refused (%s): this tdx-guest driver has another ABI (mainline has "
                "TDX_CMD_GET_REPORT0 from Linux 6.2)",
                strerror(e));
        else if (e == EIO)
            say("TDX_CMD_GET_REPORT0 failed: the TDCALL TDG.MR.REPORT failed (EIO)");
        else
            say("TDX_CMD_GET_REPORT0 failed: %s", strerror(e));
        return -1;
    }
    if (memcmp(req.tdreport + TDREPORT_REPORTDATA_AT, report_data, REPORT_DATA_SIZE) != 0) {
        say("the TDREPORT does not carry the requested REPORTDATA");
        return -1;
    }
    memcpy(tdreport, req.tdreport, TDREPORT_SIZE);
    return 0;
}

static void qgs_request(const uint8_t tdreport[TDREPORT_SIZE], uint8_t out[QGS_REQ_SIZE])
{
    memset(out, 0, QGS_REQ_SIZE);
    put_le16(out + 0, QGS_MAJOR);
    put_le16(out + 2, 0);
    put_le32(out + 4, QGS_GET_QUOTE_REQ);
    put_le32(out + 8, QGS_REQ_SIZE);
    put_le32(out + 12, 0);
    put_le32(out + 16, TDREPORT_SIZE);
    put_le32(out + 20, 0);
    memcpy(out + 24, tdreport, TDREPORT_SIZE);
}

/* A GET_QUOTE_RESP of exactly `size` bytes: the quote's place in it, or -1 with a message. */
static int qgs_response(const uint8_t *m, uint32_t size, const uint8_t **quote, uint32_t *quote_size)
{
    if (size < QGS_RESP_FIXED) {
        say("the QGS answered %u bytes, less than a response header", size);
        return -1;
    }
    uint16_t major = le16(m);
    uint32_t type = le32(m + 4), msg_size = le32(m + 8), error = le32(m + 12);
    uint32_t id_size = le32(m + 16), qsize = le32(m + 20);
    if (major != QGS_MAJOR || type != QGS_GET_QUOTE_RESP || msg_size != size) {
        say("the QGS answered an unexpected message (version %u, type %u, size %u of %u)", major, type, msg_size,
            size);
        return -1;
    }
    if (error != 0) {
        say("the QGS could not make a quote: error 0x%x", error);
        return -1;
    }
    if ((uint64_t)QGS_RESP_FIXED + id_size + qsize != size || qsize == 0) {
        say("the QGS response's lengths do not add up (id %u, quote %u, message %u)", id_size, qsize, size);
        return -1;
    }
    *quote = m + QGS_RESP_FIXED + id_size;
    *quote_size = qsize;
    return 0;
}

static int send_all(int s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(s, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int recv_all(int s, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = recv(s, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) errno = ECONNRESET;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The port of the QGS: 0 when none is configured. libtdx_attest's `port = N` lines. */
static int qgs_port_from_conf(unsigned *port)
{
    const char *path = getenv("KEYBROKER_TDX_ATTEST_CONF");
    if (path == NULL) path = ATTEST_CONF;
    FILE *f = fopen(path, "r");
    *port = 0;
    if (f == NULL) return 0;
    char line[256];
    int rc = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || strncmp(p, "port", 4) != 0) continue;
        p += 4;
        while (*p == ' ' || *p == '\t') p++;
        if (*p++ != '=') continue;
        while (*p == ' ' || *p == '\t') p++;
        char *end = p;
        while (*end >= '0' && *end <= '9') end++;
        char *tail = end;
        while (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r') tail++;
        int trailing = *tail != '\0';
        *end = '\0';
        if (trailing || parse_uint(p, 0xFFFFFFFFu, port) != 0 || *port == 0) {
            say("%s: 'port' is not a port number", path);
            rc = -1;
        }
        break;
    }
    fclose(f);
    return rc;
}

/* Step 2 over vsock: the length-prefixed request, then the length-prefixed response. */
static uint8_t *quote_over_vsock(unsigned port, const uint8_t req[QGS_REQ_SIZE], uint32_t *resp_size)
{
    uint8_t *resp = NULL;
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        say("cannot open a vsock socket for the QGS: %s (load vmw_vsock_virtio_transport)", strerror(errno));
        return NULL;
    }
    struct timeval tv = { .tv_sec = QGS_TIMEOUT_S, .tv_usec = 0 };
    (void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct vsock_addr addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    addr.svm_port = port;
    addr.svm_cid = VMADDR_CID_HOST;
    if (connect(s, (const struct sockaddr *)&addr, sizeof addr) != 0) {
        say("cannot reach the QGS at vsock %u:%u: %s", VMADDR_CID_HOST, port, strerror(errno));
        goto out;
    }
    uint8_t len[4];
    put_be32(len, QGS_REQ_SIZE);
    if (send_all(s, len, 4) != 0 || send_all(s, req, QGS_REQ_SIZE) != 0) {
        say("cannot send the quote request to the QGS: %s", strerror(errno));
        goto out;
    }
    if (recv_all(s, len, 4) != 0) {
        say("no answer from the QGS: %s", strerror(errno));
        goto out;
    }
    *resp_size = be32(len);
    if (*resp_size == 0 || *resp_size > QGS_MAX_MESSAGE) {
        say("the QGS announced a response of %u bytes", *resp_size);
        goto out;
    }
    resp = malloc(*resp_size);
    if (resp == NULL) {
        say("out of memory");
        goto out;
    }
    if (recv_all(s, resp, *resp_size) != 0) {
        say("the QGS response ended early: %s", strerror(errno));
        free(resp);
        resp = NULL;
    }
out:
    close(s);
    return resp;
}

/* Step 2 through the GetQuote TDVMCALL (TDX_CMD_GET_QUOTE): the response, copied out. */
static uint8_t *quote_over_ioctl(int fd, const uint8_t req[QGS_REQ_SIZE], uint32_t *resp_size)
{
    uint8_t *buf = calloc(1, QUOTE_BUF_SIZE), *resp = NULL;
    if (buf == NULL) {
        say("out of memory");
        return NULL;
    }
    unsigned delay_ms = backoff_start();
    for (int attempt = 1;; attempt++) {
        memset(buf, 0, QUOTE_BUF_SIZE);
        buf[0] = 1; /* tdx_quote_hdr.version, u64 LE */
        put_le32(buf + 16, 4 + QGS_REQ_SIZE);
        put_be32(buf + QUOTE_HDR_SIZE, QGS_REQ_SIZE);
        memcpy(buf + QUOTE_HDR_SIZE + 4, req, QGS_REQ_SIZE);
        struct tdx_quote_req q = { .buf = (uint64_t)(uintptr_t)buf, .len = QUOTE_BUF_SIZE };
        int busy = 0;
        if (ioctl(fd, TDX_CMD_GET_QUOTE, &q) != 0) {
            int e = errno;
            if (e == ENOTTY || e == EINVAL) {
                say("TDX_CMD_GET_QUOTE refused (%s): this kernel has no GetQuote ioctl (mainline before 6.7); "
                    "give the QGS vsock port (--qgs-port, KEYBROKER_TDX_QGS_PORT or 'port = N' in " ATTEST_CONF
                    ") or use configfs-tsm (Linux 6.7 or later)",
                    strerror(e));
                goto out;
            }
            if (e != EBUSY && e != EAGAIN && e != EINTR) {
                say("TDX_CMD_GET_QUOTE failed: %s", strerror(e));
                goto out;
            }
            busy = 1;
        } else {
            uint64_t status = le64(buf + 8);
            if (status == GET_QUOTE_IN_FLIGHT) {
                busy = 1;
            } else if (status == GET_QUOTE_SERVICE_UNAVAILABLE) {
                say("TDX_CMD_GET_QUOTE: the host has no quote generation service (status 0x%llx)",
                    (unsigned long long)status);
                goto out;
            } else if (status != 0) {
                say("TDX_CMD_GET_QUOTE: the host failed to make a quote (status 0x%llx%s)",
                    (unsigned long long)status, status == GET_QUOTE_ERROR ? ", GET_QUOTE_ERROR" : "");
                goto out;
            }
        }
        if (busy) {
            if (attempt >= ATTEMPTS) {
                say("TDX_CMD_GET_QUOTE: still busy after %d attempts", ATTEMPTS);
                goto out;
            }
            say("TDX_CMD_GET_QUOTE: quote generation busy; retrying in %u ms", delay_ms);
            sleep_ms(delay_ms);
            delay_ms = delay_ms * 2 > 8000 ? 8000 : delay_ms * 2;
            continue;
        }
        break;
    }
    uint32_t out_len = le32(buf + 20);
    if (out_len <= 4 || out_len > QUOTE_BUF_SIZE - QUOTE_HDR_SIZE || be32(buf + QUOTE_HDR_SIZE) != out_len - 4) {
        say("TDX_CMD_GET_QUOTE: the host's answer has inconsistent lengths (out_len %u)", out_len);
        goto out;
    }
    *resp_size = out_len - 4;
    resp = malloc(*resp_size);
    if (resp == NULL)
        say("out of memory");
    else
        memcpy(resp, buf + QUOTE_HDR_SIZE + 4, *resp_size);
out:
    free(buf);
    return resp;
}

int main(int argc, char **argv)
{
    unsigned port = 0;
    int probe = 0, port_given = 0, i = 1;
    const char *env = getenv("KEYBROKER_TDX_QGS_PORT");
    if (env != NULL && *env != '\0') {
        if (parse_uint(env, 0xFFFFFFFFu, &port) != 0 || port == 0) {
            say("KEYBROKER_TDX_QGS_PORT is not a port number");
            return 2;
        }
        port_given = 1;
    }
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--probe") == 0)
            probe = 1;
        else if (strcmp(argv[i], "--no-qgs") == 0) {
            port = 0;
            port_given = 1;
        } else if (strcmp(argv[i], "--qgs-port") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], 0xFFFFFFFFu, &port) != 0 || port == 0) {
                say("--qgs-port is not a port number");
                return 2;
            }
            port_given = 1;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else
            return usage();
    }
    if (probe) {
        if (i != argc) return usage();
        int fd = open_device();
        if (fd < 0) return 1;
        close(fd);
        return 0;
    }
    if (argc - i < 1 || argc - i > 2) return usage();
    uint8_t report_data[REPORT_DATA_SIZE];
    if (parse_hex(argv[i], report_data, REPORT_DATA_SIZE) != 0) {
        say("REPORT_DATA_HEX must be %d hex digits (%d bytes)", 2 * REPORT_DATA_SIZE, REPORT_DATA_SIZE);
        return 2;
    }
    if (argc - i == 2 && check_file(argv[i + 1], report_data) != 0) return 1;
    if (!port_given && qgs_port_from_conf(&port) != 0) return 1;

    int fd = open_device();
    if (fd < 0) return 1;
    int rc = 1;
    uint8_t tdreport[TDREPORT_SIZE], req[QGS_REQ_SIZE], *resp = NULL;
    uint32_t resp_size = 0, quote_size = 0;
    const uint8_t *quote = NULL;
    if (get_tdreport(fd, report_data, tdreport) != 0) goto done;
    qgs_request(tdreport, req);
    resp = port != 0 ? quote_over_vsock(port, req, &resp_size) : quote_over_ioctl(fd, req, &resp_size);
    if (resp == NULL || qgs_response(resp, resp_size, &quote, &quote_size) != 0) goto done;
    if (fputs("{\"type\":\"tdx\",\"quote\":\"", stdout) == EOF || put_base64(quote, quote_size) != 0 ||
        fputs("\"}\n", stdout) == EOF || fflush(stdout) != 0) {
        say("cannot write the evidence: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(resp);
    close(fd);
    return rc;
}
