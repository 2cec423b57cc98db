// The extension's own objects, looked up by name (see extension_objects.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// A table of schema softdelete ("tables", "events"), or InvalidOid when the
// extension is not installed in this database.
Oid extension_table(const char* name);

// A relation of schema softdelete_internal (the operation_ids sequence), or
// InvalidOid.
Oid internal_relation(const char* name);

// softdelete.events, or InvalidOid; kept until a relcache invalidation.
Oid event_log_table();
// The sequence operations are numbered from, or InvalidOid; kept likewise.
// Since 1.1.0 it is the one softdelete.events' ids come from (*shared_with_
// event_ids true; an operation's first event row has its number as id);
// under 1.0.0's script, softdelete_internal.operation_ids.
Oid operation_sequence(bool* shared_with_event_ids);

// The owner of a relation, or an error when it does not exist.
Oid relation_owner(Oid relid);

// An error when relid names no relation (an SQL function's regclass
// argument, which may be any OID).
void require_relation(Oid relid);

// Whether softdelete's own install or update script is running: its
// statements set up and migrate the objects the guards protect. Another
// extension's script is not ours, and is guarded like any statement.
bool in_own_extension_script();

// A function of schema softdelete_internal, or InvalidOid.
Oid internal_function_oid(const char* name, int nargs, const Oid* argtypes);
// The same, or an error saying the extension needs repair.
Oid require_internal_function(const char* name, int nargs, const Oid* argtypes);

// OIDs of the extension's functions that rewritten statements and policies use.
Oid include_deleted_function();
Oid deletion_stamp_function();
Oid actor_function();
Oid reason_function();
// The per-row decision of tombstone writes (tombstone_decision.cpp).
Oid tombstone_at_function();
Oid tombstone_text_function();
Oid tombstone_op_function();
// The running operation's id (operations.cpp), which a rewritten DELETE stamps.
Oid operation_id_function();
// The check that notes each row a rewritten statement wrote (row_notes.cpp).
Oid note_row_function();
// InvalidOid where the installed script (1.0.0) lacks it.
Oid lock_for_delete_function();
void forget_extension_objects();

// Plans that fold softdelete.include_deleted (SELECTs, through the policy).
void invalidate_visibility_plans();
// Plans whose DELETE meaning depends on softdelete.hard_delete.
void invalidate_delete_plans();

} // namespace softdelete
