/* The hostile-input suite: every case file under tests/hostile/cases/ is sent, as raw bytes over
 * a socket, to the real services of a whole stack on real PostgreSQL and Redis. Each case asserts
 * the answer it names, that the service still serves, and (unless the case says otherwise) that
 * nothing was written: every table of every database, every Redis key but the product cache, and
 * every service's fault settings are what they were before. HOSTILE_CASES=<text> runs only the
 * cases whose path contains text (for working on one). */
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case.h"
#include "runner.h"
#include "snapshot.h"
#include "stack.h"
#include "wire.h"

#define CASES_DIR MS_SOURCE_DIR "/tests/hostile/cases"

/* Short enough that the cases of requests that never finish end quickly; long enough for any
 * whole request. The product cache outlives the run, so no key expires between two digests. */
static const char *const stack_env[] = {"ADMIN_ENABLED=true", "CONNECTION_TIMEOUT_S=2",
                                        "CACHE_TTL_S=3600", "LOG_LEVEL=info", NULL};
static const char *const databases[] = {"product", "user", "inventory", "notification", "order"};

static struct ms_test_stack st;

/* One case sent to one service. */
struct run {
    struct hostile_case *c;
    const char *service;
};

static struct hostile_case *cases;
static size_t ncases;
static struct run *runs;
static size_t nruns;

/* ---- the stack ---- */

static void stack_up(void)
{
    ck_assert_int_eq(ms_test_stack_start(&st, stack_env), 0);
}

static void stack_down(void)
{
    ms_test_snapshot_close();
    ms_test_stack_stop(&st);
}

static enum ms_test_svc service_of(const char *name)
{
    for (int s = 0; s < MS_SVC_COUNT; s++)
        if (strcmp(ms_test_svc_name((enum ms_test_svc)s), name) == 0)
            return (enum ms_test_svc)s;
    ck_abort_msg("unknown service %s", name);
    return MS_SVC_COUNT;
}

/* ---- what the stack holds ---- */

/* Every database's digest, Redis's, and every service's fault settings, as one text. */
static char *snapshot(void)
{
    size_t len = 0;
    char *all = NULL;
    FILE *f = open_memstream(&all, &len);

    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < sizeof(databases) / sizeof(databases[0]); i++) {
        char *d = ms_test_pg_digest(&st.pg, databases[i]);
        ck_assert_msg(d != NULL, "cannot read database %s", databases[i]);
        fprintf(f, "[%s]\n%s", databases[i], d);
        free(d);
    }
    {
        char *d = ms_test_redis_digest(&st.redis, "product:");
        ck_assert_msg(d != NULL, "cannot read Redis");
        fprintf(f, "[redis]\n%s", d);
        free(d);
    }
    for (int s = 0; s < MS_SVC_COUNT; s++) {
        struct ms_test_response r;
        ms_test_get(ms_test_stack_port(&st, (enum ms_test_svc)s), "/admin/faults", &r);
        fprintf(f, "[faults %s] %ld %s\n", ms_test_svc_name((enum ms_test_svc)s), r.status, r.body);
        ms_test_response_free(&r);
    }
    fclose(f);
    return all;
}

/* ---- checking one answer ---- */

static void check_headers(const struct run *run, const struct ms_test_wire *w)
{
    for (size_t i = 0; i < run->c->nheaders; i++) {
        const struct hostile_header_check *h = &run->c->headers[i];
        char *v = ms_test_wire_header(w, h->name);
        bool same = v && strcmp(v, h->value) == 0;
        if (h->negate)
            ck_assert_msg(!same, "%s on %s: header %s must not be \"%s\"", run->c->name,
                          run->service, h->name, h->value);
        else
            ck_assert_msg(same, "%s on %s: header %s is \"%s\", want \"%s\"", run->c->name,
                          run->service, h->name, v ? v : "(none)", h->value);
        free(v);
    }
}

static void check_answer(const struct run *run, struct ms_test_wire *w)
{
    const struct hostile_case *c = run->c;

    if (c->status == HOSTILE_CLOSED) {
        ck_assert_msg(w->eof && w->status == 0,
                      "%s on %s: want the connection closed without an answer, got status %ld "
                      "(eof %d) after %.2f s",
                      c->name, run->service, w->status, w->eof, w->seconds);
        return;
    }
    ck_assert_msg(w->complete && w->status == c->status,
                  "%s on %s: status %ld (complete %d, eof %d, errno %d, %.2f s), want %ld; "
                  "head: %.300s; body: %.300s",
                  c->name, run->service, w->status, w->complete, w->eof, w->err, w->seconds,
                  c->status, w->head ? w->head : "", w->body ? w->body : "");
    for (size_t i = 0; i < c->nbody_has; i++)
        ck_assert_msg(strstr(w->body, c->body_has[i]) != NULL,
                      "%s on %s: body lacks \"%s\": %.400s", c->name, run->service, c->body_has[i],
                      w->body);
    check_headers(run, w);
    if (c->closes)
        ck_assert_msg(ms_test_wire_wait_eof(w, c->within_ms),
                      "%s on %s: the server kept the connection open after answering", c->name,
                      run->service);
}

