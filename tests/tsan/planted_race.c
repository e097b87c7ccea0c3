/* A deliberate data race, built only with MS_TSAN=ON: the ThreadSanitizer pass of `make test`
 * must report it, which shows that the pass really instruments the code and halts on a report.
 * (A sanitizer pass that silently checks nothing would pass every suite.) */
#include <pthread.h>
#include <stdio.h>

static long counter; /* written by two threads with no lock: the race */

static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        counter++;
    return NULL;
}

int main(void)
{
    pthread_t a, b;

    if (pthread_create(&a, NULL, bump, NULL) != 0 || pthread_create(&b, NULL, bump, NULL) != 0)
        return 2;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("counter %ld\n", counter);
    return 0;
}
