/* Fuzzes the request headers the suite reads: the server's request-id acceptance and trace-header
 * capture (capture_trace, through the stand-in connection of fake_mhd.c), ms_trace_id over the
 * captured and the raw values, order's Idempotency-Key rule and the messages that quote a key,
 * and the declared Content-Length check. Each is compared with its documented rule; an id or
 * key that is echoed (response header, log line, error envelope) must be safe there.
 *
 * Input: header lines, "Name: value\n...". */
#include <ctype.h>

#include "../../common/src/server.c"
#include "../../services/order/model.c"
#include "fake_mhd.c"
#include "fuzz.h"

static const char *header(struct ms_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool printable(const char *s, unsigned char lo)
{
    for (; *s; s++)
        if ((unsigned char)*s < lo || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* A generated request id: a version-4 UUID in lower case, 8-4-4-4-12. */
static bool is_uuid4(const char *s)
{
    if (strlen(s) != MS_UUID_LEN || s[14] != '4')
        return false;
    for (size_t i = 0; i < MS_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

/* x-request-id is echoed when it is 1 to 64 of [A-Za-z0-9-_.:], else one is generated; the
 * other trace headers are kept when printable ASCII of at most 512 bytes. */
static void check_capture(struct ms_req *req)
{
    static const char id_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-_.:";
    const char *sent = header(req, "x-request-id");
    size_t len = sent ? strlen(sent) : 0;
    bool echo = sent && len >= 1 && len <= 64 && strspn(sent, id_chars) == len;

    capture_trace(req);
    FUZZ_CHECK(req->trace.values[MS_TRACE_REQUEST_ID] == req->request_id);
    FUZZ_CHECK(echo ? strcmp(req->request_id, sent) == 0 : is_uuid4(req->request_id));
    FUZZ_CHECK(strspn(req->request_id, id_chars) == strlen(req->request_id));
    for (int i = 1; i < MS_TRACE_NHEADERS; i++) {
        const char *v = header(req, ms_trace_header_names[i]);
        bool keep = v && strlen(v) <= 512 && printable(v, 0x20);
        FUZZ_CHECK(req->trace.values[i] == (keep ? v : NULL));
    }
}

/* ms_trace_id: the 32 hex digits of a well-formed traceparent, else x-b3-traceid when it is all
 * hex; NULL when the id does not fit cap. */
static void check_trace_id(const struct ms_trace *trace)
{
    static const size_t caps[] = {1, 16, 32, 33, 40, 64};
    const char *tp = trace->values[1], *b3 = trace->values[3];
    bool tp_ok = tp && strlen(tp) >= 35 && tp[2] == '-' && tp[35] == '-' && all_hex(tp + 3, 32);

    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        char buf[64];
        const char *id = ms_trace_id(trace, buf, caps[i]);
        const char *want = tp_ok ? tp + 3 : b3;
        size_t want_len = tp_ok ? 32 : (b3 ? strlen(b3) : 0);
        bool fits = want && want_len > 0 && want_len < caps[i] && all_hex(want, want_len);

        FUZZ_CHECK((id != NULL) == fits);
        FUZZ_CHECK(!id || (id == buf && strlen(id) == want_len && memcmp(id, want, want_len) == 0));
    }
    FUZZ_CHECK(ms_trace_id(NULL, NULL, 0) == NULL);
}

/* 1 to 128 visible ASCII characters; a valid key is quoted in the 409 and 422 envelopes. */
static void check_idempotency_key(const char *key)
{
    struct ms_res res = {.request_id = "fuzz"};
    size_t len = key ? strlen(key) : 0;
    bool ok = key && len >= 1 && len <= ORDER_IDEM_KEY_MAX && printable(key, 0x21);

    FUZZ_CHECK(idempotency_key_valid(key) == ok);
    if (!ok)
        return;
    ms_res_error_status(&res, 422, "idempotency_key_reused",
                        "Idempotency-Key %s was used for a different request", key);
    FUZZ_CHECK(res.status == 422 && strstr(res.body, "idempotency_key_reused"));
    fuzz_res_reset(&res);
    res.request_id = "fuzz";
    ms_res_error(&res, MS_ECONFLICT, "a request with Idempotency-Key %s is still in progress", key);
    fuzz_check_envelope(&res, MS_ECONFLICT);
    ms_res_release(&res);
}

/* A Content-Length over the route's limit is refused before the body is read. */
static void check_content_length(struct ms_req *req)
{
    static const size_t limits[] = {0, 1024, 4096, 65536, SIZE_MAX};
    const char *cl = header(req, "Content-Length");
    long long n = 0;
    bool valid = cl && fuzz_ref_parse_ll(cl, &n) && n >= 0;

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        req->body_max = limits[i];
        FUZZ_CHECK(declared_too_big(req) == (valid && (unsigned long long)n > limits[i]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct MHD_Connection conn = {0};
    struct ms_req req = {.method = "POST", .url = "/orders", .conn = &conn};
    struct ms_trace raw = {{0}};
    json_t *line;

    fake_mhd_parse_headers(&conn, text);
    check_capture(&req);
    check_trace_id(&req.trace);
    for (int i = 0; i < MS_TRACE_NHEADERS; i++)
        raw.values[i] = header(&req, ms_trace_header_names[i]);
    check_trace_id(&raw);
    check_idempotency_key(header(&req, "Idempotency-Key"));
    check_content_length(&req);
    /* the id goes into every access-log line, a JSON string */
    line = json_pack("{s:s}", "request_id", req.request_id);
    FUZZ_CHECK(line != NULL);
    json_decref(line);
    free(text);
    return 0;
}
