// Who may restore rows: admins, and the deleting actor within the table's
// undo window (see undo_window.cpp).
#pragma once

#include "pg.hpp"
#include "table_config.hpp"

namespace softdelete
{

// PG regime. May member restore rows of root (relid is the table named in
// the message; what: "restore rows of")? True for an admin. False for a
// role that is no admin but may restore the rows its own actor deleted
// within root's undo window (the table has one, and member holds the DELETE
// privilege on it): every row must then pass require_own_deletes(). Any
// other role gets 42501, with a detail that says which condition failed.
bool may_restore(Oid member, Oid relid, Oid root, const char* what);

// PG regime. For a role that may_restore() answered false about: the rows of
// target (an SQL table reference, aliased c) that condition selects, with
// $1..$nargs bound to values, are locked FOR UPDATE and must all have been
// deleted by the current actor (softdelete.actor, else the role) no longer
// ago than the table's undo window, judged against the transaction's time;
// else 42501, saying whether the window passed or the actor differs. With
// expect_rows, no row at all is refused as well (as a different actor: a
// caller who may not restore learns nothing about which keys exist).
void require_own_deletes(Oid member, const TableConfig& cfg, const char* target,
                         const char* condition, int nargs, const Oid* types, const Datum* values,
                         bool expect_rows, const char* what);

} // namespace softdelete
