// Cascade. When a statement has soft-deleted rows of an enabled table, each
// foreign key that references the table is followed, set-based, in the same
// operation (so with the same mark in delete_op) and the same transaction:
//
//   NO ACTION, CASCADE   the live referencing rows are soft-deleted, by a
//                        DELETE on the child (rewritten like any other), as
//                        the child's owner, outside FORCE ROW LEVEL SECURITY,
//                        as PostgreSQL's own foreign key actions run; a child
//                        that is not enabled refuses instead (it cannot hide
//                        its rows, and would keep live rows under a deleted
//                        parent)
//   RESTRICT             live referencing rows refuse the delete (23503)
//   SET NULL, DEFAULT    nothing until the parent is purged
//
// A restore follows the same foreign keys back: it restores the children
// that are still marked with the operation that deleted the restored
// parent, and nothing deleted on its own before or after. Rows already
// deleted are never touched again (their stamp and mark stay), so a cycle
// or a tree ends: every row changes at most once.
//
// A restored row must not be live under a deleted parent: its parents are
// locked and checked. Before children are looked for, the deleted parents
// are locked FOR UPDATE, which PostgreSQL's foreign key check waits for
// (the child guard relies on it). Under REPEATABLE READ the statements read
// with a new snapshot, so a child committed meanwhile is a serialization
// failure, not a row passed over.
//
// The children's own rows join the work, until nothing is left. The
// parent's rows reach the child statements as JSON parameters, never as SQL
// text. PG regime.
#include "cascade.hpp"
#include "api_gateway.hpp"
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "foreign_keys.hpp"
#include "key_sql.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"
#include "table_config.hpp"
#include "undo_window.hpp"

