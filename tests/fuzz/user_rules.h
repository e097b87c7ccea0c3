/* The user service's rules for a stored email and name, read plainly from its README, to hold
 * what its validators accept against (fuzz_query.c and fuzz_user_body.c include this after
 * services/user/model.c). */
#ifndef MS_FUZZ_USER_RULES_H
#define MS_FUZZ_USER_RULES_H

#include "fuzz.h"

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

/* A stored email: 3 to 254 bytes of clean text, no upper-case ASCII and no space, one '@' with
 * 1 to 64 bytes before it, and after it a domain with a dot, none first, last or doubled. */
static inline bool user_email_ok(const char *email)
{
    size_t len = strlen(email);
    const char *at = strchr(email, '@'), *domain = at ? at + 1 : "";

    if (len < USER_EMAIL_MIN || len > USER_EMAIL_MAX || !user_text_clean(email, len) ||
        strchr(email, ' '))
        return false;
    for (const char *p = email; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return false;
    return at && !strchr(domain, '@') && at > email && at - email <= USER_EMAIL_LOCAL_MAX &&
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

/* What sign-up and sign-in make of a raw email: spaces around it dropped, ASCII letters
 * lower-cased. out holds len + 1 bytes. */
static inline void user_email_normal_form(const char *in, char *out)
{
    size_t len = strlen(in);

    while (len > 0 && *in == ' ') {
        in++;
        len--;
    }
    while (len > 0 && in[len - 1] == ' ')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
    out[len] = '\0';
}

/* An email the service accepted: it has the stored form, and normalising it again changes
 * nothing (a stored email finds itself). */
static inline void check_user_email(const char *email)
{
    char again[USER_EMAIL_MAX + 1];
    struct ms_verr e;

    FUZZ_CHECK(user_email_ok(email));
    FUZZ_CHECK(email_normalise(email, again, &e) == 0 && strcmp(email, again) == 0);
}

#endif
