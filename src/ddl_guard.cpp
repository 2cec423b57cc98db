// The drift guard, a ProcessUtility hook. Soft delete on a table is a set of
// ordinary catalog objects: row-level security (enabled and forced), the
// softdelete_* policies and triggers, and the four tombstone columns. Plain
// DDL by the table's owner could change any of them and quietly switch the
// enforcement off: deleted rows shown, or rows removed for good. This hook
// reads each DDL statement's parse tree and refuses, before anything runs,
// what would do that to an enabled table or a partition of one; dropping the
// extension (or its schemas) from under enabled tables; and DDL on the
// extension's own tables. enable() and disable() (see extension_at_work())
// and extension scripts pass: they are how these objects legitimately change.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor,
// so an ereport leaves these frames as it would leave C.
#include "ddl_guard.hpp"
#include "admin_copy.hpp"
#include "executor_hooks.hpp"
#include "operations.hpp"
#include "settings.hpp"
#include "api_gateway.hpp"
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "old_constraint_names.hpp"
#include "table_config.hpp"

extern "C" {
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "tcop/utility.h"
}

namespace softdelete
{

namespace
{

ProcessUtility_hook_type previous_utility = nullptr;

// Why each kind of change would open a hole, for the DETAIL of a refusal.
constexpr const char rls_why[] =
    "Row-level security hides the deleted rows; without it every reader would see them.";
constexpr const char force_why[] = "FORCE subjects the table's owner to the policy that hides "
                                   "deleted rows; without it the owner would see them.";
constexpr const char trigger_why[] =
    "The softdelete_* triggers turn a DELETE that reaches the executor into a soft delete, refuse "
    "TRUNCATE and log deletes; without them rows could be removed for good, or unlogged.";
constexpr const char policy_why[] =
    "The softdelete_* policies hide the deleted rows and keep the table's access for live rows; "
    "changed or dropped, they would show deleted rows or change who sees live ones.";
constexpr const char column_why[] = "It is a tombstone column: every soft delete writes it and the "
                                    "policy that hides deleted rows reads it.";
constexpr const char key_why[] =
    "Its primary key is how softdelete names rows: restore(), hard_delete(), erase() and undo() "
    "find them by it, softdelete.events records it, and the archive keeps its rows by it. "
    "Renamed, dropped or replaced, rows would be looked up by a column that is gone, or by one "
    "that is not unique.";
constexpr const char key_hint_format[] =
    "Call softdelete.disable(%s), change the key, then softdelete.enable() again, in one "
    "transaction if you like: the rows and their deletion records stay.";
constexpr const char default_why[] = "A default on a tombstone column would make new rows born "
                                     "deleted, or carry a deleter and a reason before any delete.";

// enable() gives all our triggers and policies this prefix; that is how they
// are told from the table's own.
bool ours(const char* name)
{
    constexpr char prefix[] = "softdelete_";
    return name != nullptr && strncmp(name, prefix, sizeof prefix - 1) == 0;
}

// A missing relation resolves to InvalidOid and is left alone: PostgreSQL
// then reports it with its own error (or skips it, for IF EXISTS).
Oid relation_of(RangeVar* relation)
{
    return relation == nullptr ? InvalidOid : RangeVarGetRelid(relation, NoLock, true);
}

// softdelete.tables, softdelete.events or softdelete.runs, or nullptr.
const char* extension_table_name(Oid relid)
{
    if (!OidIsValid(relid))
        return nullptr;
    if (relid == extension_table("tables"))
        return "softdelete.tables";
    if (relid == extension_table("events"))
        return "softdelete.events";
    if (relid == extension_table("runs"))
        return "softdelete.runs";
    return nullptr;
}

bool extension_schema(const char* name)
{
    return strcmp(name, "softdelete") == 0 || strcmp(name, "softdelete_internal") == 0;
}

// A change that would switch soft delete off on cfg.relid.
[[noreturn]] void refuse_drift(const TableConfig& cfg, const char* what, const char* why,
                               const char* hint = nullptr)
{
    const char* root = relation_display_name(cfg.root);
    char* enabled = cfg.root == cfg.relid
                        ? psprintf("Soft delete is enabled on %s.", root)
                        : psprintf("%s is a partition of %s, on which soft delete is enabled.",
                                   relation_display_name(cfg.relid), root);
    if (hint == nullptr)
        hint = psprintf("To switch soft delete off, call softdelete.disable(%s): it removes the "
                        "enforcement and keeps every row.",
                        quote_literal_cstr(root));
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("cannot %s", what),
                    errdetail("%s %s", enabled, why), errhint("%s", hint)));
    pg_unreachable();
}

