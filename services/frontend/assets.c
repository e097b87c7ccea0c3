/* Looking files up in the embedded table, their content types, and If-None-Match. */
#include "assets.h"

#include <string.h>
#include <strings.h>

const struct frontend_asset *frontend_asset_find(const char *path)
{
    for (size_t i = 0; path && i < frontend_assets_len; i++)
        if (strcmp(frontend_assets[i].path, path) == 0)
            return &frontend_assets[i];
    return NULL;
}

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
    {".yaml", "application/yaml; charset=utf-8"},
};

const char *frontend_content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');

    for (size_t i = 0; dot && i < sizeof(content_types) / sizeof(content_types[0]); i++)
        if (strcasecmp(dot, content_types[i].ext) == 0)
            return content_types[i].type;
    return "application/octet-stream";
}

/* Skips optional whitespace (OWS) and commas between list members. */
static const char *skip_separators(const char *p)
{
    return p + strspn(p, " \t,");
}

/* Reads the entity tag at *p (an optional W/, then a quoted string) into tag/len, and moves *p
 * past it and the separators after it. 1 for a tag, -1 for anything else there. */
static int next_tag(const char **p, const char **tag, size_t *len)
{
    const char *s = *p, *end;

    if (strncmp(s, "W/", 2) == 0)
        s += 2;
    end = *s == '"' ? strchr(s + 1, '"') : NULL;
    if (!end || (end[1] && !strchr(" \t,", end[1])))
        return -1;
    *tag = s;
    *len = (size_t)(end + 1 - s);
    *p = skip_separators(end + 1);
    return 1;
}

bool frontend_etag_matches(const char *if_none_match, const char *etag)
{
    size_t etag_len = strlen(etag), len;
    const char *p, *tag;

    if (!if_none_match)
        return false;
    p = skip_separators(if_none_match);
    if (p[0] == '*' && *skip_separators(p + 1) == '\0')
        return true;
    while (*p && next_tag(&p, &tag, &len) == 1)
        if (len == etag_len && memcmp(tag, etag, len) == 0)
            return true;
    return false;
}
