/* Email addresses: the one rule for what a valid one is and its normal form, so that the user
 * service (which stores them) and the notification service (which mails them) agree. */
#ifndef MS_EMAIL_H
#define MS_EMAIL_H

#include <stdbool.h>

#include "ms/json.h"

/* Limits in bytes of the normal form; services/user/sql checks the same. */
enum {
    MS_EMAIL_MIN = 3,
    MS_EMAIL_MAX = 254,
    MS_EMAIL_LOCAL_MAX = 64,
};

/* Validates in and writes its normal form to out (MS_EMAIL_MAX + 1 bytes). Valid: UTF-8 without
 * control characters or spaces (those around it are trimmed), exactly one '@' with 1 to
 * MS_EMAIL_LOCAL_MAX bytes before it and a dotted domain after it, MS_EMAIL_MIN to MS_EMAIL_MAX
 * bytes once normal. The normal form is Unicode NFC, case-folded: "JÜRGEN@Example.com",
 * "jürgen@example.com" and the same with a decomposed "ü" are one address. Case folding is done
 * here, not by PostgreSQL, whose lower() under --locale=C folds ASCII only. 0, or MS_EINVAL with
 * the reason in e (or MS_ENOMEM). */
int ms_email_normalise(const char *in, char *out, struct ms_verr *e);

/* Whether s is a valid email (see ms_email_normalise). */
bool ms_email_valid(const char *s);

#endif