namespace softdelete
{

namespace
{

bool cascading = false;

const char* column_name(Oid relid, AttrNumber attno)
{
    return quote_identifier(get_attname(relid, attno, false));
}

// "a.x::text, a.y::text": values that cast back to their columns' types
// exactly, which an array's or a composite's jsonb form would not.
void append_text_columns(StringInfo sql, const char* alias, Oid rel, const AttrNumber* columns,
                         int n)
{
    for (int i = 0; i < n; i++)
        appendStringInfo(sql, "%s%s.%s::pg_catalog.text", i > 0 ? ", " : "", alias,
                         column_name(rel, columns[i]));
}

// "a.x, a.y" for columns of rel; a bare "x, y" without an alias.
void append_columns(StringInfo sql, const char* alias, Oid rel, const AttrNumber* columns, int n)
{
    for (int i = 0; i < n; i++)
        appendStringInfo(sql, "%s%s%s%s", i > 0 ? ", " : "", alias != nullptr ? alias : "",
                         alias != nullptr ? "." : "", column_name(rel, columns[i]));
}

// One batch of a table's noted rows, their JSON parsed once for every
// statement that reads them.
struct Batch {
    Action action;
    Datum keys;           // jsonb[] of the rows' keys (elements_array())
    Datum deleted_by_ops; // restores: jsonb[] of the operations that had deleted them
};

Batch parsed(const NotedRows& rows)
{
    Batch batch = {rows.action, elements_array(rows.keys), (Datum)0};
    if (rows.deleted_by_ops != nullptr)
        batch.deleted_by_ops = elements_array(rows.deleted_by_ops);
    return batch;
}

// Where the parent's rows come from in a child statement: a FROM item that
// names them w, how to read referenced column i of w.k, and the deleting
// operation of a restored row.
struct Source {
    const char* from;
    const char* value[INDEX_MAX_KEYS]; // text expressions
    const char* op;                    // restores only
};

// The parent rows' keys, as noted, with $1 the keys and $2 the operations.
Source noted_keys(const TableConfig& parent, bool restore)
{
    Source s;
    s.from = restore ? "ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS w(k, o)"
                     : elements_sql(1, "w(k)");
    for (int i = 0; i < parent.nkeys; i++)
        s.value[i] = key_field_sql(parent, i);
    s.op = restore ? "(w.o #>> '{}'::pg_catalog.text[])" : nullptr;
    return s;
}

// The position of the foreign key's referenced column i among the parent's
// key columns, or -1 (the foreign key references parent.relid itself).
int key_position(const TableConfig& parent, const ForeignKey& fk, int i)
{
    for (int k = 0; k < parent.nkeys; k++) {
        if (parent.keys[k] == fk.parent_columns[i])
            return k;
    }
    return -1;
}

bool references_key(const TableConfig& parent, const ForeignKey& fk)
{
    // A key to one partition numbers that partition's columns.
    if (fk.parent != parent.relid || fk.nkeys != parent.nkeys)
        return false;
    for (int i = 0; i < fk.nkeys; i++) {
        if (key_position(parent, fk, i) < 0)
            return false;
    }
    return true;
}

// The referenced values of the noted parent rows. A foreign key to the
// primary key reads them from the keys; one to another unique key looks
// them up in the parent, as its owner, into one JSON array of rows
// [value, ..., op]. Returns false when no parent row is left.
bool referenced_rows(const TableConfig& parent, const ForeignKey& fk, const Batch& rows,
                     Source* out, Datum* args, int* nargs)
{
    bool restore = rows.action == Action::restore;
    Source keys = noted_keys(parent, restore);
    args[0] = rows.keys;
    args[1] = rows.deleted_by_ops;
    *nargs = restore ? 2 : 1;
    if (references_key(parent, fk)) {
        *out = keys;
        for (int i = 0; i < fk.nkeys; i++)
            out->value[i] = keys.value[key_position(parent, fk, i)];
        return true;
    }
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfoString(&sql, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(");
    append_text_columns(&sql, "p", fk.parent, fk.parent_columns, fk.nkeys);
    appendStringInfo(&sql, "%s)) FROM %s JOIN %s AS p ON (", restore ? ", w.o" : "", keys.from,
                     relation_sql(fk.parent));
    for (int k = 0; k < parent.nkeys; k++) {
        if (k > 0)
            appendStringInfoString(&sql, " AND ");
        append_equals(&sql, psprintf("p.%s", column_name(parent.relid, parent.keys[k])),
                      parent.relid, parent.keys[k], keys.value[k]);
    }
    appendStringInfoChar(&sql, ')');
    Oid types[] = {JSONBARRAYOID, JSONBARRAYOID};
    OwnerStatement found =
        run_as_owner(relation_owner(fk.parent), sql.data, *nargs, types, args, false, true);
    if (found.first_value == nullptr)
        return false;
    args[0] = elements_array(found.first_value);
    *nargs = 1;
    out->from = elements_sql(1, "w(k)");
    for (int i = 0; i < fk.nkeys; i++)
        out->value[i] = psprintf("(w.k ->> %d)", i);
    out->op = restore ? psprintf("(w.k ->> %d)", fk.nkeys) : nullptr;
    return true;
}

// "(c.a, c.b) IN (SELECT ...)": the child rows that reference the parent rows.
void append_referencing(StringInfo sql, const ForeignKey& fk, const Source& parents, bool by_op,
                        AttrNumber delete_op)
{
    // A restore matches the deleting operation too.
    const char* op = nullptr;
    if (by_op) {
        StringInfoData same_op;
        initStringInfo(&same_op);
        append_equals(&same_op, psprintf("c.%s", column_name(fk.child, delete_op)), fk.child,
                      delete_op, parents.op);
        op = same_op.data;
    }
    append_fk_in(sql, fk, "c", false, parents.value, parents.from, op);
}

// Live child rows refuse the parent's soft delete: 23503, as PostgreSQL's
// own foreign key check would say it, naming the child.
void refuse_if_referenced(const TableConfig& parent, const ForeignKey& fk, const TableConfig* child,
                          const Source& parents, Datum* args, int nargs, const char* why)
{
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfoString(&sql, "SELECT pg_catalog.concat_ws(', ', ");
    append_columns(&sql, "c", fk.child, fk.child_columns, fk.nkeys);
    appendStringInfo(&sql, ") FROM %s AS c WHERE ", relation_sql(fk.child));
    append_referencing(&sql, fk, parents, false, InvalidAttrNumber);
    if (child != nullptr)
        appendStringInfo(&sql, " AND c.%s IS NULL", column_name(fk.child, child->deleted_at));
    appendStringInfoString(&sql, " LIMIT 1");
    Oid types[] = {JSONBARRAYOID, JSONBARRAYOID};
    OwnerStatement found =
        run_as_owner(relation_owner(fk.child), sql.data, nargs, types, args, false, true);
    if (found.processed == 0)
        return;
    StringInfoData columns;
    initStringInfo(&columns);
    append_columns(&columns, nullptr, fk.parent, fk.parent_columns, fk.nkeys);
    ereport(
        ERROR,
        (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
         errmsg("soft delete on table %s violates foreign key constraint \"%s\" on table %s",
                relation_display_name(parent.root), NameStr(fk.name),
                relation_display_name(fk.child)),
         errdetail("Key (%s)=(%s) is still referenced from live rows of table %s.", columns.data,
                   found.first_value != nullptr ? found.first_value : "",
                   relation_display_name(fk.child)),
         errhint("%s", why),
         err_generic_string(PG_DIAG_SCHEMA_NAME, get_namespace_name(get_rel_namespace(fk.child))),
         err_generic_string(PG_DIAG_TABLE_NAME, get_rel_name(fk.child)),
         err_generic_string(PG_DIAG_CONSTRAINT_NAME, NameStr(fk.name))));
}

// One foreign key, for one batch of the parent's rows.
void follow(const TableConfig& parent, const ForeignKey& fk, const Batch& rows)
{
    bool restore = rows.action == Action::restore;
    bool follows =
        fk.on_delete == FKCONSTR_ACTION_NOACTION || fk.on_delete == FKCONSTR_ACTION_CASCADE;
    bool restricts = fk.on_delete == FKCONSTR_ACTION_RESTRICT;
    if (!parent.cascade)
        follows = false;
    if (restore ? !follows : !(follows || restricts))
        return;
    Source parents;
    Datum args[2];
    int nargs = 0;
    if (!referenced_rows(parent, fk, rows, &parents, args, &nargs))
        return;
    // The child's lock before its configuration: a disable() of the child
    // that committed while this statement waited for the lock is seen here
    // (taking the lock reads the invalidations, and the configuration is
    // read from the catalog as it is now), so the child refuses as a table
    // that is not enabled does. Decided before the lock, the child's DELETE
    // below would be planned after it, no longer rewritten, and its rows
    // removed for good.
    LockRelationOid(fk.child, restricts ? AccessShareLock : RowExclusiveLock);
    TableConfig child;
    bool child_enabled = table_config(fk.child, &child);
    if (restore && !child_enabled)
        return;
    if (restricts) {
        refuse_if_referenced(parent, fk, child_enabled ? &child : nullptr, parents, args, nargs,
                             "The foreign key is ON DELETE RESTRICT: delete or move the "
                             "referencing rows first.");
        return;
    }
    if (!child_enabled) {
        refuse_if_referenced(parent, fk, nullptr, parents, args, nargs,
                             "The referencing table is not enabled for soft delete, so its rows "
                             "cannot follow: enable it with softdelete.enable(), or enable the "
                             "referenced table with cascade => false.");
        return;
    }
    StringInfoData which;
    initStringInfo(&which);
    append_referencing(&which, fk, parents, restore, child.delete_op);
    if (restore)
        appendStringInfo(&which, " AND c.%s IS NOT NULL", column_name(fk.child, child.deleted_at));
    Oid types[] = {JSONBARRAYOID, JSONBARRAYOID};
    Oid owner = relation_owner(fk.child);
    // A restore is for admins of every table it reaches, or for the actor
    // that deleted the rows within that table's undo window, judged on who
    // asked, before any of the child's code runs as its owner; a table with
    // nothing to restore asks nothing.
    Oid caller = acting_role();
    if (restore && !is_admin_role(caller, child.root)) {
        char* probe =
            psprintf("SELECT FROM %s AS c WHERE %s LIMIT 1", relation_sql(fk.child), which.data);
        if (run_as_owner(owner, probe, nargs, types, args, false, true).processed == 0)
            return;
        if (!may_restore(caller, fk.child, child.root, "restore rows of"))
            require_own_deletes(caller, child, relation_sql(fk.child), which.data, nargs, types,
                                args, false, "restore rows of");
    }
    const char* sql =
        restore ? psprintf("UPDATE %s AS c SET %s = NULL WHERE %s", relation_sql(fk.child),
                           column_name(fk.child, child.deleted_at), which.data)
                : psprintf("DELETE FROM %s AS c WHERE %s", relation_sql(fk.child), which.data);
    (void)run_as_owner(owner, sql, nargs, types, args, false, true);
}

// A restored row must not be live under a deleted parent: the parents it
// references are locked FOR SHARE (which a soft delete's FOR NO KEY UPDATE
// waits for, so none can be deleted until this transaction ends) and must
// be live, else 23503. A parent restored by the same statement is live.
void require_live_parents(const TableConfig& table, const Batch& rows)
{
    List* keys = foreign_keys_of(table.root);
    ListCell* lc;
    foreach (lc, keys) {
        const ForeignKey& fk = *static_cast<ForeignKey*>(lfirst(lc));
        TableConfig parent;
        if (!table_config(fk.parent, &parent))
            continue;
        // The values the restored rows reference, as the table's owner.
        Source restored = noted_keys(table, false);
        StringInfoData sql;
        initStringInfo(&sql);
        appendStringInfoString(&sql, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(");
        append_text_columns(&sql, "c", fk.child, fk.child_columns, fk.nkeys);
        appendStringInfo(&sql, ")) FROM %s AS c WHERE ", relation_sql(fk.child));
        append_in(&sql, "c", table.root, table.keys, table.nkeys, restored.value, restored.from);
        // MATCH SIMPLE: a row with a NULL in the key references nothing.
        for (int i = 0; i < fk.nkeys; i++)
            appendStringInfo(&sql, " AND c.%s IS NOT NULL",
                             column_name(fk.child, fk.child_columns[i]));
        Oid types[] = {JSONBARRAYOID};
        Datum args[] = {rows.keys};
        OwnerStatement referenced =
            run_as_owner(relation_owner(fk.child), sql.data, 1, types, args, false, true);
        if (referenced.first_value == nullptr)
            continue;
        // Every parent locked (the aggregate reads them all), then the
        // deleted ones named, as the parent's owner.
        const char* values[INDEX_MAX_KEYS];
        for (int i = 0; i < fk.nkeys; i++)
            values[i] = psprintf("(w.k ->> %d)", i);
        resetStringInfo(&sql);
        appendStringInfo(&sql, "WITH locked AS MATERIALIZED (SELECT p.%s AS gone, ",
                         column_name(fk.parent, parent.deleted_at));
        appendStringInfoString(&sql, "pg_catalog.concat_ws(', ', ");
        append_columns(&sql, "p", fk.parent, fk.parent_columns, fk.nkeys);
        appendStringInfo(&sql, ") AS key FROM %s AS p WHERE ", relation_sql(fk.parent));
        append_fk_in(&sql, fk, "p", true, values, elements_sql(1, "w(k)"), nullptr);
        appendStringInfoString(&sql, " FOR SHARE OF p) SELECT pg_catalog.min(key) FROM locked "
                                     "WHERE gone IS NOT NULL");
        args[0] = elements_array(referenced.first_value);
        OwnerStatement deleted =
            run_as_owner(relation_owner(fk.parent), sql.data, 1, types, args, false, true);
        if (deleted.first_value == nullptr)
            continue;
        StringInfoData columns;
        initStringInfo(&columns);
        append_columns(&columns, nullptr, fk.child, fk.child_columns, fk.nkeys);
        ereport(ERROR,
                (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
                 errmsg("cannot restore rows of table %s: foreign key constraint \"%s\" "
                        "references a deleted row of table %s",
                        relation_display_name(table.root), NameStr(fk.name),
                        relation_display_name(fk.parent)),
                 errdetail("Key (%s)=(%s) is soft-deleted in table %s.", columns.data,
                           deleted.first_value, relation_display_name(fk.parent)),
                 errhint("Restore the parent row first: its restore brings back the rows its "
                         "delete cascaded to."),
                 err_generic_string(PG_DIAG_SCHEMA_NAME,
                                    get_namespace_name(get_rel_namespace(table.root))),
                 err_generic_string(PG_DIAG_TABLE_NAME, get_rel_name(table.root)),
                 err_generic_string(PG_DIAG_CONSTRAINT_NAME, NameStr(fk.name))));
    }
}

// The parent rows a soft delete marked are locked FOR UPDATE before their
// children are looked for, unless the statement locked them before writing
// them (a rewritten DELETE, delete_lock.cpp). The soft delete's own UPDATE took FOR NO KEY
// UPDATE, which PostgreSQL's foreign key check (FOR KEY SHARE) does not
// wait for; FOR UPDATE makes it wait: a child insert that locked the row
// first is waited for here, so the children are then read with it; one
// that comes later waits for this transaction and then sees the parent
// deleted (child_guard.cpp).
void lock_deleted_parents(const TableConfig& parent, const Batch& rows)
{
    Source deleted = noted_keys(parent, false);
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT FROM %s AS p WHERE ", relation_sql(parent.relid));
    append_in(&sql, "p", parent.relid, parent.keys, parent.nkeys, deleted.value, deleted.from);
    appendStringInfoString(&sql, " FOR UPDATE OF p");
    Oid types[] = {JSONBARRAYOID};
    Datum args[] = {rows.keys};
    (void)run_as_owner(relation_owner(parent.relid), sql.data, 1, types, args, false, true);
}

void follow_all()
{
    MemoryContext work =
        AllocSetContextCreate(CurrentMemoryContext, "softdelete cascade", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(work);
    NotedRows noted;
    while (take_noted_rows(followed_by_cascade, &noted)) {
        TableConfig parent;
        if (!table_config(noted.root, &parent))
            continue;
        Batch rows = parsed(noted);
        List* keys = foreign_keys_to(noted.root);
        if (keys != NIL && rows.action == Action::soft_delete && !noted.locked)
            lock_deleted_parents(parent, rows);
        ListCell* lc;
        foreach (lc, keys)
            follow(parent, *static_cast<ForeignKey*>(lfirst(lc)), rows);
        if (rows.action == Action::restore)
            require_live_parents(parent, rows);
        MemoryContextReset(work);
    }
    MemoryContextSwitchTo(old);
    MemoryContextDelete(work);
}

} // namespace

bool followed_by_cascade(Oid root)
{
    return in_any_foreign_key(root);
}

void run_cascades()
{
    if (cascading)
        return;
    cascading = true;
    PG_TRY();
    {
        follow_all();
    }
    PG_FINALLY();
    {
        cascading = false;
    }
    PG_END_TRY();
}

} // namespace softdelete
