/* Configuration from environment variables with defaults. An invalid value is reported in one
 * line naming the variable, and main exits with status 2. */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Exit status for a configuration error. */
#define MS_CONFIG_EXIT 2

/* Each reader takes the variable name, its default and, for numbers, the inclusive range.
 * Unset or empty means the default. On an invalid value it prints
 * "<name>: invalid value "<value>": expected ..." on stderr and returns MS_EINVAL;
 * *out is written only on success. */
int ms_config_int(const char *name, long def, long min, long max, long *out);
int ms_config_bool(const char *name, bool def, bool *out);

/* A string; *out borrows from the environment (or def), valid while the environment is not
 * changed. max_len bounds it (a value longer is invalid). */
int ms_config_str(const char *name, const char *def, size_t max_len, const char **out);

/* An int-sized convenience over ms_config_int. */
int ms_config_i(const char *name, int def, int min, int max, int *out);

#endif
