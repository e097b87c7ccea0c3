/* Planted violations for tests/exports/check.sh: an internal helper left global without a
 * prefix, and a reference to a name only a service defines. Linked into no program. */
#include "planted.h"

extern int ms_planted_service_table;

int planted_unprefixed_helper(void)
{
    return ms_planted_service_table;
}