// DDL on the extension's own tables: only the extension changes them.
[[noreturn]] void refuse_extension_table(Oid relid, const char* what)
{
    const char* name = extension_table_name(relid);
    bool config = strcmp(name, "softdelete.tables") == 0;
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("cannot %s", what),
             config ? errdetail("%s holds the configuration of every enabled table; its triggers "
                                "keep it from being edited by hand.",
                                name)
                    : errdetail("%s is the log of %s; only the extension writes it.", name,
                                strcmp(name, "softdelete.runs") == 0
                                    ? "purge runs"
                                    : "deletes, restores and hard deletes"),
             errhint("Change soft delete with softdelete.enable() and softdelete.disable(); the "
                     "extension maintains %s itself.",
                     name)));
    pg_unreachable();
}

int compare_names(const ListCell* a, const ListCell* b)
{
    return strcmp(static_cast<const char*>(lfirst(a)), static_cast<const char*>(lfirst(b)));
}

// The enabled tables' names, sorted.
List* enabled_table_names()
{
    List* names = NIL;
    ListCell* lc;
    foreach (lc, enabled_tables())
        names = lappend(names, const_cast<char*>(relation_display_name(lfirst_oid(lc))));
    list_sort(names, compare_names);
    return names;
}

// Dropping or renaming the extension or its schemas: fine with no table
// enabled, refused otherwise.
void refuse_while_enabled(const char* what)
{
    constexpr int names_shown = 10;
    List* names = enabled_table_names();
    int count = list_length(names);
    if (count == 0)
        return;
    StringInfoData shown;
    initStringInfo(&shown);
    ListCell* lc;
    foreach (lc, names) {
        int index = foreach_current_index(lc);
        if (index == names_shown) {
            appendStringInfo(&shown, ", and %d more", count - index);
            break;
        }
        appendStringInfo(&shown, "%s%s", index == 0 ? "" : ", ",
                         static_cast<const char*>(lfirst(lc)));
    }
    ereport(
        ERROR,
        (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
         errmsg_plural("cannot %s while %d table is enabled for soft delete",
                       "cannot %s while %d tables are enabled for soft delete", count, what, count),
         errdetail("It would take away the policies and triggers that enforce soft delete: "
                   "deleted rows would become visible and DELETE would remove rows for good."),
         errhint("Call softdelete.disable() on each enabled table first: %s.", shown.data)));
}

// The column named column of cfg.relid is one of its tombstone columns.
bool tombstone(const TableConfig& cfg, const char* column)
{
    if (column == nullptr)
        return false;
    AttrNumber att = get_attnum(cfg.relid, column);
    return att != InvalidAttrNumber && (att == cfg.deleted_at || att == cfg.deleted_by ||
                                        att == cfg.delete_reason || att == cfg.delete_op);
}

// The column named column of cfg.relid is one of its primary key columns.
bool key_column(const TableConfig& cfg, const char* column)
{
    if (column == nullptr)
        return false;
    AttrNumber att = get_attnum(cfg.relid, column);
    for (int k = 0; k < cfg.nkeys; k++) {
        if (att != InvalidAttrNumber && att == cfg.keys[k])
            return true;
    }
    return false;
}

// The constraint named name of cfg.relid is its primary key.
bool primary_key_constraint(const TableConfig& cfg, const char* name)
{
    if (name == nullptr)
        return false;
    Oid constraint = get_relation_constraint_oid(cfg.relid, name, true);
    if (!OidIsValid(constraint))
        return false;
    HeapTuple tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(constraint));
    if (!HeapTupleIsValid(tuple))
        return false;
    bool primary =
        reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple))->contype == CONSTRAINT_PRIMARY;
    ReleaseSysCache(tuple);
    return primary;
}

