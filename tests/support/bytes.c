/* The growing byte buffer: capacity doubles, so appends are amortised O(1). */
#include "bytes.h"

#include <stdlib.h>
#include <string.h>

int ms_test_bytes_add(struct ms_test_bytes *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *grown;
        while (cap < b->len + n + 1)
            cap *= 2;
        grown = realloc(b->data, cap);
        if (!grown)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ms_test_bytes_str(struct ms_test_bytes *b, const char *s)
{
    return ms_test_bytes_add(b, s, strlen(s));
}

void ms_test_bytes_free(struct ms_test_bytes *b)
{
    free(b->data);
    *b = (struct ms_test_bytes){0};
}
