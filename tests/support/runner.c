/* The shared Check main (see runner.h). */
#include "runner.h"

#include <curl/curl.h>
#include <stdlib.h>

#include "http.h"
#include "registry.h"

int ms_test_main(Suite *suite, bool fork)
{
    SRunner *sr;
    int failed;

    /* Before any thread starts, as libcurl requires. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return EXIT_FAILURE;
    /* Before Check forks, so that every test's process shares it. */
    if (ms_test_registry_init() != 0) {
        curl_global_cleanup();
        return EXIT_FAILURE;
    }
    sr = srunner_create(suite);
    if (!fork)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    ms_test_services_stop_all(); /* whatever failed tests left running */
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
