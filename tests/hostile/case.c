/* The case file format: a block of "field: value" lines, a blank line, the request. */
#include "case.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bytes.h"

/* Longest request a case may build, repetitions included. */
#define REQUEST_MAX ((size_t)64 << 20)

/* Appends to a request being built, refusing to grow it past REQUEST_MAX. */
static int bytes_add(struct ms_test_bytes *b, const char *s, size_t n)
{
    return b->len + n + 1 > REQUEST_MAX ? -1 : ms_test_bytes_add(b, s, n);
}

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte a one-letter escape stands for, or -1. */
static int letter_byte(char c)
{
    switch (c) {
    case '\\':
        return '\\';
    case 'r':
        return '\r';
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case '0':
        return '\0';
    default:
        return -1;
    }
}

/* One escape at in[*i] (just past the backslash), appended to out. */
static int one_escape(const char *in, size_t len, size_t *i, struct ms_test_bytes *out, char *err,
                      size_t cap)
{
    char c = *i < len ? in[*i] : '\0';
    int byte = letter_byte(c);
    char b;

    if (c == 'x') {
        int hi = *i + 1 < len ? hex(in[*i + 1]) : -1, lo = *i + 2 < len ? hex(in[*i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return fail(err, cap, "\\x needs two hex digits");
        byte = hi << 4 | lo;
        *i += 2;
    } else if (byte < 0) {
        return fail(err, cap, "unknown escape \\%c", c ? c : '?');
    }
    *i += 1;
    b = (char)byte;
    return bytes_add(out, &b, 1);
}

static int unescape_into(const char *in, size_t len, struct ms_test_bytes *out, bool in_repeat,
                         char *err, size_t cap);

/* \{N:text}: in[*i] is the '{'. */
static int repeat(const char *in, size_t len, size_t *i, struct ms_test_bytes *out, char *err,
                  size_t cap)
{
    struct ms_test_bytes unit = {0};
    char *end;
    unsigned long n;
    size_t start, stop;
    int rc = 0;

    errno = 0;
    n = strtoul(in + *i + 1, &end, 10);
    if (errno || end == in + *i + 1 || (size_t)(end - in) >= len || *end != ':' || n > REQUEST_MAX)
        return fail(err, cap, "\\{ needs a count and a colon: \\{N:text}");
    start = (size_t)(end - in) + 1;
    for (stop = start; stop < len && in[stop] != '}'; stop++)
        if (in[stop] == '\\')
            stop++;
    if (stop >= len)
        return fail(err, cap, "\\{N:text} is not closed with }");
    if (unescape_into(in + start, stop - start, &unit, true, err, cap))
        rc = -1;
    for (unsigned long k = 0; rc == 0 && k < n; k++)
        if (bytes_add(out, unit.data ? unit.data : "", unit.len))
            rc = fail(err, cap, "the request is over %zu bytes", REQUEST_MAX);
    free(unit.data);
    *i = stop + 1;
    return rc;
}

static int unescape_into(const char *in, size_t len, struct ms_test_bytes *out, bool in_repeat,
                         char *err, size_t cap)
{
    size_t i = 0;

    while (i < len) {
        size_t plain = i;
        int rc;
        while (plain < len && in[plain] != '\\')
            plain++;
        if (bytes_add(out, in + i, plain - i))
            return fail(err, cap, "the request is over %zu bytes", REQUEST_MAX);
        i = plain;
        if (i == len)
            break;
        i++; /* the backslash */
        if (i < len && in[i] == '}' && in_repeat) {
            i++;
            rc = bytes_add(out, "}", 1);
        } else if (i < len && in[i] == '{' && !in_repeat) {
            rc = repeat(in, len, &i, out, err, cap);
        } else {
            rc = one_escape(in, len, &i, out, err, cap);
        }
        if (rc)
            return rc;
    }
    return 0;
}

char *hostile_unescape(const char *in, size_t len, size_t *out_len, char *err, size_t errcap)
{
    struct ms_test_bytes out = {0};

    if (unescape_into(in, len, &out, false, err, errcap) || bytes_add(&out, "", 0)) {
        free(out.data);
        return NULL;
    }
    *out_len = out.len;
    return out.data;
}

/* ---- the field block ---- */

static const char *const all_services[] = {"product", "user",         "inventory",
                                           "cart",    "notification", "order"};

static int set_services(struct hostile_case *c, const char *value, char *err, size_t cap)
{
    char *copy = strdup(value), *save = NULL;
    size_t n = 0;

    if (!copy)
        return fail(err, cap, "out of memory");
    for (char *tok = strtok_r(copy, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        bool known = strcmp(tok, "all") == 0;
        for (size_t i = 0; i < 6 && !known; i++)
            known = strcmp(tok, all_services[i]) == 0;
        if (!known || n + (strcmp(tok, "all") == 0 ? 6 : 1) > HOSTILE_MAX_SERVICES) {
            free(copy);
            return fail(err, cap, "service: unknown service or too many: %s", tok);
        }
        if (strcmp(tok, "all") == 0)
            for (size_t i = 0; i < 6; i++)
                c->services[n++] = strdup(all_services[i]);
        else
            c->services[n++] = strdup(tok);
    }
    free(copy);
    c->services[n] = NULL;
    return n ? 0 : fail(err, cap, "service: none given");
}

static char *unescaped_text(const char *value, char *err, size_t cap)
{
    size_t n;
    char *s = hostile_unescape(value, strlen(value), &n, err, cap);

    if (s && strlen(s) != n) {
        free(s);
        fail(err, cap, "a check cannot hold a NUL byte");
        return NULL;
    }
    return s;
}

/* "Name: value" of a header or header-not line. */
static int header_check(struct hostile_case *c, const char *value, bool negate, char *err,
                        size_t cap)
{
    const char *colon = strchr(value, ':');
    struct hostile_header_check *h;

    if (!colon || colon == value || c->nheaders == HOSTILE_MAX_CHECKS)
        return fail(err, cap, "header: needs Name: value (at most %d)", HOSTILE_MAX_CHECKS);
    h = &c->headers[c->nheaders++];
    h->negate = negate;
    h->name = strndup(value, (size_t)(colon - value));
    h->value = unescaped_text(colon + 1 + strspn(colon + 1, " "), err, cap);
    return h->name && h->value ? 0 : -1;
}

/* "db: SQL => value" of an after line. */
static int sql_check(struct hostile_case *c, const char *value, char *err, size_t cap)
{
    const char *colon = strchr(value, ':'), *arrow = strstr(value, " => ");
    struct hostile_sql_check *s;

    if (!colon || !arrow || arrow < colon || c->nafter == HOSTILE_MAX_CHECKS)
        return fail(err, cap, "after: needs db: SQL => value (at most %d)", HOSTILE_MAX_CHECKS);
    s = &c->after[c->nafter++];
    s->db = strndup(value, (size_t)(colon - value));
    colon += 1 + strspn(colon + 1, " ");
    s->sql = strndup(colon, (size_t)(arrow - colon));
    s->want = strdup(arrow + 4);
    return s->db && s->sql && s->want ? 0 : fail(err, cap, "out of memory");
}

static int yes_no(const char *value, bool *out, char *err, size_t cap)
{
    if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
        *out = strcmp(value, "yes") == 0;
        return 0;
    }
    return fail(err, cap, "expected yes or no, not %s", value);
}

/* Options that shape how the request is built, not what is checked. */
struct build {
    bool lf;         /* newlines: lf */
    bool unfinished; /* unfinished: yes */
};

static int number(const char *value, long min, long max, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(value, &end, 10);
    return errno || end == value || *end || *out < min || *out > max ? -1 : 0;
}

static int field(struct hostile_case *c, struct build *b, const char *key, const char *value,
                 char *err, size_t cap)
{
    if (strcmp(key, "service") == 0)
        return set_services(c, value, err, cap);
    if (strcmp(key, "status") == 0) {
        if (strcmp(value, "closed") == 0) {
            c->status = HOSTILE_CLOSED;
            return 0;
        }
        return number(value, 100, 599, &c->status) ? fail(err, cap, "status: 100..599 or closed")
                                                   : 0;
    }
    if (strcmp(key, "within") == 0)
        return number(value, 1, 600000, &c->within_ms) ? fail(err, cap, "within: milliseconds") : 0;
    if (strcmp(key, "closes") == 0)
        return yes_no(value, &c->closes, err, cap);
    if (strcmp(key, "unfinished") == 0)
        return yes_no(value, &b->unfinished, err, cap);
    if (strcmp(key, "writes") == 0) {
        if (strcmp(value, "none") && strcmp(value, "any"))
            return fail(err, cap, "writes: none or any");
        c->writes_any = strcmp(value, "any") == 0;
        return 0;
    }
    if (strcmp(key, "newlines") == 0) {
        if (strcmp(value, "crlf") && strcmp(value, "lf"))
            return fail(err, cap, "newlines: crlf or lf");
        b->lf = strcmp(value, "lf") == 0;
        return 0;
    }
    if (strcmp(key, "body-has") == 0) {
        if (c->nbody_has == HOSTILE_MAX_CHECKS)
            return fail(err, cap, "at most %d body-has lines", HOSTILE_MAX_CHECKS);
        c->body_has[c->nbody_has] = unescaped_text(value, err, cap);
        return c->body_has[c->nbody_has++] ? 0 : -1;
    }
    if (strcmp(key, "header") == 0 || strcmp(key, "header-not") == 0)
        return header_check(c, value, strcmp(key, "header-not") == 0, err, cap);
    if (strcmp(key, "after") == 0)
        return sql_check(c, value, err, cap);
    return fail(err, cap, "unknown field %s", key);
}

/* ---- the request ---- */

/* Appends one head line, unescaped, with its line end; "Content-Length: auto" is left for
 * later and its place remembered in *auto_at. */
static int head_line(struct ms_test_bytes *req, const char *line, size_t len, const struct build *b,
                     size_t *auto_at, char *err, size_t cap)
{
    static const char auto_cl[] = "Content-Length: auto";
    size_t n;
    char *bytes;
    int rc;

    if (len == sizeof(auto_cl) - 1 && strncasecmp(line, auto_cl, len) == 0) {
        *auto_at = req->len;
        return bytes_add(req, b->lf ? "\n" : "\r\n", b->lf ? 1 : 2);
    }
    bytes = hostile_unescape(line, len, &n, err, cap);
    if (!bytes)
        return -1;
    rc = bytes_add(req, bytes, n) || bytes_add(req, b->lf ? "\n" : "\r\n", b->lf ? 1 : 2);
    free(bytes);
    return rc ? fail(err, cap, "the request is too big") : 0;
}

/* Puts "Content-Length: <body length>" where the head asked for it. */
static int fill_auto_length(struct ms_test_bytes *req, size_t at, size_t body_len)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "Content-Length: %zu", body_len);
    struct ms_test_bytes out = {0};
    int rc = bytes_add(&out, req->data, at) || bytes_add(&out, line, (size_t)n) ||
             bytes_add(&out, req->data + at, req->len - at);

    free(req->data);
    *req = out;
    return rc;
}

