/* Reading Prometheus text (see metrics.h). */
#include "metrics.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ms/metrics.h"

/* The first line of text that starts with prefix followed by a space, or by the end of the line
 * when whole is true: a pointer just past prefix, or NULL. */
static const char *find_line(const char *text, const char *prefix, bool whole)
{
    size_t n = strlen(prefix);

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *next = strchr(line, '\n');

        if (strncmp(line, prefix, n) == 0 &&
            (line[n] == ' ' || (whole && (line[n] == '\n' || line[n] == '\0'))))
            return line + n;
        line = next ? next + 1 : NULL;
    }
    return NULL;
}

double ms_test_sample_in(const char *text, const char *series)
{
    const char *rest = find_line(text, series, false);

    return rest ? strtod(rest + 1, NULL) : -1;
}

/* The rendered registry; fails the test if it cannot be rendered. free() it. */
static char *render(void)
{
    size_t len;
    char *text = ms_metrics_render(&len);

    ck_assert_ptr_nonnull(text);
    return text;
}

double ms_test_sample(const char *series)
{
    char *text = render();
    double value = ms_test_sample_in(text, series);

    free(text);
    return value;
}

bool ms_test_has_sample(const char *line)
{
    char *text = render();
    bool found = find_line(text, line, true) != NULL;

    free(text);
    return found;
}
