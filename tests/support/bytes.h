/* A growing byte buffer for test helpers, always NUL-terminated so it can be read as text. */
#ifndef MS_TEST_BYTES_H
#define MS_TEST_BYTES_H

#include <stddef.h>

struct ms_test_bytes {
    char *data; /* NULL until the first add; then data[len] == '\0' */
    size_t len, cap;
};

/* Appends the n bytes at s. 0, or -1 when memory runs out (b is left as it was). */
int ms_test_bytes_add(struct ms_test_bytes *b, const void *s, size_t n);

/* Appends the string s. 0 or -1. */
int ms_test_bytes_str(struct ms_test_bytes *b, const char *s);

/* Frees the buffer and empties b. */
void ms_test_bytes_free(struct ms_test_bytes *b);

#endif