[[noreturn]] void refuse_key_change(const TableConfig& cfg, const char* what)
{
    refuse_drift(cfg, what, key_why,
                 psprintf(key_hint_format, quote_literal_cstr(relation_display_name(cfg.root))));
}

// A trigger calling one of the extension's functions is the extension's own.
// Another trigger on its tables (a user's, calling the user's function) is
// left to its author, who could drop it with DROP FUNCTION ... CASCADE anyway.
bool extension_trigger(Oid relid, const char* name)
{
    Oid trigger = get_trigger_oid(relid, name, true);
    if (!OidIsValid(trigger))
        return false;
    Relation catalog = table_open(TriggerRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(trigger));
    SysScanDesc scan = systable_beginscan(catalog, TriggerOidIndexId, true, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    Oid function = HeapTupleIsValid(tuple)
                       ? reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple))->tgfoid
                       : InvalidOid;
    systable_endscan(scan);
    table_close(catalog, AccessShareLock);
    Oid extension = get_extension_oid("softdelete", true);
    return OidIsValid(function) && OidIsValid(extension) &&
           getExtensionOfObject(ProcedureRelationId, function) == extension;
}

// verb ("drop", "rename", "alter", "replace") applied to trigger or policy
// name of relid.
void check_table_object(Oid relid, ObjectType type, const char* name, const char* verb)
{
    if (!OidIsValid(relid))
        return;
    bool trigger = type == OBJECT_TRIGGER;
    if (extension_table_name(relid) != nullptr) {
        // A policy there decides who reads the extension's data, whoever made
        // it: none may change.
        if (!trigger || extension_trigger(relid, name))
            refuse_extension_table(
                relid, psprintf("%s %s %s on table %s", verb, trigger ? "trigger" : "policy",
                                quote_identifier(name), relation_display_name(relid)));
        return;
    }
    TableConfig cfg;
    if (ours(name) && table_config(relid, &cfg))
        refuse_drift(cfg,
                     psprintf("%s %s %s on table %s", verb, trigger ? "trigger" : "policy",
                              quote_identifier(name), relation_display_name(relid)),
                     trigger ? trigger_why : policy_why);
}

// Subcommands that PostgreSQL also applies to the inheritance children and
// partitions of the table named (unless ONLY).
bool recurses(AlterTableType subtype)
{
    switch (subtype) {
    case AT_DropColumn:
    case AT_AlterColumnType:
    case AT_ColumnDefault:
    case AT_DisableTrig:
    case AT_DisableTrigAll:
    case AT_DisableTrigUser:
    case AT_EnableAlwaysTrig:
    case AT_EnableReplicaTrig:
        return true;
    default:
        return false;
    }
}

