// The softdelete.* settings a session can change, and whose opt-in counts.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// softdelete.include_deleted: show deleted rows to a reader.
extern bool include_deleted;
// softdelete.hard_delete: an admin's DELETE and TRUNCATE really remove rows.
extern bool hard_delete;
// softdelete.naptime (seconds) and softdelete.batch_size: the lifecycle
// worker's pace, set in postgresql.conf (SIGHUP).
extern int naptime;
extern int batch_size;
// softdelete.actor and softdelete.reason, as set (empty when not): read
// here rather than looked up by name, once or twice in every statement
// that logs.
extern char* actor_setting;
extern char* reason_setting;

void define_settings();

// An opt-in counts only for the role that made it: a caller's setting never
// widens what a SECURITY DEFINER function running as another role does, and
// a definer function's own SET clause is the definer's opt-in.
bool include_deleted_in_effect();
// Also only for the current transaction (SET LOCAL, set_config(..., true) or
// a function's SET clause): a session-level value never counts.
bool hard_delete_in_effect();
// The same for a DELETE, a MERGE's DELETE actions or a TRUNCATE of the
// enabled table root, which code of another
// role may run in the admin's transaction (a foreign key's ON DELETE
// CASCADE runs as the referencing table's owner; a trigger, a SECURITY
// DEFINER function): in effect also when both the role that set it and the
// role running the DELETE are admins of root.
bool hard_delete_in_effect_on(Oid root);

// A session that set row_security = on and synchronize_seqscans = off, as
// every session of pg_dump --enable-row-security does (and applications
// hardly ever): there, a table read without deleted rows would make a
// backup that silently lacks them. Spoofing it only makes one's own reads
// fail.
bool looks_like_pg_dump();

// Refuses a statement that would set hard_delete for longer than the current
// transaction: SET (without LOCAL), ALTER ROLE/DATABASE ... SET, ALTER SYSTEM.
// The commit check in settings.cpp catches set_config(..., false), which is
// no statement of its own.
void refuse_lasting_hard_delete(const Node* stmt);

} // namespace softdelete