static void check_after(const struct run *run)
{
    for (size_t i = 0; i < run->c->nafter; i++) {
        const struct hostile_sql_check *a = &run->c->after[i];
        char *v = ms_test_sql_value(&st.pg, a->db, a->sql);
        ck_assert_msg(v && strcmp(v, a->want) == 0, "%s: %s: %s gave \"%s\", want \"%s\"",
                      run->c->name, a->db, a->sql, v ? v : "(error)", a->want);
        free(v);
    }
}

START_TEST(test_case)
{
    const struct run *run = &runs[_i];
    enum ms_test_svc s = service_of(run->service);
    int port = ms_test_stack_port(&st, s);
    char *before = run->c->writes_any ? NULL : snapshot();
    struct ms_test_wire w;

    ms_test_wire_exchange(port, run->c->request, run->c->request_len, run->c->head_method,
                          run->c->within_ms, &w);
    if (run->c->status == HOSTILE_CLOSED && !w.eof)
        ms_test_wire_wait_eof(&w, run->c->within_ms);
    check_answer(run, &w);
    ms_test_wire_close(&w);
    ck_assert_msg(ms_test_wait_status(port, "/health", 200, 3000) >= 0,
                  "%s: %s no longer answers /health", run->c->name, run->service);
    if (before) {
        char *after = snapshot();
        ck_assert_msg(strcmp(before, after) == 0, "%s on %s wrote something: %s", run->c->name,
                      run->service, ms_test_digest_diff(before, after));
        free(after);
        free(before);
    }
    check_after(run);
}
END_TEST

/* Last: the hostile input left no service broken inside (under ASan a leak or a sanitizer
 * report makes the exit status non-zero). */
START_TEST(test_every_service_still_exits_cleanly)
{
    for (int s = MS_SVC_COUNT - 1; s >= 0; s--)
        ck_assert_msg(ms_test_stack_stop_one(&st, (enum ms_test_svc)s, SIGTERM) == 0,
                      "%s did not exit cleanly", ms_test_svc_name((enum ms_test_svc)s));
}
END_TEST

/* ---- finding the cases ---- */

static char **paths;
static size_t npaths, cap_paths;

static int collect(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    const char *rel = path + strlen(CASES_DIR) + 1;
    const char *filter = getenv("HOSTILE_CASES");
    size_t len = strlen(path);

    (void)sb;
    (void)ftw;
    if (flag != FTW_F || len < 5 || strcmp(path + len - 5, ".case") != 0)
        return 0;
    if (filter && !strstr(rel, filter))
        return 0;
    if (npaths == cap_paths) {
        char **grown = realloc(paths, (cap_paths ? cap_paths * 2 : 64) * sizeof(*paths));
        if (!grown)
            return -1;
        paths = grown;
        cap_paths = cap_paths ? cap_paths * 2 : 64;
    }
    paths[npaths++] = strdup(rel);
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every case; a case that does not parse fails the whole suite, named. */
static int load_cases(void)
{
    char err[512];
    int rc = 0;

    if (nftw(CASES_DIR, collect, 16, FTW_PHYS) != 0 || npaths == 0) {
        fprintf(stderr, "no case files under %s\n", CASES_DIR);
        return -1;
    }
    qsort(paths, npaths, sizeof(*paths), by_path);
    cases = calloc(npaths, sizeof(*cases));
    runs = calloc(npaths * HOSTILE_MAX_SERVICES, sizeof(*runs));
    if (!cases || !runs)
        return -1;
    for (size_t i = 0; i < npaths; i++, ncases++) {
        if (hostile_case_load(CASES_DIR, paths[i], &cases[i], err, sizeof(err))) {
            fprintf(stderr, "%s: %s\n", paths[i], err);
            rc = -1;
        }
        for (size_t k = 0; cases[i].services[k]; k++)
            runs[nruns++] = (struct run){&cases[i], cases[i].services[k]};
        free(paths[i]);
    }
    free(paths);
    return rc;
}

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("cases");

    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_case, 0, (int)nruns);
    tcase_add_test(tc, test_every_service_still_exits_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;

    if (load_cases() != 0)
        return EXIT_FAILURE;
    printf("%zu cases, %zu runs\n", ncases, nruns);
    /* unforked: the stack and the database connections live across the cases */
    rc = ms_test_main(hostile_suite(), false);
    for (size_t i = 0; i < ncases; i++)
        hostile_case_free(&cases[i]);
    free(cases);
    free(runs);
    return rc;
}
