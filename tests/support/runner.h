/* The main() every Check suite shares. */
#ifndef MS_TEST_RUNNER_H
#define MS_TEST_RUNNER_H

#include <check.h>
#include <stdbool.h>

/* Runs suite with CK_NORMAL output between curl_global_init and curl_global_cleanup (harmless for
 * suites that never use libcurl). fork false runs every test in this process (CK_NOFORK), for
 * suites whose tests need threads the process started. Services the tests started and did not
 * stop are stopped after the run (see ms_test_services_stop_all in http.h). Returns EXIT_SUCCESS
 * when every test passed, EXIT_FAILURE otherwise. */
int ms_test_main(Suite *suite, bool fork);

#endif
