// Archive tables. A table enabled with archive => true has its purged rows
// copied, in the statement that removes them (purge.cpp), to its archive
// table in schema softdelete_archive: the table's columns, then
// archived_at. It is made by the table's first purge, due rows or not:
//
//  * named "<schema>.<table>" after the table (one identifier: a table's
//    name in any schema, with any characters, gives a different one);
//    longer than PostgreSQL's 63 bytes, it is cut and ends in a hash of the
//    whole name; a name already taken (an archive left by a dropped table)
//    gets "~2", "~3", ... Never an OID: names must survive a dump.
//  * found through softdelete_internal.archives (table -> archive), which
//    pg_dump keeps, so a renamed table keeps its archive;
//  * owned by the table's owner (and given to its new owner if it changes),
//    with no privilege for anyone else; columns nullable (an archived row
//    never fails a constraint the table dropped since), of base types (a
//    domain's NOT NULL or CHECK would too) and plain (no defaults,
//    identities or generation expressions: values are copied);
//  * a column the table gained is added before the next copy; a column it
//    dropped stays (NULL in rows archived since); a column whose type
//    changed is copied with an assignment cast;
//  * REPLICA IDENTITY FULL, and the publisher's rows ignored on a logical
//    replication subscriber, which keeps its own archive.
#include "archive.hpp"
#include "extension_objects.hpp"
#include "key_sql.hpp"
#include "owner_statement.hpp"
#include "returned_keys.hpp"

extern "C" {
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "utils/ruleutils.h"
}

