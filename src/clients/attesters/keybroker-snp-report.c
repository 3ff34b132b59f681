/*
 * keybroker-snp-report: AMD SEV-SNP evidence for keybroker from /dev/sev-guest, for guests whose
 * kernel has no configfs-tsm (Linux before 6.7: 5.19-6.6, and distribution kernels that carry
 * the sev-guest driver).
 *
 *   keybroker-snp-report [--vmpl N] [--no-certs] REPORT_DATA_HEX [REPORT_DATA_FILE]
 *   keybroker-snp-report --probe
 *
 * The keybroker pin's attester contract: argv[1] is the 64 bytes of report data as 128 hex
 * digits, argv[2] (optional) a file holding the same 64 bytes; stdout gets one evidence object,
 * {"type":"snp","report":"<base64>","certs":"<base64>"}, exactly what the pin sends for
 * configfs-tsm (report = outblob, certs = auxblob, the extended report's certificate table,
 * left out when the host supplies none). Messages go to stderr. Exit 0 on success, 1 on any
 * failure, 2 for usage. `--probe` exits 0 when the device opens.
 *
 * Environment: KEYBROKER_SNP_VMPL (default 0; --vmpl wins), KEYBROKER_SNP_CERTS=0 (as
 * --no-certs), KEYBROKER_ATTESTER_BACKOFF_MS (first retry delay, default 1000).
 *
 * Linux UAPI, include/uapi/linux/sev-guest.h as merged in v5.19 and unchanged in layout since
 * (checked against torvalds/linux at v6.12 and Debian's 6.1 headers); the structures are
 * re-declared below with their sizes asserted, so no kernel header is needed:
 *   struct snp_report_req        { __u8 user_data[64]; __u32 vmpl; __u8 rsvd[28]; }        96 B
 *   struct snp_report_resp       { __u8 data[4000]; }                                    4000 B
 *   struct snp_guest_request_ioctl { __u8 msg_version; __u64 req_data; __u64 resp_data;
 *                                  __u64 exitinfo2; }                                      32 B
 *     (v5.19 names the last member `__u64 fw_err`; later headers make it a union of exitinfo2
 *     and struct { __u32 fw_error; __u32 vmm_error; }: the same 8 bytes)
 *   struct snp_ext_report_req    { struct snp_report_req data; __u64 certs_address; __u32 certs_len; } 112 B
 *   SNP_GET_REPORT     _IOWR('S', 0x0, struct snp_guest_request_ioctl)
 *   SNP_GET_EXT_REPORT _IOWR('S', 0x2, struct snp_guest_request_ioctl)
 * exitinfo2 bits 31:0 are the firmware status, bits 63:32 the VMM error: 1 INVALID_LEN (the
 * certificate buffer is too small; the driver writes the needed size back into certs_len), 2 BUSY
 * (the host throttled the request). Driver behaviour (drivers/virt/coco/sev-guest/sev-guest.c):
 * msg_version must be non-zero (MSG_REPORT_REQ is version 1); certs_len must be a multiple of
 * the page size and at most SEV_FW_BLOB_MAX_SIZE (16 KiB), else EINVAL; exitinfo2 is copied back
 * only when non-zero, and is only meaningful with EIO. Drivers with the 2023 throttling change
 * retry a throttled request themselves for 60 s and then fail with ETIMEDOUT; older ones fail
 * with EIO and vmm_error BUSY, and some returned EAGAIN: both are retried here, a bounded number
 * of times (as google/go-sev-guest's client does). Since the IV-reuse fix, any other firmware
 * failure disables the VMPCK (later requests: ENOTTY) until the guest reboots.
 * Out-of-tree drivers from before the merge (struct sev_snp_guest_request, or
 * snp_user_guest_request without resp_data) have another ABI and are not supported: their
 * ioctl fails and the message says so.
 *
 * The response (AMD SEV-SNP Firmware ABI, pub. 56860, "MSG_REPORT_RSP"): STATUS (u32, 0x0),
 * REPORT_SIZE (u32, 0x4), reserved to 0x1F, the ATTESTATION_REPORT at 0x20 (0x4A0 bytes). The
 * certificate table (GHCB spec, pub. 56421, "SNP Extended Guest Request"): 24-byte entries
 * GUID(16) | offset(u32) | length(u32), ended by an all-zero entry; like configfs-tsm's auxblob it
 * is printed up to the end of its last certificate.
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
#include <time.h>
#include <unistd.h>

#define PROG "keybroker-snp-report"
#define DEVICE "/dev/sev-guest"

#define REPORT_DATA_SIZE 64
#define MSG_REPORT_REQ_VERSION 1
#define RESP_HEADER_SIZE 0x20
#define REPORT_SIZE 0x4A0
#define REPORT_VMPL_AT 0x030
#define REPORT_DATA_AT 0x050
#define CERT_ENTRY_SIZE 24
#define PAGE 4096u
/* SEV_FW_BLOB_MAX_SIZE: the driver's certificate buffer. A host that needs more is told to
 * shrink; a newer driver with a larger buffer gets one more request with the size it names. */