static int build_request(struct hostile_case *c, const struct build *b, const char *text,
                         size_t len, char *err, size_t cap)
{
    struct ms_test_bytes req = {0};
    size_t i = 0, auto_at = (size_t)-1, body_len = 0;
    char *body = NULL;
    int rc = 0;

    while (rc == 0 && i < len && text[i] != '\n') {
        size_t eol = i;
        while (eol < len && text[eol] != '\n')
            eol++;
        rc = head_line(&req, text + i, eol - i, b, &auto_at, err, cap);
        i = eol + (eol < len);
    }
    if (rc == 0 && !b->unfinished)
        rc = bytes_add(&req, b->lf ? "\n" : "\r\n", b->lf ? 1 : 2);
    if (rc == 0 && i < len) { /* a blank line: the body follows, without the file's last \n */
        size_t end = len;
        i++;
        if (end > i && text[end - 1] == '\n')
            end--;
        body = hostile_unescape(text + i, end - i, &body_len, err, cap);
        rc = body ? bytes_add(&req, body, body_len) : -1;
    }
    if (rc == 0 && auto_at != (size_t)-1)
        rc = fill_auto_length(&req, auto_at, body_len);
    free(body);
    c->request = req.data;
    c->request_len = req.len;
    c->head_method = req.data && strncmp(req.data, "HEAD ", 5) == 0;
    if (rc == 0 && req.len == 0)
        rc = fail(err, cap, "no request");
    return rc;
}