// child (InvalidOid while CREATE TABLE makes it) becoming an inheritance
// child of parent_name. Reads through a parent apply the parent's policies to
// the child's rows, not the child's own, and a child named directly follows
// its own: the two must both be enabled, or neither. can_enable is false for
// a temporary or foreign child, which enable() refuses.
void check_new_inheritance(Oid child, const char* child_name, bool can_enable,
                           RangeVar* parent_name)
{
    Oid parent = relation_of(parent_name);
    if (!OidIsValid(parent))
        return;
    TableConfig cfg;
    TableConfig parent_cfg;
    bool child_enabled = OidIsValid(child) && table_config(child, &cfg);
    bool parent_enabled = table_config(parent, &parent_cfg);
    if (!child_enabled && !parent_enabled)
        return;
    const char* parent_table = relation_display_name(parent);
    if (child_enabled && parent_enabled) {
        // A DELETE through the parent marks the parent's column, which the
        // child inherits but does not read as its tombstone.
        const char* column = get_attname(parent_cfg.relid, parent_cfg.deleted_at, true);
        const char* child_column = get_attname(cfg.relid, cfg.deleted_at, true);
        if (column != nullptr && child_column != nullptr && strcmp(column, child_column) != 0)
            refuse_drift(
                cfg, psprintf("make table %s inherit from %s", child_name, parent_table),
                psprintf("A DELETE through %s would set %s in rows of %s, which would still show "
                         "them as live, deleted by %s only.",
                         parent_table, quote_identifier(column), child_name,
                         quote_identifier(child_column)),
                "Enable both tables with the same column_name.");
    }
    if (child_enabled == parent_enabled)
        return;
    if (child_enabled)
        refuse_drift(cfg, psprintf("make table %s inherit from %s", child_name, parent_table),
                     psprintf("Reads through %s would show the deleted rows of %s: the policies of "
                              "the table read, not those of its children, decide which rows are "
                              "shown.",
                              parent_table, child_name),
                     psprintf("Enable soft delete on %s first, or call softdelete.disable(%s).",
                              parent_table, quote_literal_cstr(relation_display_name(cfg.root))));
    const char* why =
        psprintf("The rows of %s would show through it, hidden once deleted, but reading, "
                 "deleting or restoring them in %s itself would follow none of its rules.",
                 child_name, child_name);
    const char* hint =
        !can_enable ? "Soft delete cannot be enabled on a temporary or foreign table."
        : OidIsValid(child)
            ? psprintf("Call softdelete.enable(%s) first.", quote_literal_cstr(child_name))
            : psprintf("Create %s without INHERITS (CREATE TABLE %s (LIKE %s INCLUDING ALL) has "
                       "its columns), call softdelete.enable() on it, then ALTER TABLE %s "
                       "INHERIT %s.",
                       child_name, child_name, parent_table, child_name, parent_table);
    refuse_drift(
        parent_cfg,
        OidIsValid(child)
            ? psprintf("make table %s inherit from %s", child_name, parent_table)
            : psprintf("create table %s as an inheritance child of %s", child_name, parent_table),
        why, hint);
}

// A table enabled on its own (a partition detached before) carries
// triggers that the ATTACH would clone again from an enabled parent, and a
// configuration of its own that a partition cannot have; under a parent
// that is not enabled, reads through the parent would show its deleted
// rows. Its own soft delete goes first, in the same transaction.
void check_attached_partition(Oid parent, RangeVar* partition_name)
{
    Oid partition = relation_of(partition_name);
    TableConfig cfg;
    if (!OidIsValid(partition) || !table_config(partition, &cfg) || cfg.root != partition)
        return;
    const char* name = relation_display_name(partition);
    const char* parent_name = relation_display_name(parent);
    TableConfig parent_cfg;
    refuse_drift(cfg, psprintf("attach table %s as a partition of %s", name, parent_name),
                 table_config(parent, &parent_cfg)
                     ? psprintf("As a partition it follows the rules of %s, which is enabled too.",
                                relation_display_name(parent_cfg.root))
                     : psprintf("Reads through %s, which is not enabled, would show its deleted "
                                "rows.",
                                parent_name),
                 psprintf("Call softdelete.disable(%s) and ATTACH in one transaction; an enabled "
                          "parent then covers the partition with its own rules.",
                          quote_literal_cstr(name)));
}

void check_create_table(Node* node)
{
    const CreateStmt* stmt = IsA(node, CreateForeignTableStmt)
                                 ? &reinterpret_cast<CreateForeignTableStmt*>(node)->base
                                 : castNode(CreateStmt, node);
    // PARTITION OF: a partition is covered by its enabled root.
    if (stmt->partbound != nullptr)
        return;
    // IF NOT EXISTS on a table that exists: PostgreSQL skips the statement.
    if (stmt->if_not_exists && OidIsValid(relation_of(stmt->relation)))
        return;
    const char* name =
        quote_qualified_identifier(stmt->relation->schemaname, stmt->relation->relname);
    bool can_enable =
        !IsA(node, CreateForeignTableStmt) && stmt->relation->relpersistence != RELPERSISTENCE_TEMP;
    ListCell* lc;
    foreach (lc, stmt->inhRelations)
        check_new_inheritance(InvalidOid, name, can_enable, castNode(RangeVar, lfirst(lc)));
}