#define CERTS_FIRST_SIZE (4 * PAGE)
#define CERTS_MAX_SIZE (256 * PAGE)
#define VMM_ERR_INVALID_LEN 1u
#define VMM_ERR_BUSY 2u
#define ATTEMPTS 5

struct snp_report_req {
    uint8_t user_data[REPORT_DATA_SIZE];
    uint32_t vmpl;
    uint8_t rsvd[28];
};

struct snp_report_resp {
    uint8_t data[4000];
};

struct snp_guest_request_ioctl {
    uint8_t msg_version;
    uint64_t req_data;
    uint64_t resp_data;
    union {
        uint64_t exitinfo2;
        struct {
            uint32_t fw_error;
            uint32_t vmm_error;
        } err;
    } u;
};

struct snp_ext_report_req {
    struct snp_report_req data;
    uint64_t certs_address;
    uint32_t certs_len;
};

_Static_assert(sizeof(struct snp_report_req) == 96, "snp_report_req");
_Static_assert(sizeof(struct snp_report_resp) == 4000, "snp_report_resp");
_Static_assert(sizeof(struct snp_guest_request_ioctl) == 32, "snp_guest_request_ioctl");
_Static_assert(offsetof(struct snp_guest_request_ioctl, u) == 24, "exitinfo2 offset");
_Static_assert(sizeof(struct snp_ext_report_req) == 112, "snp_ext_report_req");
_Static_assert(offsetof(struct snp_ext_report_req, certs_len) == 104, "certs_len offset");

