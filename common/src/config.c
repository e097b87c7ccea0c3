/* Environment variable readers: strict parsing, ranges, one-line errors. */
#include "ms/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ms/err.h"
#include "ms/json.h"

static const char *env_value(const char *name)
{
    const char *v = getenv(name);

    return (v && *v) ? v : NULL;
}

static int invalid(const char *name, const char *value, const char *expected)
{
    fprintf(stderr, "%s: invalid value \"%s\": expected %s\n", name, value, expected);
    return MS_EINVAL;
}

int ms_config_int(const char *name, long def, long min, long max, long *out)
{
    const char *v = env_value(name);
    char expected[96];
    long long n;

    if (!v) {
        *out = def;
        return 0;
    }
    /* the same strict reader as ids: digits only, no spaces, '+', hex or overflow */
    if (ms_parse_ll(v, min, max, &n) != 0) {
        snprintf(expected, sizeof(expected), "an integer from %ld to %ld", min, max);
        return invalid(name, v, expected);
    }
    *out = (long)n;
    return 0;
}

int ms_config_i(const char *name, int def, int min, int max, int *out)
{
    long n;
    int rc = ms_config_int(name, def, min, max, &n);

    if (rc == 0)
        *out = (int)n;
    return rc;
}

int ms_config_bool(const char *name, bool def, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *v = env_value(name);

    if (!v) {
        *out = def;
        return 0;
    }
    for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return invalid(name, v, "true or false");
}

int ms_config_str(const char *name, const char *def, size_t max_len, const char **out)
{
    const char *v = env_value(name);
    char expected[64];

    if (!v) {
        *out = def;
        return 0;
    }
    if (strlen(v) > max_len) {
        snprintf(expected, sizeof(expected), "at most %zu characters", max_len);
        return invalid(name, v, expected);
    }
    *out = v;
    return 0;
}
