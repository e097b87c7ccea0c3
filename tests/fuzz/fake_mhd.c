/* A stand-in for the MHD connection, so the request readers (ms_req_query, ms_req_header,
 * ms_req_query_only_or_400) and the server's header capture can be fuzzed without a daemon or a
 * socket. A target that needs it includes this file; its two MHD functions then take the place
 * of libmicrohttpd's in that executable (MHD's own tests replace its lookups the same way).
 *
 * They behave as MHD 0.9.75's: a lookup returns the first value of the kind whose key matches
 * without regard to case; a query argument without '=' has a NULL value. The query string is
 * split as MHD_parse_arguments_ does: at '&', then at the first '=', '+' turned into ' ', and
 * the key and the value each passed through the daemon's unescape callback. */
#include <microhttpd.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

enum { FAKE_MHD_MAX_VALUES = 64 };

struct fake_mhd_value {
    enum MHD_ValueKind kind;
    const char *key;
    const char *value; /* NULL for a query argument without '=' */
};

struct MHD_Connection {
    struct fake_mhd_value values[FAKE_MHD_MAX_VALUES];
    size_t n;
};

/* The server's MHD_OPTION_UNESCAPE_CALLBACK. */
typedef size_t (*fake_mhd_unescape_fn)(void *cls, struct MHD_Connection *conn, char *s);

/* Adds a value; past FAKE_MHD_MAX_VALUES it is dropped (MHD's own limit is memory). */
static inline void fake_mhd_add(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    if (c->n < FAKE_MHD_MAX_VALUES)
        c->values[c->n++] = (struct fake_mhd_value){kind, key, value};
}

static inline void fake_mhd_plus_to_space(char *s)
{
    for (; *s; s++)
        if (*s == '+')
            *s = ' ';
}

/* Splits args (after the '?', modified in place, kept alive by the caller) into query
 * arguments of c, each key and value decoded by decode. */
static inline void fake_mhd_parse_query(struct MHD_Connection *c, char *args,
                                        fake_mhd_unescape_fn decode)
{
    while (args && *args) {
        char *amper = strchr(args, '&'), *equals = strchr(args, '=');
        char *next = NULL;

        if (amper) {
            *amper = '\0';
            next = amper + 1;
            if (equals && equals > amper)
                equals = NULL;
        }
        if (equals)
            *equals++ = '\0';
        fake_mhd_plus_to_space(args);
        decode(NULL, c, args);
        if (equals) {
            fake_mhd_plus_to_space(equals);
            decode(NULL, c, equals);
        }
        fake_mhd_add(c, MHD_GET_ARGUMENT_KIND, args, equals);
        args = next;
    }
}

/* Splits text (modified in place, kept alive by the caller) into header lines "Name: value",
 * one a line; the value loses its leading blanks, as MHD's do. Lines without ':' are skipped. */
static inline void fake_mhd_parse_headers(struct MHD_Connection *c, char *text)
{
    for (char *line = text; line;) {
        char *end = strchr(line, '\n'), *colon;

        if (end)
            *end++ = '\0';
        colon = strchr(line, ':');
        if (colon) {
            *colon++ = '\0';
            colon += strspn(colon, " \t");
            fake_mhd_add(c, MHD_HEADER_KIND, line, colon);
        }
        line = end;
    }
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    for (size_t i = 0; connection && key && i < connection->n; i++) {
        const struct fake_mhd_value *v = &connection->values[i];
        if ((v->kind & kind) && strcasecmp(v->key, key) == 0)
            return v->value;
    }
    return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    int n = 0;

    for (size_t i = 0; connection && i < connection->n; i++) {
        const struct fake_mhd_value *v = &connection->values[i];
        if (!(v->kind & kind))
            continue;
        n++;
        if (iterator && iterator(iterator_cls, v->kind, v->key, v->value) != MHD_YES)
            break;
    }
    return n;
}
