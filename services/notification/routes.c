/* The notification service's route table and its handler. */
#include "model.h"
#include "ms/err.h"
#include "notification.h"

/* GET /notifications?order_id= or ?user_id=: the newest 100 at most. */
static void list_notifications(struct ms_req *req, struct ms_res *res)
{
    struct notify_query q;
    json_t *page = NULL;
    int rc;

    if (notify_query_or_400(req, res, &q))
        return;
    rc = notification_store_list(req->svc, &q, &page);
    if (rc) {
        ms_res_error(res, rc, "cannot list notifications: %s", ms_strerror(rc));
        return;
    }
    ms_res_json_new(res, 200, page);
}

const struct ms_route notification_routes[] = {
    {"GET", "/notifications", list_notifications, 0, 0},
};
const size_t notification_routes_len = sizeof(notification_routes) / sizeof(notification_routes[0]);