// One ALTER TABLE subcommand as it acts on cfg.relid, an enabled table or a
// partition of one.
void check_alter_command(const TableConfig& cfg, const AlterTableCmd* cmd)
{
    const char* name = cmd->name == nullptr ? nullptr : quote_identifier(cmd->name);
    const char* action = nullptr; // what is refused, up to "table <name>"
    const char* why = nullptr;
    switch (cmd->subtype) {
    case AT_DisableRowSecurity:
        action = "disable row level security on";
        why = rls_why;
        break;
    case AT_NoForceRowSecurity:
        action = "turn off forced row level security on";
        why = force_why;
        break;
    case AT_DisableTrigAll:
    case AT_DisableTrigUser:
        action = cmd->subtype == AT_DisableTrigAll ? "disable all triggers of"
                                                   : "disable user triggers of";
        why = trigger_why;
        break;
    case AT_DisableTrig:
    case AT_EnableAlwaysTrig:
    case AT_EnableReplicaTrig:
        if (ours(cmd->name)) {
            action = cmd->subtype == AT_DisableTrig ? psprintf("disable trigger %s on", name)
                     : cmd->subtype == AT_EnableAlwaysTrig
                         ? psprintf("make trigger %s fire always on", name)
                         : psprintf("make trigger %s replica-only on", name);
            why = trigger_why;
        }
        break;
    case AT_DropColumn:
        if (key_column(cfg, cmd->name))
            refuse_key_change(cfg, psprintf("drop primary key column %s of table %s", name,
                                            relation_display_name(cfg.relid)));
        [[fallthrough]];
    case AT_AlterColumnType:
        if (tombstone(cfg, cmd->name)) {
            action = cmd->subtype == AT_DropColumn
                         ? psprintf("drop column %s of", name)
                         : psprintf("change the type of column %s of", name);
            why = column_why;
        }
        break;
    case AT_DropConstraint:
        if (primary_key_constraint(cfg, cmd->name))
            refuse_key_change(cfg, psprintf("drop the primary key %s of table %s", name,
                                            relation_display_name(cfg.relid)));
        break;
    case AT_SetNotNull:
        // NULL is what a live row has in all four, and what a restore
        // writes back. (An identity column must be NOT NULL first.)
        if (tombstone(cfg, cmd->name)) {
            action = psprintf("make column %s NOT NULL in", name);
            why = column_why;
        }
        break;
    case AT_ColumnDefault:
        // Without an expression it is DROP DEFAULT, which is harmless.
        if (cmd->def != nullptr && tombstone(cfg, cmd->name)) {
            action = psprintf("set a default on column %s of", name);
            why = default_why;
        }
        break;
    default:
        break;
    }
    if (action != nullptr)
        refuse_drift(cfg, psprintf("%s table %s", action, relation_display_name(cfg.relid)), why);
}

void check_alter_table(Node* node)
{
    auto* stmt = castNode(AlterTableStmt, node);
    Oid relid = relation_of(stmt->relation);
    if (!OidIsValid(relid))
        return;
    if (extension_table_name(relid) != nullptr)
        refuse_extension_table(relid, psprintf("alter table %s", relation_display_name(relid)));
    List* family = NIL; // relid and its descendants, looked up once if needed
    ListCell* lc;
    foreach (lc, stmt->cmds) {
        auto* cmd = castNode(AlterTableCmd, lfirst(lc));
        List* targets = list_make1_oid(relid);
        if (stmt->relation->inh && recurses(cmd->subtype)) {
            if (family == NIL)
                family = find_all_inheritors(relid, NoLock, nullptr);
            targets = family;
        }
        if (cmd->subtype == AT_AttachPartition)
            check_attached_partition(relid, castNode(PartitionCmd, cmd->def)->name);
        if (cmd->subtype == AT_AddInherit)
            check_new_inheritance(relid, relation_display_name(relid),
                                  get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE &&
                                      get_rel_persistence(relid) != RELPERSISTENCE_TEMP,
                                  castNode(RangeVar, cmd->def));
        ListCell* target;
        foreach (target, targets) {
            TableConfig cfg;
            if (table_config(lfirst_oid(target), &cfg))
                check_alter_command(cfg, cmd);
        }
    }
}

