/* Internal: telling a silent server from a slow statement. A statement whose answer never came
 * (the client's deadline, or the request's budget, ran out) says little alone: the statement may
 * be slow. But if no statement on any connection has been answered since it was sent, the
 * server has gone silent (a blackhole, a partition, a stalled host). Then every request that
 * reaches it would wait its whole budget, the workers would all be held, and requests that do
 * not need it would queue behind them. So for a short while acquires are refused at once (503),
 * then one request at a time probes: an answer ends the silence, another lost wait extends it.
 * Lock-free: it is read on every acquire. */
#ifndef MS_SILENCE_H
#define MS_SILENCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct silence {
    _Atomic int64_t last_answer_ms; /* ms_now_ms() of the latest answer on any connection */
    _Atomic int64_t until_ms;       /* refusing until then; 0: the server answers */
    atomic_bool probing;            /* a probe is out, after until_ms */
};

/* An answer (any result, an error included) arrived at now_ms. */
void msi_silence_answered(struct silence *s, int64_t now_ms);

/* A statement sent at sent_ms got no answer by now_ms. true when this makes the server silent
 * (the caller logs it): nothing was answered since sent_ms. */
bool msi_silence_gave_up(struct silence *s, int64_t sent_ms, int64_t now_ms, int64_t refuse_ms);

/* May a request use the server now? false while it is silent; after the refusal time one caller
 * at a time gets true with *probe set, and must call msi_silence_probe_done when its statement
 * is done, answered or not. */
bool msi_silence_admit(struct silence *s, int64_t now_ms, bool *probe);

void msi_silence_probe_done(struct silence *s);

#endif
