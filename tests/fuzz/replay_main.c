/* A main for fuzz targets built without libFuzzer: runs LLVMFuzzerTestOneInput once over every
 * file in the corpus directories (or the files) named on the command line, in name order, so
 * the corpus is a regression test under the normal and the sanitizer builds. A failed
 * invariant aborts; replaying nothing at all is a failure too (a missing or empty corpus). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads the whole file at path into *data (malloc'd). 0, or -1 with the reason printed. */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, len = 0, n;
    uint8_t *buf = malloc(cap), *grown;

    if (!f || !buf) {
        perror(path);
        free(buf);
        if (f)
            fclose(f);
        return -1;
    }
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len < cap)
            continue;
        grown = realloc(buf, cap * 2);
        if (!grown) {
            perror(path);
            free(buf);
            fclose(f);
            return -1;
        }
        buf = grown;
        cap *= 2;
    }
    fclose(f);
    *data = buf;
    *size = len;
    return 0;
}

static int replay_file(const char *path)
{
    uint8_t *data;
    size_t size;

    if (read_file(path, &data, &size))
        return -1;
    /* stderr first, so a crash report follows the name of the input that caused it */
    fprintf(stderr, "replay %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int only_files(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays every regular file in dir; the count, or -1. */
static long replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, only_files, alphasort);
    long done = 0;
    char path[4096];
    struct stat st;

    if (n < 0) {
        perror(dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (done >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            done = replay_file(path) == 0 ? done + 1 : -1;
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    long total = 0, n;
    struct stat st;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : (replay_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%s: %ld inputs replayed, every invariant held\n", argv[0], total);
    return total > 0 ? 0 : 1;
}