void check_rename(Node* node)
{
    auto* stmt = castNode(RenameStmt, node);
    if (stmt->renameType == OBJECT_SCHEMA) {
        if (extension_schema(stmt->subname))
            refuse_while_enabled(psprintf("rename schema %s", quote_identifier(stmt->subname)));
        return;
    }
    if (stmt->relation == nullptr)
        return;
    Oid relid = relation_of(stmt->relation);
    if (!OidIsValid(relid))
        return;
    if (stmt->renameType == OBJECT_TRIGGER || stmt->renameType == OBJECT_POLICY) {
        check_table_object(relid, stmt->renameType, stmt->subname, "rename");
        return;
    }
    if (extension_table_name(relid) != nullptr) {
        const char* kind = stmt->renameType == OBJECT_COLUMN          ? "column"
                           : stmt->renameType == OBJECT_TABCONSTRAINT ? "constraint"
                                                                      : "rule";
        refuse_extension_table(
            relid, stmt->subname == nullptr
                       ? psprintf("rename table %s", relation_display_name(relid))
                       : psprintf("rename %s %s of table %s", kind, quote_identifier(stmt->subname),
                                  relation_display_name(relid)));
    }
    if (stmt->renameType != OBJECT_COLUMN)
        return;
    List* targets =
        stmt->relation->inh ? find_all_inheritors(relid, NoLock, nullptr) : list_make1_oid(relid);
    ListCell* lc;
    foreach (lc, targets) {
        TableConfig cfg;
        if (!table_config(lfirst_oid(lc), &cfg))
            continue;
        const char* what = psprintf("rename column %s of table %s", quote_identifier(stmt->subname),
                                    relation_display_name(cfg.relid));
        if (tombstone(cfg, stmt->subname))
            refuse_drift(cfg, what, column_why);
        if (key_column(cfg, stmt->subname))
            refuse_key_change(cfg, psprintf("rename primary key column %s of table %s",
                                            quote_identifier(stmt->subname),
                                            relation_display_name(cfg.relid)));
    }
}

void check_drop(Node* node)
{
    auto* stmt = castNode(DropStmt, node);
    ListCell* lc;
    switch (stmt->removeType) {
    case OBJECT_EXTENSION:
        foreach (lc, stmt->objects) {
            if (strcmp(strVal(lfirst(lc)), "softdelete") == 0)
                refuse_while_enabled("drop extension softdelete");
        }
        break;
    case OBJECT_SCHEMA:
        foreach (lc, stmt->objects) {
            const char* name = strVal(lfirst(lc));
            if (extension_schema(name))
                refuse_while_enabled(psprintf("drop schema %s", quote_identifier(name)));
        }
        break;
    case OBJECT_TRIGGER:
    case OBJECT_POLICY:
        // Each object is the table's (qualified) name followed by the
        // trigger's or policy's.
        foreach (lc, stmt->objects) {
            List* names = castNode(List, lfirst(lc));
            RangeVar* table =
                makeRangeVarFromNameList(list_copy_head(names, list_length(names) - 1));
            check_table_object(relation_of(table), stmt->removeType, strVal(llast(names)), "drop");
        }
        break;
    default:
        break;
    }
}

void check_truncate(Node* node)
{
    auto* stmt = castNode(TruncateStmt, node);
    ListCell* lc;
    foreach (lc, stmt->relations) {
        Oid relid = relation_of(castNode(RangeVar, lfirst(lc)));
        // softdelete.tables answers TRUNCATE with its own trigger, as it
        // answers UPDATE and DELETE; this guard keeps that trigger in place.
        if (extension_table_name(relid) != nullptr && relid != extension_table("tables"))
            refuse_extension_table(relid,
                                   psprintf("truncate table %s", relation_display_name(relid)));
    }
}

void check_set_schema(Node* node)
{
    auto* stmt = castNode(AlterObjectSchemaStmt, node);
    Oid relid = relation_of(stmt->relation);
    if (extension_table_name(relid) != nullptr)
        refuse_extension_table(relid,
                               psprintf("move table %s to schema %s", relation_display_name(relid),
                                        quote_identifier(stmt->newschema)));
}

void check_alter_policy(Node* stmt)
{
    auto* alter = castNode(AlterPolicyStmt, stmt);
    check_table_object(relation_of(alter->table), OBJECT_POLICY, alter->policy_name, "alter");
}

void check_create_trigger(Node* stmt)
{
    auto* create = castNode(CreateTrigStmt, stmt);
    if (create->replace)
        check_table_object(relation_of(create->relation), OBJECT_TRIGGER, create->trigname,
                           "replace");
}

