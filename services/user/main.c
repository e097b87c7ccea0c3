/* The user service: sign-up and look-up of the shop's users, in PostgreSQL. Wiring only. */
#include "ms/app.h"
#include "service.gen.h"
#include "user.h"

static int init(void *svc, const struct ms_app_config *cfg)
{
    (void)cfg;
    user_svc_init(svc);
    return 0;
}

int main(void)
{
    static struct user_svc svc;
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = user_routes,
        .nroutes = user_routes_len,
        .database = MS_APP_DATABASE(DEFAULT_DATABASE_URL, svc),
        .init = init,
    };

    return ms_app_run(&app);
}
