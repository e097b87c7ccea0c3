/* The storefront's files, compiled into the binary (embed_assets.cmake), and the rules for
 * serving them: content types, entity tags, and which version of an asset a request names. */
#ifndef FRONTEND_ASSETS_H
#define FRONTEND_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct frontend_asset {
    const char *path;          /* the URL path it is served at: "/assets/app.js" */
    const unsigned char *data; /* the file's bytes (not NUL-terminated) */
    size_t len;
    const char *etag;    /* a strong entity tag, quotes included: "\"3f2a...\"" */
    const char *version; /* the tag without quotes: what "?v=" names in the page */
};

/* Generated at build time from services/frontend/static/. */
extern const struct frontend_asset frontend_assets[];
extern const size_t frontend_assets_len;

/* The file at exactly path ("/index.html"), or NULL. Nothing else is ever read: there is no
 * file system behind this, so no path can reach outside the table. */
const struct frontend_asset *frontend_asset_find(const char *path);

/* The Content-Type for path by its extension (a static string); application/octet-stream for
 * an extension the storefront does not use. */
const char *frontend_content_type(const char *path);

/* Whether an If-None-Match header value (NULL when absent) matches etag: "*", or a
 * comma-separated list of entity tags one of which equals etag by the weak comparison of
 * RFC 9110 section 8.8.3.2 (a W/ prefix is ignored), as If-None-Match requires. A malformed
 * list matches nothing, so the full answer is sent. */
bool frontend_etag_matches(const char *if_none_match, const char *etag);

#endif
