/* Fault settings packed into one atomic word, their JSON form, and the per-request dice. */
#include "ms/faults.h"

#include <stdio.h>

#include "ms/config.h"
#include "ms/err.h"
#include "ms/rand.h"

/* Bit layout of the packed word: delay_ms 20 bits, delay_percent 7, abort_status 10,
 * abort_percent 7. Each field's range fits its width (600000 < 2^20, 599 < 2^10). */
enum { DELAY_MAX = 600000, STATUS_MIN = 400, STATUS_MAX = 599 };

static uint64_t pack(const struct ms_faults_spec *s)
{
    return (uint64_t)s->delay_ms | (uint64_t)s->delay_percent << 20 |
           (uint64_t)s->abort_status << 27 | (uint64_t)s->abort_percent << 37;
}

static struct ms_faults_spec unpack(uint64_t w)
{
    return (struct ms_faults_spec){
        .delay_ms = (int)(w & 0xfffff),
        .delay_percent = (int)(w >> 20 & 0x7f),
        .abort_status = (int)(w >> 27 & 0x3ff),
        .abort_percent = (int)(w >> 37 & 0x7f),
    };
}

void ms_faults_set(struct ms_faults *f, const struct ms_faults_spec *spec)
{
    atomic_store(&f->packed, pack(spec));
}

struct ms_faults_spec ms_faults_get(const struct ms_faults *f)
{
    return unpack(atomic_load(&((struct ms_faults *)f)->packed));
}

static int status_valid(int status)
{
    return status == 0 || (status >= STATUS_MIN && status <= STATUS_MAX);
}

int ms_faults_from_env(struct ms_faults *f)
{
    struct ms_faults_spec s;

    if (ms_config_i("FAULT_DELAY_MS", 0, 0, DELAY_MAX, &s.delay_ms) ||
        ms_config_i("FAULT_DELAY_PERCENT", 0, 0, 100, &s.delay_percent) ||
        ms_config_i("FAULT_ABORT_STATUS", 0, 0, STATUS_MAX, &s.abort_status) ||
        ms_config_i("FAULT_ABORT_PERCENT", 0, 0, 100, &s.abort_percent))
        return MS_EINVAL;
    if (!status_valid(s.abort_status)) {
        fprintf(stderr, "FAULT_ABORT_STATUS: invalid value \"%d\": expected 0 or 400 to 599\n",
                s.abort_status);
        return MS_EINVAL;
    }
    ms_faults_set(f, &s);
    return 0;
}

int ms_faults_set_json(struct ms_faults *f, const json_t *obj, struct ms_verr *e)
{
    struct ms_faults_spec cur = ms_faults_get(f);
    long long delay, dpct, status, apct;

    if (ms_json_object_with_keys(obj, "delay_ms,delay_percent,abort_status,abort_percent", e) ||
        ms_json_int_opt(obj, "delay_ms", 0, DELAY_MAX, cur.delay_ms, &delay, e) ||
        ms_json_int_opt(obj, "delay_percent", 0, 100, cur.delay_percent, &dpct, e) ||
        ms_json_int_opt(obj, "abort_status", 0, STATUS_MAX, cur.abort_status, &status, e) ||
        ms_json_int_opt(obj, "abort_percent", 0, 100, cur.abort_percent, &apct, e))
        return MS_EINVAL;
    if (!status_valid((int)status)) {
        snprintf(e->msg, sizeof(e->msg), "abort_status must be 0 or from 400 to 599");
        return MS_EINVAL;
    }
    cur = (struct ms_faults_spec){(int)delay, (int)dpct, (int)status, (int)apct};
    ms_faults_set(f, &cur);
    return 0;
}

json_t *ms_faults_to_json(const struct ms_faults *f)
{
    struct ms_faults_spec s = ms_faults_get(f);

    return json_pack("{s:i,s:i,s:i,s:i}", "delay_ms", s.delay_ms, "delay_percent", s.delay_percent,
                     "abort_status", s.abort_status, "abort_percent", s.abort_percent);
}

static int hit(int percent)
{
    return percent >= 100 || (percent > 0 && (int)ms_rand_below(100) < percent);
}

void ms_faults_roll(const struct ms_faults *f, int *delay_ms, int *abort_status)
{
    struct ms_faults_spec s = ms_faults_get(f);

    *delay_ms = (s.delay_ms > 0 && hit(s.delay_percent)) ? s.delay_ms : 0;
    *abort_status = (s.abort_status > 0 && hit(s.abort_percent)) ? s.abort_status : 0;
}
