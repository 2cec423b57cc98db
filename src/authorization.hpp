// Who may do what (admins and readers), for the current role.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Superuser, a member of the table owner's role, or of softdelete_admin.
bool is_admin(Oid root);
// The same about another role (the caller of the public API).
bool is_admin_role(Oid member, Oid root);
// Raises 42501 unless the current role is an admin; what: "restore rows of".
void require_admin(Oid relid, Oid root, const char* what);
// The same about another role (the caller of the public API).
void require_admin_of(Oid member, Oid relid, Oid root, const char* what);
// The schema-qualified name of relid, or "with OID n" when it does not exist.
const char* relation_display_name(Oid relid);
// May the current role write the operation a row names (delete_op) and the
// event log, as a restore does: a superuser or a member of
// softdelete_backup.
bool may_write_operation_marks();
// An admin, or a member of softdelete_reader.
bool is_reader(Oid root);
// May the current role opt in to deleted rows of some table at all?
bool is_reader_anywhere();
// May the current role hard-delete rows of some table at all?
bool is_admin_anywhere();

void register_role_invalidation();

} // namespace softdelete