namespace softdelete
{

namespace
{

const char* const archive_schema = "softdelete_archive";

// The archive schema's DDL and the catalog of archives are the extension's
// own: run as the current role (the extension's owner, or the worker's).
void run_ddl(const char* sql)
{
    (void)run_statement(sql, 0, nullptr, nullptr);
}

// "<schema>.<table>" of relid, as long as a name may be.
char* archive_base_name(Oid relid)
{
    char* full =
        psprintf("%s.%s", get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
    int len = strlen(full);
    if (len < NAMEDATALEN)
        return full;
    uint32 hash = hash_bytes(reinterpret_cast<const unsigned char*>(full), len);
    // Cut on a character boundary, leaving room for "_" and 8 hex digits.
    int keep = pg_mbcliplen(full, len, NAMEDATALEN - 1 - 9);
    return psprintf("%.*s_%08x", keep, full, hash);
}

// The first of base, base~2, base~3, ... free in the archive schema.
char* free_archive_name(Oid relid)
{
    Oid schema = get_namespace_oid(archive_schema, false);
    char* base = archive_base_name(relid);
    char* name = base;
    for (int n = 2; OidIsValid(get_relname_relid(name, schema)); n++) {
        char* suffix = psprintf("~%d", n);
        int keep = pg_mbcliplen(base, strlen(base), NAMEDATALEN - 1 - strlen(suffix));
        name = psprintf("%.*s%s", keep, base, suffix);
    }
    return name;
}

// "name type [COLLATE c]" of a column, as a plain column of the archive.
// A domain's base type, not the domain: a domain's constraints (NOT NULL,
// CHECK) would refuse the NULL that rows archived after the column is
// dropped carry, and erase() writes.
char* column_definition(Form_pg_attribute att)
{
    int32 typmod = att->atttypmod;
    Oid type = getBaseTypeAndTypmod(att->atttypid, &typmod);
    char* def = psprintf(
        "%s %s", quote_identifier(NameStr(att->attname)),
        format_type_extended(type, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
    if (OidIsValid(att->attcollation) && att->attcollation != get_typcollation(type))
        def = psprintf("%s COLLATE %s", def, generate_collation_name(att->attcollation));
    return def;
}

// The user columns of relid (a List of Form_pg_attribute copies).
List* user_columns(Oid relid)
{
    Relation rel = relation_open(relid, AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    List* columns = NIL;
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped)
            continue;
        auto* copy = static_cast<Form_pg_attribute>(palloc(ATTRIBUTE_FIXED_PART_SIZE));
        memcpy(copy, att, ATTRIBUTE_FIXED_PART_SIZE);
        columns = lappend(columns, copy);
    }
    relation_close(rel, AccessShareLock);
    return columns;
}

Oid create_archive(Oid relid)
{
    char* name = free_archive_name(relid);
    char* target = quote_qualified_identifier(archive_schema, name);
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "CREATE TABLE %s (", target);
    ListCell* lc;
    foreach (lc, user_columns(relid))
        appendStringInfo(&sql, "%s, ",
                         column_definition(static_cast<Form_pg_attribute>(lfirst(lc))));
    appendStringInfoString(&sql, "archived_at timestamptz NOT NULL)");
    run_ddl(sql.data);
    // Expiry reads rows by archived_at, oldest first.
    run_ddl(psprintf("CREATE INDEX ON %s (archived_at)", target));
    // An archive has no key, and a FOR ALL TABLES publication publishes its
    // expiry's deletes: without a replica identity PostgreSQL refuses them on
    // the publisher. A subscriber ignores the publisher's rows (as in the
    // extension's other tables: replicated_rows.cpp). INSERT is enough here:
    // archived rows are never updated, and a replicated delete, looked up by
    // the whole row (a scan of the subscriber's archive), finds none of the
    // subscriber's own, archived at another time. A BEFORE DELETE trigger
    // would cost the expiry a tuple lock per row, even where it never fires.
    run_ddl(psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", target));
    // The trigger function came with 1.1.0: between a restart with this
    // module and ALTER EXTENSION ... UPDATE it is missing, and the update
    // gives the trigger to the archives made meanwhile.
    if (OidIsValid(internal_function_oid("ignore_replicated_row", 0, nullptr))) {
        run_ddl(psprintf("CREATE TRIGGER ignore_replicated_row BEFORE INSERT ON %s FOR EACH ROW "
                         "EXECUTE FUNCTION softdelete_internal.ignore_replicated_row()",
                         target));
        run_ddl(psprintf("ALTER TABLE %s ENABLE REPLICA TRIGGER ignore_replicated_row", target));
    }
    char* owner = GetUserNameFromId(relation_owner(relid), false);
    run_ddl(psprintf("REVOKE ALL ON TABLE %s FROM PUBLIC", target));
    run_ddl(psprintf("ALTER TABLE %s OWNER TO %s", target, quote_identifier(owner)));
    run_ddl(psprintf("GRANT USAGE ON SCHEMA %s TO %s", archive_schema, quote_identifier(owner)));
    Oid archive = get_relname_relid(name, get_namespace_oid(archive_schema, false));
    Oid types[] = {REGCLASSOID, REGCLASSOID};
    Datum values[] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(archive)};
    (void)run_statement("INSERT INTO softdelete_internal.archives (relid, archive) VALUES ($1, $2)",
                        2, types, values);
    return archive;
}

// The archive's owner, relid's.
void follow_owner(Oid relid, Oid archive)
{
    Oid owner = relation_owner(relid);
    if (relation_owner(archive) != owner) {
        const char* name = quote_identifier(GetUserNameFromId(owner, false));
        run_ddl(psprintf("ALTER TABLE %s OWNER TO %s", relation_sql(archive), name));
        run_ddl(psprintf("GRANT USAGE ON SCHEMA %s TO %s", archive_schema, name));
    }
}

// Columns relid gained since its archive was made, added to the archive;
// the archive's owner, relid's.
void follow_table(Oid relid, Oid archive)
{
    const char* target = relation_sql(archive);
    ListCell* lc;
    foreach (lc, user_columns(relid)) {
        auto* att = static_cast<Form_pg_attribute>(lfirst(lc));
        if (get_attnum(archive, NameStr(att->attname)) == InvalidAttrNumber)
            run_ddl(psprintf("ALTER TABLE %s ADD COLUMN %s", target, column_definition(att)));
    }
    follow_owner(relid, archive);
}

} // namespace

Oid archive_of(Oid relid)
{
    Oid types[] = {REGCLASSOID};
    Datum values[] = {ObjectIdGetDatum(relid)};
    OwnerStatement found =
        run_statement("SELECT archive::pg_catalog.oid FROM softdelete_internal.archives "
                      "WHERE relid = $1",
                      1, types, values);
    if (found.first_value == nullptr)
        return InvalidOid;
    Oid archive = DatumGetObjectId(DirectFunctionCall1(oidin, CStringGetDatum(found.first_value)));
    // Dropped by hand since (forget_dropped_tables() forgets it too).
    return SearchSysCacheExists1(RELOID, ObjectIdGetDatum(archive)) ? archive : InvalidOid;
}

Oid owned_archive(Oid relid)
{
    Oid archive = archive_of(relid);
    if (OidIsValid(archive))
        follow_owner(relid, archive);
    return archive;
}

Oid prepare_archive(Oid relid)
{
    Oid archive = archive_of(relid);
    if (!OidIsValid(archive)) {
        // One maker at a time (the worker and a purge() may meet here); the
        // second finds the first's archive.
        run_ddl("LOCK TABLE softdelete_internal.archives IN SHARE ROW EXCLUSIVE MODE");
        archive = archive_of(relid);
        if (!OidIsValid(archive)) {
            if (get_attnum(relid, "archived_at") != InvalidAttrNumber)
                ereport(ERROR,
                        (errcode(ERRCODE_DUPLICATE_COLUMN),
                         errmsg("cannot archive rows of %s: it has a column archived_at",
                                relation_sql(relid)),
                         errdetail("Its archive table adds a column of that name."),
                         errhint("Rename the column, or enable the table with archive => false.")));
            // A stale entry (its archive dropped by hand) makes way.
            Oid types[] = {REGCLASSOID};
            Datum values[] = {ObjectIdGetDatum(relid)};
            (void)run_statement("DELETE FROM softdelete_internal.archives WHERE relid = $1", 1,
                                types, values);
            return create_archive(relid);
        }
    }
    follow_table(relid, archive);
    return archive;
}

List* archived_columns(Oid relid)
{
    List* names = NIL;
    ListCell* lc;
    foreach (lc, user_columns(relid))
        names = lappend(names, const_cast<char*>(quote_identifier(
                                   NameStr(static_cast<Form_pg_attribute>(lfirst(lc))->attname))));
    return names;
}

ExpiredRows expire_archived_rows(Oid archive, const TableConfig& cfg, Interval* retention,
                                 int64 limit)
{
    // The archived rows carry the table's key columns under the same names.
    const char* target = relation_sql(archive);
    char* sql =
        psprintf("DELETE FROM %s AS t WHERE t.ctid = ANY (ARRAY("
                 "SELECT o.ctid FROM %s AS o WHERE o.archived_at < pg_catalog.now() - $1 "
                 "ORDER BY o.archived_at LIMIT $2 FOR UPDATE OF o SKIP LOCKED)) RETURNING %s",
                 target, target, key_columns_sql(cfg, "t"));
    Oid types[] = {INTERVALOID, INT8OID};
    Datum values[] = {IntervalPGetDatum(retention), Int64GetDatum(limit)};
    ReturnedKeys gone =
        run_returning_keys(relation_owner(archive), cfg, sql, 2, types, values, false, false);
    return ExpiredRows{gone.rows, gone.keys};
}

} // namespace softdelete

extern "C" {

// What find(tbl) finds for an existing relation tbl, NULL for none.
static Datum archive_or_null(FunctionCallInfo fcinfo, Oid (*find)(Oid))
{
    Oid relid = PG_GETARG_OID(0);
    softdelete::require_relation(relid);
    Oid archive = find(relid);
    if (!OidIsValid(archive))
        PG_RETURN_NULL();
    PG_RETURN_OID(archive);
}

// softdelete_internal.archive_table(tbl): tbl's archive table, NULL when it
// has none yet.
PG_FUNCTION_INFO_V1(softdelete_archive_table);
Datum softdelete_archive_table(PG_FUNCTION_ARGS)
{
    return archive_or_null(fcinfo, softdelete::archive_of);
}

// softdelete_internal.owned_archive(tbl): owned_archive().
PG_FUNCTION_INFO_V1(softdelete_owned_archive);
Datum softdelete_owned_archive(PG_FUNCTION_ARGS)
{
    return archive_or_null(fcinfo, softdelete::owned_archive);
}
}
