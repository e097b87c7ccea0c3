/* Captures what a test's code writes to stdout or stderr: the descriptor goes to a temporary file
 * until stopped, and the text written so far can be read back at any time. */
#ifndef MS_TEST_CAPTURE_H
#define MS_TEST_CAPTURE_H

#include <stdio.h>

struct ms_test_capture {
    int fd;           /* the descriptor captured (STDOUT_FILENO or STDERR_FILENO) */
    int saved;        /* a duplicate of the original fd; -1 once restored */
    FILE *file;       /* the temporary file fd points at; NULL once closed */
    char text[16384]; /* what ms_test_capture_text returns; longer output is cut short */
};

/* Flushes the stdio stream for fd and points fd at a fresh temporary file. Fails the test (Check
 * assertions) if that cannot be done. */
void ms_test_capture_start(struct ms_test_capture *c, int fd);

/* Everything written to the captured fd since start, NUL-terminated (c->text). */
const char *ms_test_capture_text(struct ms_test_capture *c);

/* Points fd back where it was and closes the temporary file. Safe to call twice, and on a capture
 * zeroed but never started. */
void ms_test_capture_stop(struct ms_test_capture *c);

#endif
