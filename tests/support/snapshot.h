/* What PostgreSQL and Redis hold, read directly (not through the services), so that a test can
 * show a request wrote nothing: take a digest before, the same digest after, compare. */
#ifndef MS_TEST_SNAPSHOT_H
#define MS_TEST_SNAPSHOT_H

#include "deps.h"

/* The first column of the first row of sql run in database db, malloc'd; "" for SQL NULL; NULL
 * when the query failed or gave no row (the reason goes to stderr). Connections are opened once
 * per database and kept until ms_test_snapshot_close. */
char *ms_test_sql_value(struct ms_test_pg *pg, const char *db, const char *sql);

/* One line per table of db's public schema, "name rows md5-of-all-rows", in name order,
 * malloc'd; NULL on error. Any INSERT, UPDATE or DELETE that commits changes it; sequences are
 * left out (a rejected INSERT may still take a sequence value, which writes no data). */
char *ms_test_pg_digest(struct ms_test_pg *pg, const char *db);

/* One line per Redis key, "key type fingerprint", in key order, malloc'd; NULL on error. Keys
 * starting with skip_prefix (may be NULL) are left out: a cache filled by a read is not a write.
 * A stream's fingerprint is its length and last entry id, since its consumer groups change each
 * time a consumer polls. */
char *ms_test_redis_digest(struct ms_test_redis *redis, const char *skip_prefix);

/* The first line that differs between two digests, for a failure message, in a static buffer. */
const char *ms_test_digest_diff(const char *before, const char *after);

/* Closes the connections ms_test_sql_value and the digests opened. */
void ms_test_snapshot_close(void);

#endif
