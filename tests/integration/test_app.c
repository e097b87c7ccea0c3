/* Integration: ms_app_run, the runner behind every service's main(), in this process against a
 * real PostgreSQL: the order of its steps, migrations handed in rather than linked, the drain
 * on SIGTERM, and the exit status of each way a start-up can end. */
#include "deps.h"
#include "http.h"
#include "proc.h"
#include "runner.h"
#include "snapshot.h"

#include "ms/app.h"
#include "ms/config.h"
#include "ms/err.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct ms_test_pg server;

/* The service under test: its state records which of its steps ran, in order. */
struct demo {
    struct ms_pg_pool *pg;
    struct ms_migrator migrator;
    char steps[64];
    int start_rc; /* what its start step answers */
};

static void step(struct demo *d, char c)
{
    size_t n = strlen(d->steps);

    ck_assert_uint_lt(n + 1, sizeof(d->steps));
    d->steps[n] = c;
}

static int configure(void *svc)
{
    int value;

    step(svc, 'c');
    return ms_config_i("DEMO_VALUE", 1, 1, 10, &value);
}

static int init(void *svc, const struct ms_app_config *cfg)
{
    ck_assert_str_eq(cfg->server.service, "demo");
    step(svc, 'i');
    return 0;
}

static int start(void *svc)
{
    struct demo *d = svc;

    step(d, 's');
    return d->start_rc;
}

static void stop(void *svc)
{
    step(svc, 't');
}

static void close_demo(void *svc)
{
    step(svc, 'x');
}

static void hello(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    ms_res_json_new(res, 200, json_pack("{s:s}", "hello", "world"));
}

static const struct ms_route routes[] = {{"GET", "/hello", hello, 0, 0}};

static const struct ms_migration migrations[] = {
    {1, "001_greetings", "CREATE TABLE greetings (id int PRIMARY KEY, text text NOT NULL)"},
    {2, "002_seed", "INSERT INTO greetings VALUES (1, 'hello')"},
};

static struct demo demo;
static int port;

static struct ms_app demo_app(const char *db)
{
    char url[256], port_text[16];
    char *base = ms_test_pg_url(&server, db);

    ck_assert_ptr_nonnull(base);
    snprintf(url, sizeof(url), "%s", base);
    free(base);
    port = ms_test_free_port();
    snprintf(port_text, sizeof(port_text), "%d", port);
    setenv("PORT", port_text, 1);
    setenv("BIND_ADDRESS", "127.0.0.1", 1);
    setenv("DATABASE_URL", url, 1);
    return (struct ms_app){
        .name = "demo",
        .default_port = 1,
        .svc = &demo,
        .routes = routes,
        .nroutes = 1,
        .database = {.default_url = "postgresql://unused@127.0.0.1:1/unused",
                     .pool = &demo.pg,
                     .migrator = &demo.migrator,
                     .migrations = migrations,
                     .nmigrations = 2},
        .configure = configure,
        .init = init,
        .start = start,
        .stop = stop,
        .close = close_demo,
    };
}

static void pg_up(void)
{
    ck_assert_int_eq(ms_test_pg_start(&server), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&server, "demo"), 0);
}

static void pg_down(void)
{
    ms_test_pg_stop(&server);
}

/* A client of the running service: it waits for readiness, checks what the migrations made
 * visible, and sends the signal. Results land here for the test's thread to assert. */
struct probe {
    long ready_after_ms; /* negative: never ready */
    long hello_status;
    char *greeting; /* the seeded row, read through PostgreSQL */
};

static void *probe_then_term(void *arg)
{
    struct probe *p = arg;
    struct ms_test_response r = {0};

    p->ready_after_ms = ms_test_wait_status(port, "/ready", 200, 15000);
    if (ms_test_get(port, "/hello", &r) == 0)
        p->hello_status = r.status;
    ms_test_response_free(&r);
    p->greeting = ms_test_sql_value(&server, "demo", "SELECT text FROM greetings WHERE id = 1");
    kill(getpid(), SIGTERM);
    return NULL;
}

START_TEST(test_app_migrates_serves_and_drains_in_order)
{
    struct ms_app app = demo_app("demo");
    struct probe p = {.ready_after_ms = -1};
    pthread_t probe;

    /* the probe thread must not take the SIGTERM meant for the runner's sigwait */
    ms_server_block_signals();
    ck_assert_int_eq(pthread_create(&probe, NULL, probe_then_term, &p), 0);
    ck_assert_int_eq(ms_app_run(&app), EXIT_SUCCESS);
    pthread_join(probe, NULL);
    ck_assert_int_ge(p.ready_after_ms, 0);
    ck_assert_int_eq(p.hello_status, 200);
    ck_assert_ptr_nonnull(p.greeting);
    ck_assert_str_eq(p.greeting, "hello"); /* the table handed in was applied */
    free(p.greeting);
    /* configure, init, start; then stop before close */
    ck_assert_str_eq(demo.steps, "cistx");
}
END_TEST

START_TEST(test_app_invalid_variable_exits_config_before_anything_is_made)
{
    struct ms_app app = demo_app("demo");

    setenv("DEMO_VALUE", "11", 1);
    ck_assert_int_eq(ms_app_run(&app), MS_CONFIG_EXIT);
    ck_assert_str_eq(demo.steps, "c"); /* no init, and nothing to stop */
    ck_assert_ptr_null(demo.pg);
    ck_assert_int_lt(ms_test_wait_status(port, "/health", 200, 300), 0);
}
END_TEST

START_TEST(test_app_failed_start_tears_down_and_fails)
{
    struct ms_app app = demo_app("demo");

    demo.start_rc = MS_EUNAVAIL;
    ck_assert_int_eq(ms_app_run(&app), EXIT_FAILURE);
    ck_assert_str_eq(demo.steps, "cistx");
}
END_TEST

/* A listener on port that does not share it (no SO_REUSEPORT), so no server can join it. */
static int hold_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

START_TEST(test_app_port_in_use_fails_without_starting_tasks)
{
    struct ms_app app = demo_app("demo");
    int fd = hold_port();

    ck_assert_int_eq(ms_app_run(&app), EXIT_FAILURE);
    ck_assert_str_eq(demo.steps, "citx"); /* the background tasks never started */
    close(fd);
}
END_TEST

static Suite *app_suite(void)
{
    Suite *s = suite_create("app");
    TCase *tc = tcase_create("run");

    tcase_add_unchecked_fixture(tc, pg_up, pg_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_app_migrates_serves_and_drains_in_order);
    tcase_add_test(tc, test_app_invalid_variable_exits_config_before_anything_is_made);
    tcase_add_test(tc, test_app_failed_start_tears_down_and_fails);
    tcase_add_test(tc, test_app_port_in_use_fails_without_starting_tasks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(app_suite(), true);
}
