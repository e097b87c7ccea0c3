/* Email validation and normal form, on libunistring's Unicode normalisation and case folding. */
#include "ms/email.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "ms/err.h"

/* Input longer than this cannot be valid however it folds, and is not worth folding. */
enum { RAW_MAX = 4 * MS_EMAIL_MAX };

/* No control character: C0, DEL, or C1 (which UTF-8 writes as C2 80..C2 9F); s is valid UTF-8,
 * so a C2 is never its last byte. */
static bool no_controls(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && s[i + 1] < 0xa0))
            return false;
    return true;
}

/* Dot-separated names: at least one dot, none first, last or doubled. */
static bool domain_ok(const char *d)
{
    size_t len = strlen(d);

    return len > 0 && strchr(d, '.') && d[0] != '.' && d[len - 1] != '.' && !strstr(d, "..");
}

/* The shape of a normal form: no space, one '@', the local part and domain in bounds. */
static int shape_ok(const char *s, struct ms_verr *e)
{
    const char *at = strchr(s, '@');

    if (strchr(s, ' '))
        return ms_verr_set(e, MS_EINVAL, "email must not contain spaces");
    if (!at || strchr(at + 1, '@'))
        return ms_verr_set(e, MS_EINVAL, "email must contain exactly one '@'");
    if (at == s || at - s > MS_EMAIL_LOCAL_MAX)
        return ms_verr_set(e, MS_EINVAL, "email must have 1 to %d bytes before the '@'",
                           MS_EMAIL_LOCAL_MAX);
    if (!domain_ok(at + 1))
        return ms_verr_set(e, MS_EINVAL,
                           "email must have a domain with a dot after the '@', e.g. example.com");
    return 0;
}

/* NFC and full case folding of s (len bytes of clean UTF-8) into out, if it fits. */
static int fold(const uint8_t *s, size_t len, char *out, struct ms_verr *e)
{
    size_t n = 0;
    uint8_t *folded = u8_casefold(s, len, NULL, UNINORM_NFC, NULL, &n);

    if (!folded)
        return ms_verr_set(e, MS_ENOMEM, "email cannot be normalised: out of memory");
    if (n < MS_EMAIL_MIN || n > MS_EMAIL_MAX) {
        free(folded);
        return ms_verr_set(e, MS_EINVAL,
                           "email must be %d to %d bytes long, without surrounding spaces",
                           MS_EMAIL_MIN, MS_EMAIL_MAX);
    }
    memcpy(out, folded, n);
    out[n] = '\0';
    free(folded);
    return 0;
}

int ms_email_normalise(const char *in, char *out, struct ms_verr *e)
{
    const uint8_t *s = (const uint8_t *)in;
    size_t len = strlen(in);
    int rc;

    while (len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len < MS_EMAIL_MIN || len > RAW_MAX)
        return ms_verr_set(e, MS_EINVAL,
                           "email must be %d to %d bytes long, without surrounding spaces",
                           MS_EMAIL_MIN, MS_EMAIL_MAX);
    if (u8_check(s, len) || !no_controls(s, len))
        return ms_verr_set(e, MS_EINVAL, "email must be UTF-8 text without control characters");
    rc = fold(s, len, out, e);
    return rc ? rc : shape_ok(out, e);
}

bool ms_email_valid(const char *s)
{
    char normal[MS_EMAIL_MAX + 1];
    struct ms_verr e;

    return ms_email_normalise(s, normal, &e) == 0;
}