int hostile_case_parse(const char *name, const char *text, size_t len, struct hostile_case *c,
                       char *err, size_t errcap)
{
    struct build b = {0};
    size_t i = 0;
    int line_no = 0;

    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->status = 0;
    c->within_ms = 5000;
    while (i < len && text[i] != '\n') {
        size_t eol = i;
        char line[4096], *colon;
        while (eol < len && text[eol] != '\n')
            eol++;
        line_no++;
        if (eol - i >= sizeof(line))
            return fail(err, errcap, "line %d: too long", line_no);
        memcpy(line, text + i, eol - i);
        line[eol - i] = '\0';
        i = eol + (eol < len);
        if (line[0] == '#')
            continue;
        colon = strstr(line, ": ");
        if (!colon)
            return fail(err, errcap, "line %d: expected field: value", line_no);
        *colon = '\0';
        if (field(c, &b, line, colon + 2, err, errcap)) {
            size_t used = strlen(err);
            snprintf(err + used, errcap - used, " (line %d)", line_no);
            return -1;
        }
    }
    if (!c->services[0] || c->status == 0)
        return fail(err, errcap, "service: and status: are required");
    if (i >= len)
        return fail(err, errcap, "no blank line and request after the fields");
    return build_request(c, &b, text + i + 1, len - i - 1, err, errcap);
}

int hostile_case_load(const char *dir, const char *name, struct hostile_case *c, char *err,
                      size_t errcap)
{
    char path[1024];
    FILE *f;
    char *text;
    long size;
    int rc;

    memset(c, 0, sizeof(*c));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return fail(err, errcap, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        return fail(err, errcap, "cannot read %s", path);
    }
    fclose(f);
    rc = hostile_case_parse(name, text, (size_t)size, c, err, errcap);
    free(text);
    return rc;
}

void hostile_case_free(struct hostile_case *c)
{
    for (size_t i = 0; c->services[i]; i++)
        free(c->services[i]);
    for (size_t i = 0; i < c->nbody_has; i++)
        free(c->body_has[i]);
    for (size_t i = 0; i < c->nheaders; i++) {
        free(c->headers[i].name);
        free(c->headers[i].value);
    }
    for (size_t i = 0; i < c->nafter; i++) {
        free(c->after[i].db);
        free(c->after[i].sql);
        free(c->after[i].want);
    }
    free(c->request);
    memset(c, 0, sizeof(*c));
}
