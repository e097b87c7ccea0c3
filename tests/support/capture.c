/* stdout/stderr capture for unit tests (see capture.h). */
#include "capture.h"

#include <check.h>
#include <unistd.h>

/* The stdio stream that writes to fd, so buffered output lands before a switch or a read. */
static void flush_stream(int fd)
{
    if (fd == STDOUT_FILENO)
        fflush(stdout);
    else if (fd == STDERR_FILENO)
        fflush(stderr);
}

void ms_test_capture_start(struct ms_test_capture *c, int fd)
{
    c->fd = fd;
    c->saved = -1;
    c->text[0] = '\0';
    c->file = tmpfile();
    ck_assert_ptr_nonnull(c->file);
    flush_stream(fd);
    c->saved = dup(fd);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_ge(dup2(fileno(c->file), fd), 0);
}

const char *ms_test_capture_text(struct ms_test_capture *c)
{
    size_t len = 0;
    ssize_t n;

    ck_assert_ptr_nonnull(c->file);
    flush_stream(c->fd);
    /* pread leaves the offset fd shares with the file alone: later writes still append. */
    while (len < sizeof(c->text) - 1 &&
           (n = pread(fileno(c->file), c->text + len, sizeof(c->text) - 1 - len, (off_t)len)) > 0)
        len += (size_t)n;
    c->text[len] = '\0';
    return c->text;
}

void ms_test_capture_stop(struct ms_test_capture *c)
{
    if (c->saved >= 0) {
        flush_stream(c->fd);
        dup2(c->saved, c->fd);
        close(c->saved);
        c->saved = -1;
    }
    if (c->file)
        fclose(c->file);
    c->file = NULL;
}