// The partition a DETACH PARTITION takes out of an enabled table (or out of
// one of its partitions), or InvalidOid. PostgreSQL drops the triggers the
// partition had from its parent, and its own policies stay: it would go on
// hiding its deleted rows while a DELETE removed rows for good, unlogged.
// So once the DETACH has run the partition is enabled on its own, with its
// root's options (softdelete_internal.enable_detached); if that fails, so
// does the DETACH.
Oid detached_partition(const Node* stmt, Oid* root)
{
    if (!IsA(stmt, AlterTableStmt))
        return InvalidOid;
    const auto* alter = castNode(AlterTableStmt, stmt);
    ListCell* lc;
    foreach (lc, alter->cmds) {
        auto* cmd = castNode(AlterTableCmd, lfirst(lc));
        if (cmd->subtype != AT_DetachPartition && cmd->subtype != AT_DetachPartitionFinalize)
            continue;
        TableConfig cfg;
        Oid parent = relation_of(alter->relation);
        if (!OidIsValid(parent) || !table_config(parent, &cfg))
            return InvalidOid;
        *root = cfg.root;
        return relation_of(castNode(PartitionCmd, cmd->def)->name);
    }
    return InvalidOid;
}

void enable_detached(Oid partition, Oid root)
{
    static const Oid argtypes[2] = {REGCLASSOID, REGCLASSOID};
    Oid function = require_internal_function("enable_detached", 2, argtypes);
    const Datum args[2] = {ObjectIdGetDatum(partition), ObjectIdGetDatum(root)};
    call_for_caller(function, 2, args);
}

using Check = void (*)(Node*);

// The check for stmt, or nullptr for the statements this guard does not read:
// those pass untouched, without even a catalog lookup (some run outside a
// transaction).
Check check_for(const Node* stmt)
{
    switch (nodeTag(stmt)) {
    case T_AlterTableStmt:
        return check_alter_table;
    case T_CreateStmt:
    case T_CreateForeignTableStmt:
        return check_create_table;
    case T_RenameStmt:
        return check_rename;
    case T_DropStmt:
        return check_drop;
    case T_AlterPolicyStmt:
        return check_alter_policy;
    case T_CreateTrigStmt:
        return check_create_trigger;
    case T_TruncateStmt:
        return check_truncate;
    case T_AlterObjectSchemaStmt:
        return check_set_schema;
    default:
        return nullptr;
    }
}

void guard_utility(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                   ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
                   DestReceiver* dest, QueryCompletion* qc)
{
    Node* stmt = pstmt->utilityStmt;
    // Not DDL, but a statement only this hook sees before it takes effect.
    refuse_lasting_hard_delete(stmt);
    Check check = check_for(stmt);
    // pg_upgrade's schema restore (binary-upgrade mode, a server only
    // pg_upgrade starts) recreates the extension's members and the enabled
    // tables' objects as they were, with ALTERs this guard would refuse.
    Oid detached = InvalidOid;
    Oid detached_root = InvalidOid;
    if (check != nullptr && !IsBinaryUpgrade && !in_own_extension_script() && extension_present() &&
        !extension_at_work()) {
        check(stmt);
        if (drop_converted_constraint(stmt))
            return;
        detached = detached_partition(stmt, &detached_root);
    }
    // An admin's COPY FROM that row security would refuse (admin_copy.cpp).
    bool copied = IsA(stmt, CopyStmt) && !in_own_extension_script() && extension_present() &&
                  copy_as_admin(pstmt, query_string, query_env, qc);
    if (!copied && previous_utility != nullptr)
        previous_utility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc);
    else if (!copied)
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                dest, qc);
    if (OidIsValid(detached))
        enable_detached(detached, detached_root);
    // A TRUNCATE (or a procedure, a DO block) issued on its own has ended;
    // a NOTIFY among a rule's actions has not.
    if (executor_depth() == 0 && finishing_query() == nullptr && !statement_goes_on(pstmt))
        end_of_statement();
}

} // namespace

void install_ddl_guard()
{
    previous_utility = ProcessUtility_hook;
    ProcessUtility_hook = guard_utility;
}

} // namespace softdelete
