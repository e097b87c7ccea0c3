/* The user service's rules for a stored email and name, read plainly from docs/api (the
 * normal form of an email is defined there as Unicode NFC and case folding, which this reads
 * from libunistring, the library that defines them), to hold what its validators accept against
 * (fuzz_query.c and fuzz_user_body.c include this after services/user/model.c). */
#ifndef MS_FUZZ_USER_RULES_H
#define MS_FUZZ_USER_RULES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "fuzz.h"
#include "ms/email.h"

/* Valid UTF-8 without C0, DEL or C1 controls (UTF-8 writes C1 as C2 80 to C2 9F). */
static inline bool user_text_clean(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f ||
            (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f))
            return false;
    }
    return fuzz_utf8(s, len);
}

/* The normal form of text (len bytes): Unicode NFC and full case folding, as docs/api.md names
 * it, computed with libunistring; malloc'd, NULL when text is not UTF-8. */
static inline char *user_fold(const char *text, size_t len)
{
    size_t n = 0;
    uint8_t *folded;
    char *out;

    if (u8_check((const uint8_t *)text, len))
        return NULL;
    folded = u8_casefold((const uint8_t *)text, len, NULL, UNINORM_NFC, NULL, &n);
    FUZZ_CHECK(folded != NULL);
    out = malloc(n + 1);
    FUZZ_CHECK(out != NULL);
    memcpy(out, folded, n);
    out[n] = '\0';
    free(folded);
    return out;
}

/* A stored email: 3 to 254 bytes of clean text in normal form (folding it changes nothing), no
 * space, one '@' with 1 to 64 bytes before it, and after it a domain with a dot, none first,
 * last or doubled. */
static inline bool user_email_ok(const char *email)
{
    size_t len = strlen(email);
    const char *at = strchr(email, '@'), *domain = at ? at + 1 : "";
    char *again;
    bool normal;

    if (len < MS_EMAIL_MIN || len > MS_EMAIL_MAX || !user_text_clean(email, len) ||
        strchr(email, ' '))
        return false;
    again = user_fold(email, len);
    normal = again && strcmp(again, email) == 0;
    free(again);
    return normal && at && !strchr(domain, '@') && at > email && at - email <= MS_EMAIL_LOCAL_MAX &&
           strchr(domain, '.') && domain[0] != '.' && domain[strlen(domain) - 1] != '.' &&
           !strstr(domain, "..");
}

/* A stored name: 1 to 100 bytes of clean text without surrounding spaces. */
static inline bool user_name_ok(const char *name)
{
    size_t len = strlen(name);

    return len >= 1 && len <= USER_NAME_MAX && user_text_clean(name, len) && name[0] != ' ' &&
           name[len - 1] != ' ';
}

/* What sign-up and sign-in make of a raw email: spaces around it dropped, then its normal form
 * (user_fold); malloc'd, NULL when it is not UTF-8. */
static inline char *user_email_normal_form(const char *in)
{
    size_t len = strlen(in);

    while (len > 0 && *in == ' ') {
        in++;
        len--;
    }
    while (len > 0 && in[len - 1] == ' ')
        len--;
    return user_fold(in, len);
}

/* An email the service accepted: it has the stored form, and normalising it again changes
 * nothing (a stored email finds itself). */
static inline void check_user_email(const char *email)
{
    char again[USER_EMAIL_MAX + 1];
    struct ms_verr e;

    FUZZ_CHECK(user_email_ok(email));
    FUZZ_CHECK(ms_email_normalise(email, again, &e) == 0 && strcmp(email, again) == 0);
}

#endif
