/* Real PostgreSQL and Redis servers for a test suite, through scripts/pg.sh and
 * scripts/redis.sh, on free ports in fresh temporary directories. */
#include "deps.h"

#include "proc.h"

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A port taken by someone else between picking and binding it: try again with another. */
#define START_ATTEMPTS 3

/* Runs scripts/<script> <verb> <dir> [<port> [<more>]] with env (NAME=VALUE ...) in front.
 * 0 or -1. */
static int run_script_more(const char *env, const char *script, const char *verb, const char *dir,
                           int port, const char *more)
{
    char cmd[2048], port_arg[16] = "";

    if (port > 0)
        snprintf(port_arg, sizeof(port_arg), " %d", port);
    /* Paths come from mkdtemp and the build tree: single quotes are enough. */
    if (snprintf(cmd, sizeof(cmd), "%s '%s/scripts/%s' %s '%s'%s %s", env, MS_SOURCE_DIR, script,
                 verb, dir, port_arg, more) >= (int)sizeof(cmd))
        return -1;
    return ms_test_run(cmd) == 0 ? 0 : -1;
}

static int run_script(const char *env, const char *script, const char *verb, const char *dir,
                      int port)
{
    return run_script_more(env, script, verb, dir, port, "");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads the PID on the first line of dir/file: the PID or -1. */
static pid_t read_pid(const char *dir, const char *file)
{
    char path[1024];
    long pid = -1;
    FILE *f;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -1;
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    fclose(f);
    return pid > 0 ? (pid_t)pid : -1;
}

/* Sends SIGKILL to pid and waits until it is gone, if it is still the process called comm (a
 * stale pidfile's number may have been reused by an unrelated process). */
static void kill_if_named(pid_t pid, const char *comm)
{
    char path[64], name[64] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fgets(name, sizeof(name), f) == NULL)
        name[0] = '\0';
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
    if (strcmp(name, comm) == 0)
        ms_test_stop(pid, SIGKILL, 5000);
}

/* Starts a server with script in a new directory, retrying on another port if needed; more: what
 * the script's start takes after the port. */
static int start_in_tmpdir_more(const char *env, const char *script, const char *prefix,
                                const char *more, char **dir, int *port)
{
    *dir = ms_test_tmpdir(prefix);
    if (*dir == NULL)
        return -1;
    for (int i = 0; i < START_ATTEMPTS; i++) {
        *port = ms_test_free_port();
        if (*port > 0 && run_script_more(env, script, "start", *dir, *port, more) == 0)
            return 0;
    }
    remove_tree(*dir);
    free(*dir);
    *dir = NULL;
    return -1;
}

/* Stops the server in *dir with script, then kills it by the PID in dir/pidfile if it is still
 * the process called comm, removes the directory and sets *dir to NULL: whatever happened
 * before, nothing may outlive the suite. Nothing when *dir is NULL (never started). */
static void stop_in_tmpdir(const char *script, char **dir, const char *pidfile, const char *comm)
{
    pid_t pid;

    if (*dir == NULL)
        return;
    run_script("", script, "stop", *dir, 0);
    pid = read_pid(*dir, pidfile);
    if (pid > 0)
        kill_if_named(pid, comm);
    remove_tree(*dir);
    free(*dir);
    *dir = NULL;
}

static int start_in_tmpdir(const char *env, const char *script, const char *prefix, char **dir,
                           int *port)
{
    return start_in_tmpdir_more(env, script, prefix, "", dir, port);
}

int ms_test_pg_start(struct ms_test_pg *pg)
{
    return start_in_tmpdir("PG_FAST=1", "pg.sh", "ms-pg-", &pg->dir, &pg->port);
}

int ms_test_pg_restart(struct ms_test_pg *pg)
{
    return run_script("PG_FAST=1", "pg.sh", "start", pg->dir, pg->port);
}

int ms_test_pg_shutdown(struct ms_test_pg *pg)
{
    return run_script("", "pg.sh", "stop", pg->dir, 0);
}

void ms_test_pg_stop(struct ms_test_pg *pg)
{
    stop_in_tmpdir("pg.sh", &pg->dir, "data/postmaster.pid", "postgres");
}

int ms_test_pg_createdb(struct ms_test_pg *pg, const char *name)
{
    char cmd[2048];

    if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
        strlen(name))
        return -1;
    snprintf(cmd, sizeof(cmd), "'%s/scripts/pg.sh' createdb '%s' %d %s", MS_SOURCE_DIR, pg->dir,
             pg->port, name);
    return ms_test_run(cmd) == 0 ? 0 : -1;
}

/* postgresql://ms@127.0.0.1:PORT/db, malloc'd. */
static char *pg_url(int port, const char *db)
{
    char *url = NULL;

    if (asprintf(&url, "postgresql://ms@127.0.0.1:%d/%s", port, db) < 0)
        return NULL;
    return url;
}

char *ms_test_pg_url(struct ms_test_pg *pg, const char *db)
{
    return pg_url(pg->port, db);
}

char *ms_test_pooler_url(const struct ms_test_pooler *pooler, const char *db)
{
    return pg_url(pooler->port, db);
}

int ms_test_redis_start(struct ms_test_redis *redis)
{
    return start_in_tmpdir("REDIS_FAST=1", "redis.sh", "ms-redis-", &redis->dir, &redis->port);
}

int ms_test_redis_restart(struct ms_test_redis *redis)
{
    return run_script("REDIS_FAST=1", "redis.sh", "start", redis->dir, redis->port);
}

int ms_test_redis_crash(struct ms_test_redis *redis)
{
    pid_t pid = read_pid(redis->dir, "redis.pid");

    if (pid <= 0)
        return -1;
    kill_if_named(pid, "redis-server");
    return 0;
}

void ms_test_redis_stop(struct ms_test_redis *redis)
{
    stop_in_tmpdir("redis.sh", &redis->dir, "redis.pid", "redis-server");
}

int ms_test_pooler_start(struct ms_test_pooler *pooler, const struct ms_test_pg *pg)
{
    char pg_port[16];

    snprintf(pg_port, sizeof(pg_port), "%d", pg->port);
    return start_in_tmpdir_more("", "pooler.sh", "ms-pooler-", pg_port, &pooler->dir,
                                &pooler->port);
}

void ms_test_pooler_stop(struct ms_test_pooler *pooler)
{
    stop_in_tmpdir("pooler.sh", &pooler->dir, "pgbouncer.pid", "pgbouncer");
}

char *ms_test_redis_url(struct ms_test_redis *redis)
{
    char *url = NULL;

    if (asprintf(&url, "redis://127.0.0.1:%d/0", redis->port) < 0)
        return NULL;
    return url;
}

int ms_test_deps_start(struct ms_test_pg *pg, struct ms_test_redis *redis, const char *db,
                       char *db_env, char *redis_env, size_t cap)
{
    char *db_url, *redis_url;

    if (ms_test_pg_start(pg) || ms_test_pg_createdb(pg, db) || ms_test_redis_start(redis))
        return -1;
    db_url = ms_test_pg_url(pg, db);
    redis_url = ms_test_redis_url(redis);
    snprintf(db_env, cap, "DATABASE_URL=%s", db_url ? db_url : "");
    snprintf(redis_env, cap, "REDIS_URL=%s", redis_url ? redis_url : "");
    free(db_url);
    free(redis_url);
    return db_url && redis_url ? 0 : -1;
}
