/* The user service: sign-up and look-up of the shop's users, in PostgreSQL. Wiring only. */
#include <stdlib.h>

#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/log.h"
#include "ms/server.h"
#include "service.gen.h"
#include "user.h"

static int load_settings(struct ms_server_config *server, struct ms_pg_config *pg)
{
    if (ms_log_init_from_env(SERVICE_NAME) ||
        ms_server_config_load(server, SERVICE_NAME, SERVICE_PORT) ||
        ms_pg_config_from_env(pg, "user", DEFAULT_DATABASE_URL))
        return -1;
    return 0;
}

static int wire(struct ms_server *srv, struct user_svc *svc)
{
    if (ms_server_add_routes(srv, user_routes, user_routes_len))
        return -1;
    return ms_migrator_serve(&svc->migrator, srv, svc->pg, "user");
}

int main(void)
{
    struct ms_server_config server;
    struct ms_pg_config pg;
    struct user_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&server, &pg))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    srv = ms_server_new(&server, &svc); /* first: it sets the signal mask threads inherit */
    svc.pg = ms_pg_pool_new(&pg);
    if (!srv || !svc.pg)
        goto out;
    user_svc_init(&svc);
    if (wire(srv, &svc) || ms_server_start(srv))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    ms_migrator_stop(&svc.migrator);
    ms_server_free(srv);
    ms_pg_pool_free(svc.pg);
    return status;
}
