/* A silent server's short refusal (silence.h). */
#include "silence.h"

void msi_silence_answered(struct silence *s, int64_t now_ms)
{
    atomic_store(&s->last_answer_ms, now_ms);
    if (atomic_load(&s->until_ms) != 0)
        atomic_store(&s->until_ms, 0);
}

bool msi_silence_gave_up(struct silence *s, int64_t sent_ms, int64_t now_ms, int64_t refuse_ms)
{
    int64_t was;

    /* others were answered since (strictly: one answered in the millisecond it was sent may
     * have come before it): this statement was slow, not lost */
    if (atomic_load(&s->last_answer_ms) > sent_ms)
        return false;
    was = atomic_exchange(&s->until_ms, now_ms + refuse_ms);
    return was == 0;
}

bool msi_silence_admit(struct silence *s, int64_t now_ms, bool *probe)
{
    int64_t until = atomic_load(&s->until_ms);
    bool expected = false;

    *probe = false;
    if (until == 0)
        return true;
    if (now_ms < until || !atomic_compare_exchange_strong(&s->probing, &expected, true))
        return false;
    *probe = true;
    return true;
}

void msi_silence_probe_done(struct silence *s)
{
    atomic_store(&s->probing, false);
}
