/* Fault injection for demos without a mesh: a delay (ms, percentage) and an abort (HTTP status,
 * percentage), set by environment at start and changeable at run time. */
#ifndef MS_FAULTS_H
#define MS_FAULTS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ms/json.h"

struct ms_faults_spec {
    int delay_ms;      /* 0..600000 */
    int delay_percent; /* 0..100 */
    int abort_status;  /* 0 (none) or 400..599 */
    int abort_percent; /* 0..100 */
};

/* The settings live in one atomic word, so a request always sees a consistent set while an
 * admin call changes them, without a lock on the request path. */
struct ms_faults {
    _Atomic uint64_t packed;
};

/* Reads FAULT_DELAY_MS, FAULT_DELAY_PERCENT, FAULT_ABORT_STATUS, FAULT_ABORT_PERCENT.
 * 0 or MS_EINVAL (reported on stderr, naming the variable). */
int ms_faults_from_env(struct ms_faults *f);

void ms_faults_set(struct ms_faults *f, const struct ms_faults_spec *spec);
struct ms_faults_spec ms_faults_get(const struct ms_faults *f);

/* Validates a JSON object with the fields of ms_faults_spec (absent fields keep their current
 * values) and applies it whole, or nothing with the reason in e. */
int ms_faults_set_json(struct ms_faults *f, const json_t *obj, struct ms_verr *e);

/* {"delay_ms":..,"delay_percent":..,"abort_status":..,"abort_percent":..}: a new reference. */
json_t *ms_faults_to_json(const struct ms_faults *f);

/* Rolls the dice for one request: *delay_ms gets the delay to apply (0 for none) and
 * *abort_status the status to answer instead of serving (0 for none). */
void ms_faults_roll(const struct ms_faults *f, int *delay_ms, int *abort_status);

#endif