#define SNP_GET_REPORT _IOWR('S', 0x0, struct snp_guest_request_ioctl)
#define SNP_GET_EXT_REPORT _IOWR('S', 0x2, struct snp_guest_request_ioctl)
_Static_assert(SNP_GET_REPORT == 0xC0205300u, "SNP_GET_REPORT");
_Static_assert(SNP_GET_EXT_REPORT == 0xC0205302u, "SNP_GET_EXT_REPORT");

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
    fputs("usage: " PROG " [--vmpl N] [--no-certs] REPORT_DATA_HEX [REPORT_DATA_FILE]\n"
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

/* Exactly 2*n hex digits into out[n]. */
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

/* The report-data file must hold exactly the bytes given in hex. */
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

/* Firmware status names (include/uapi/linux/psp-sev.h, sev_ret_code; ABI spec, "Status Codes"). */
static const char *fw_status_name(uint32_t s)
{
    switch (s) {
    case 0x00: return "SUCCESS";
    case 0x01: return "INVALID_PLATFORM_STATE";
    case 0x02: return "INVALID_GUEST_STATE";
    case 0x03: return "INVALID_CONFIG";
    case 0x04: return "INVALID_LENGTH";
    case 0x07: return "POLICY_FAILURE";
    case 0x08: return "INACTIVE";
    case 0x09: return "INVALID_ADDRESS";
    case 0x0A: return "BAD_SIGNATURE";
    case 0x0B: return "BAD_MEASUREMENT";
    case 0x10: return "INVALID_GUEST";
    case 0x11: return "INVALID_COMMAND";
    case 0x15: return "UNSUPPORTED";
    case 0x16: return "INVALID_PARAM";
    case 0x17: return "RESOURCE_LIMIT";
    case 0x18: return "SECURE_DATA_INVALID";
    case 0x19: return "INVALID_PAGE_SIZE";
    case 0x1A: return "INVALID_PAGE_STATE";
    case 0x1B: return "INVALID_MDATA_ENTRY";
    case 0x1C: return "INVALID_PAGE_OWNER";
    case 0x1D: return "AEAD_OFLOW";
    case 0x1F: return "EXIT_RING_BUFFER";
    case 0x20: return "RMP_INIT_REQUIRED";
    case 0x21: return "BAD_SVN";
    case 0x22: return "BAD_VERSION";
    case 0x23: return "SHUTDOWN_REQUIRED";
    case 0x24: return "UPDATE_FAILED";
    case 0x25: return "RESTORE_REQUIRED";
    case 0x26: return "RMP_INITIALIZATION_FAILED";
    case 0x27: return "INVALID_KEY";
    case 0xFF: /* the driver's marker before any firmware call (SEV_RET_NO_FW_CALL in v6.4+) */
    case 0xFFFFFFFFu: return "no firmware call";
    default: return "unknown";
    }
}

/* One line naming what failed, for an ioctl error `e` with the exitinfo2 the driver wrote back. */
static void explain_ioctl_failure(const char *what, int e, uint32_t fw_error, uint32_t vmm_error)
{
    switch (e) {
    case EIO:
        if (vmm_error != 0 && vmm_error != VMM_ERR_INVALID_LEN && vmm_error != VMM_ERR_BUSY)
            say("%s failed: the hypervisor answered error %u (EIO)", what, vmm_error);
        else
            say("%s failed: firmware status 0x%x %s (EIO)", what, fw_error, fw_status_name(fw_error));
        break;
    case ENOTTY:
        say("%s refused (ENOTTY): the sev-guest driver disabled its VMPCK after an earlier failed "
            "request (reboot the guest), or does not know this request",
            what);
        break;
    case EINVAL:
        say("%s refused as invalid (EINVAL): message version or certificate buffer size", what);
        break;
    case ETIMEDOUT:
        say("%s failed: the host throttled the request for longer than the driver waits (ETIMEDOUT); "
            "the driver has disabled its VMPCK, reboot the guest",
            what);
        break;
    default:
        say("%s failed: %s", what, strerror(e));
    }
}

static int open_device(void)
{
    int fd = open(DEVICE, O_RDWR | O_CLOEXEC);
    if (fd >= 0) return fd;
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
        say("no " DEVICE " (%s): not an SEV-SNP guest, or the sev-guest driver is not loaded "
            "(modprobe sev-guest; sevguest on 5.19)",
            strerror(e));
    else if (e == EACCES || e == EPERM)
        say("cannot open " DEVICE ": %s (it is root's)", strerror(e));
    else
        say("cannot open " DEVICE ": %s", strerror(e));
    return -1;
}

struct result {
    struct snp_report_resp resp;
    uint8_t *certs; /* NULL: no certificate table requested */
    uint32_t certs_size;
};

/*
 * SNP_GET_EXT_REPORT (or SNP_GET_REPORT without certificates), with the certificate buffer
 * grown once when the host asks for more, and throttling retried with back-off.
 */
static int get_report(int fd, const uint8_t report_data[REPORT_DATA_SIZE], unsigned vmpl, int want_certs,
                      struct result *out)
{
    struct snp_ext_report_req ext;
    struct snp_guest_request_ioctl guest;
    unsigned delay_ms = 1000, tries = 0;
    int grown = 0;
    const char *env_delay = getenv("KEYBROKER_ATTESTER_BACKOFF_MS");
    if (env_delay != NULL && parse_uint(env_delay, 60000, &delay_ms) != 0) delay_ms = 1000;

    out->certs = NULL;
    out->certs_size = 0;
    if (want_certs) {
        out->certs = calloc(1, CERTS_FIRST_SIZE);
        if (out->certs == NULL) {
            say("out of memory");
            return -1;
        }
        out->certs_size = CERTS_FIRST_SIZE;
    }
    for (;;) {
        memset(&ext, 0, sizeof ext);
        memset(&guest, 0, sizeof guest);
        memset(&out->resp, 0, sizeof out->resp);
        memcpy(ext.data.user_data, report_data, REPORT_DATA_SIZE);
        ext.data.vmpl = vmpl;
        if (want_certs) {
            memset(out->certs, 0, out->certs_size);
            ext.certs_address = (uint64_t)(uintptr_t)out->certs;
            ext.certs_len = out->certs_size;
        }
        guest.msg_version = MSG_REPORT_REQ_VERSION;
        guest.req_data = (uint64_t)(uintptr_t)&ext; /* snp_report_req is ext's first member */
        guest.resp_data = (uint64_t)(uintptr_t)&out->resp;
        unsigned long cmd = want_certs ? SNP_GET_EXT_REPORT : SNP_GET_REPORT;
        const char *what = want_certs ? "SNP_GET_EXT_REPORT" : "SNP_GET_REPORT";
        if (ioctl(fd, cmd, &guest) == 0) return 0;

        int e = errno;
        /* exitinfo2 means something only with EIO (other paths may leave stale bytes). */
        uint32_t fw_error = e == EIO ? guest.u.err.fw_error : 0;
        uint32_t vmm_error = e == EIO ? guest.u.err.vmm_error : 0;
        if (want_certs && e == EIO && vmm_error == VMM_ERR_INVALID_LEN) {
            uint32_t need = ext.certs_len;
            if (grown || need <= out->certs_size || need > CERTS_MAX_SIZE || need % PAGE != 0) {
                say("%s: the host refused a %u-byte certificate buffer (INVALID_LEN) and asks for %u bytes, "
                    "which this attester cannot give; use --no-certs and give keybroker the VCEK another way",
                    what, out->certs_size, need);
                return -1;
            }
            uint8_t *bigger = realloc(out->certs, need);
            if (bigger == NULL) {
                say("out of memory");
                return -1;
            }
            out->certs = bigger;
            out->certs_size = need;
            grown = 1;
            continue;
        }
        if (grown && e == EINVAL) {
            say("%s: the host's certificate table needs %u bytes, more than this driver accepts (EINVAL); "
                "use --no-certs and give keybroker the VCEK another way",
                what, out->certs_size);
            return -1;
        }
        if (e == EAGAIN || (e == EIO && vmm_error == VMM_ERR_BUSY)) {
            if (++tries < ATTEMPTS) {
                say("%s: the host is throttling guest requests; retrying in %u ms", what, delay_ms);
                sleep_ms(delay_ms);
                delay_ms = delay_ms * 2 > 8000 ? 8000 : delay_ms * 2;
                continue;
            }
            say("%s: the host is still throttling after %d attempts", what, ATTEMPTS);
            return -1;
        }
        explain_ioctl_failure(what, e, fw_error, vmm_error);
        return -1;
    }
}

/* Size of the certificate table up to the end of its last certificate; 0 when it is empty. */
static int cert_table_size(const uint8_t *t, uint32_t size, uint32_t *used)
{
    uint64_t end = 0;
    *used = 0;
    for (uint32_t at = 0;; at += CERT_ENTRY_SIZE) {
        if ((uint64_t)at + CERT_ENTRY_SIZE > size) {
            say("the host's certificate table has no terminating entry");
            return -1;
        }
        const uint8_t *e = t + at;
        uint32_t off = le32(e + 16), len = le32(e + 20);
        int zero = 1;
        for (int i = 0; i < CERT_ENTRY_SIZE; i++) zero &= e[i] == 0;
        if (zero) break;
        if ((uint64_t)off + len > size || off < at + 2 * CERT_ENTRY_SIZE) {
            say("the host's certificate table is malformed (entry %u: offset %u, length %u)", at / CERT_ENTRY_SIZE,
                off, len);
            return -1;
        }
        if ((uint64_t)off + len > end) end = (uint64_t)off + len;
    }
    *used = (uint32_t)end;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned vmpl = 0;
    int want_certs = 1, probe = 0, i = 1;
    const char *env;
    if ((env = getenv("KEYBROKER_SNP_VMPL")) != NULL && parse_uint(env, 3, &vmpl) != 0) {
        say("KEYBROKER_SNP_VMPL must be 0-3");
        return 2;
    }
    if ((env = getenv("KEYBROKER_SNP_CERTS")) != NULL && strcmp(env, "0") == 0) want_certs = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--probe") == 0)
            probe = 1;
        else if (strcmp(argv[i], "--no-certs") == 0)
            want_certs = 0;
        else if (strcmp(argv[i], "--vmpl") == 0 && i + 1 < argc) {
            if (parse_uint(argv[++i], 3, &vmpl) != 0) {
                say("--vmpl must be 0-3");
                return 2;
            }
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

    int fd = open_device();
    if (fd < 0) return 1;
    struct result *r = calloc(1, sizeof *r);
    if (r == NULL) {
        say("out of memory");
        close(fd);
        return 1;
    }
    int rc = 1;
    if (get_report(fd, report_data, vmpl, want_certs, r) != 0) goto done;

    const uint8_t *resp = r->resp.data;
    uint32_t status = le32(resp), size = le32(resp + 4);
    if (status != 0) {
        if (status == 0x16)
            say("the firmware refused the report request: status 0x16 INVALID_PARAM (is VMPL %u below the "
                "guest's own VMPL? see --vmpl)",
                vmpl);
        else
            say("the firmware refused the report request: status 0x%x %s", status, fw_status_name(status));
        goto done;
    }
    if (size != REPORT_SIZE) {
        say("the firmware answered a report of %u bytes, not %u", size, REPORT_SIZE);
        goto done;
    }
    const uint8_t *report = resp + RESP_HEADER_SIZE;
    /* The report must be the one asked for: a driver, host or shim that answers another is a bug. */
    if (memcmp(report + REPORT_DATA_AT, report_data, REPORT_DATA_SIZE) != 0 || le32(report + REPORT_VMPL_AT) != vmpl) {
        say("the report does not carry the requested REPORT_DATA and VMPL");
        goto done;
    }
    uint32_t certs_used = 0;
    if (r->certs != NULL && cert_table_size(r->certs, r->certs_size, &certs_used) != 0) goto done;

    if (fputs("{\"type\":\"snp\",\"report\":\"", stdout) == EOF || put_base64(report, REPORT_SIZE) != 0) goto write_error;
    if (certs_used > 0 &&
        (fputs("\",\"certs\":\"", stdout) == EOF || put_base64(r->certs, certs_used) != 0))
        goto write_error;
    if (fputs("\"}\n", stdout) == EOF || fflush(stdout) != 0) goto write_error;
    rc = 0;
    goto done;
write_error:
    say("cannot write the evidence: %s", strerror(errno));
done:
    free(r->certs);
    free(r);
    close(fd);
    return rc;
}
