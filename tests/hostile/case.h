/* One hostile-input case: a file under tests/hostile/cases/ that says which service gets it, what
 * must come back, and the raw request bytes to send. The format is in tests/hostile/README.md. */
#ifndef HOSTILE_CASE_H
#define HOSTILE_CASE_H

#include <stdbool.h>
#include <stddef.h>

enum {
    HOSTILE_CLOSED = -1,    /* status: the server closes the connection without answering */
    HOSTILE_MAX_CHECKS = 8, /* body-has, header, header-not and after lines, each */
    HOSTILE_MAX_SERVICES = 8,
};

struct hostile_header_check {
    char *name;
    char *value;
    bool negate; /* header-not: the answer must not have this header with this value */
};

struct hostile_sql_check {
    char *db;  /* a service's database: "user", "order", ... */
    char *sql; /* its first value after the case must be want */
    char *want;
};

struct hostile_case {
    char name[256];                           /* the path under cases/ */
    char *services[HOSTILE_MAX_SERVICES + 1]; /* the services it is sent to, NULL-terminated */
    long status;                              /* the expected status, or HOSTILE_CLOSED */
    bool closes;                              /* the server must close the connection after it */
    bool writes_any;                          /* writes: any (the SQL checks say what) */
    long within_ms;                           /* the answer (or the close) comes by then */
    char *body_has[HOSTILE_MAX_CHECKS];       /* unescaped; may hold no NUL */
    size_t nbody_has;
    struct hostile_header_check headers[HOSTILE_MAX_CHECKS];
    size_t nheaders;
    struct hostile_sql_check after[HOSTILE_MAX_CHECKS];
    size_t nafter;
    char *request; /* the bytes to send */
    size_t request_len;
    bool head_method; /* the request is a HEAD: its answer has no body */
};

/* Parses the text of a case file called name. Returns 0, or -1 with the reason (and line) in
 * err. Free c with hostile_case_free either way. */
int hostile_case_parse(const char *name, const char *text, size_t len, struct hostile_case *c,
                       char *err, size_t errcap);

/* Reads and parses dir/name. 0 or -1 with the reason in err. */
int hostile_case_load(const char *dir, const char *name, struct hostile_case *c, char *err,
                      size_t errcap);

/* Turns the escapes of the case format into bytes: \\ \r \n \t \0 \xHH and \{N:text} (text N
 * times). The result is malloc'd, NUL-terminated, its length in *out_len. NULL with the reason in
 * err for an unknown or unfinished escape. */
char *hostile_unescape(const char *in, size_t len, size_t *out_len, char *err, size_t errcap);

void hostile_case_free(struct hostile_case *c);

#endif
