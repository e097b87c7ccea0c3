/* The process metrics (memory, CPU, start time, open files), read from /proc at each render. */
#include "metrics_internal.h"

#include "ms/clock.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Process metrics, named and described as the official Prometheus clients do, so the usual
 * dashboards work unchanged. */
enum process_metric { PROC_RSS, PROC_CPU, PROC_START, PROC_FDS, PROC_COUNT };

static const struct {
    const char *name;
    const char *help;
    enum family_type type;
} process_metrics[PROC_COUNT] = {
    [PROC_RSS] = {"process_resident_memory_bytes", "Resident memory size in bytes.", TYPE_GAUGE},
    [PROC_CPU] = {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                  TYPE_COUNTER},
    [PROC_START] = {"process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", TYPE_GAUGE},
    [PROC_FDS] = {"process_open_fds", "Number of open file descriptors.", TYPE_GAUGE},
};

/* Looked up by name at each use rather than cached, so ms_metrics_reset leaves nothing stale. */
static struct ms_series *process_series(enum process_metric m)
{
    const char *name = process_metrics[m].name, *help = process_metrics[m].help;

    return ms_series_only(process_metrics[m].type == TYPE_COUNTER
                              ? ms_counter_family(name, help, NULL)
                              : ms_gauge_family(name, help, NULL));
}

/* Reads a small /proc file whole into buf, NUL-terminated. Returns its length, or -1. */
static ssize_t read_small_file(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n = 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    while (len < cap - 1 && n > 0) {
        n = read(fd, buf + len, cap - 1 - len);
        if (n > 0)
            len += (size_t)n;
    }
    close(fd);
    if (n < 0)
        return -1;
    buf[len] = '\0';
    return (ssize_t)len;
}

static int read_rss_bytes(double *bytes)
{
    char buf[256];
    unsigned long long size;
    unsigned long long resident;
    long page = sysconf(_SC_PAGESIZE);

    /* statm: total program size, then resident set size, in pages. */
    if (page <= 0 || read_small_file("/proc/self/statm", buf, sizeof(buf)) < 0 ||
        sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return -1;
    *bytes = (double)resident * (double)page;
    return 0;
}

/* Fields of /proc/self/stat counted from the state field after the command name, which is
 * field 3 in proc(5): utime is field 14 there. */
enum { STAT_UTIME = 11, STAT_STIME = 12, STAT_STARTTIME = 19, STAT_FIELDS = 20 };

struct self_stat {
    unsigned long long utime; /* clock ticks */
    unsigned long long stime;
    unsigned long long starttime; /* clock ticks after boot */
};

static int read_self_stat(struct self_stat *st)
{
    char buf[1024];
    char *field[STAT_FIELDS];
    char *save = NULL;
    char *p;
    size_t n = 0;

    if (read_small_file("/proc/self/stat", buf, sizeof(buf)) < 0)
        return -1;
    /* The command name is in parentheses and may itself hold spaces and ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return -1;
    for (p = strtok_r(p + 1, " \n", &save); p && n < STAT_FIELDS; p = strtok_r(NULL, " \n", &save))
        field[n++] = p;
    if (n < STAT_FIELDS)
        return -1;
    st->utime = strtoull(field[STAT_UTIME], NULL, 10);
    st->stime = strtoull(field[STAT_STIME], NULL, 10);
    st->starttime = strtoull(field[STAT_STARTTIME], NULL, 10);
    return 0;
}

/* The boot time in seconds since the epoch, from the "btime" line of /proc/stat. */
static int read_boot_time(unsigned long long *btime)
{
    FILE *fp = fopen("/proc/stat", "re");
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;

    if (!fp)
        return -1;
    /* getline, not a fixed buffer: the "intr" line runs to kilobytes on big machines. */
    while (rc < 0 && getline(&line, &cap, fp) > 0)
        if (sscanf(line, "btime %llu", btime) == 1)
            rc = 0;
    free(line);
    fclose(fp);
    return rc;
}

/* Entries of /proc/self/fd, not counting the descriptor that reads it. */
static long count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;
    long n = 0;
    int own;

    if (!dir)
        return -1;
    own = dirfd(dir);
    while ((de = readdir(dir)) != NULL)
        if (de->d_name[0] != '.' && atoi(de->d_name) != own)
            n++;
    closedir(dir);
    return n;
}

static void collect_process(void *ctx)
{
    struct self_stat st;
    long ticks = sysconf(_SC_CLK_TCK);
    double rss;
    long fds;

    (void)ctx;
    if (read_rss_bytes(&rss) == 0)
        ms_gauge_set(process_series(PROC_RSS), rss);
    if (ticks > 0 && read_self_stat(&st) == 0)
        ms_metrics_counter_set(process_series(PROC_CPU),
                               (double)(st.utime + st.stime) / (double)ticks);
    fds = count_open_fds();
    if (fds >= 0)
        ms_gauge_set(process_series(PROC_FDS), (double)fds);
}

static double process_start_seconds(void)
{
    struct self_stat st;
    unsigned long long btime;
    long ticks = sysconf(_SC_CLK_TCK);

    if (ticks > 0 && read_self_stat(&st) == 0 && read_boot_time(&btime) == 0)
        return (double)btime + (double)st.starttime / (double)ticks;
    /* Without /proc, registration time is close: services register early in main. */
    return ms_wall_seconds();
}

void ms_process_metrics_register(void)
{
    struct ms_series *start;

    for (int m = 0; m < PROC_COUNT; m++)
        process_series((enum process_metric)m);
    /* Set once: a second registration must not move the start time. */
    start = process_series(PROC_START);
    if (start && ms_series_value(start) == 0)
        ms_gauge_set(start, process_start_seconds());
    ms_metrics_on_collect(collect_process, NULL);
}
