// The counts behind softdelete.status that only a read of the table can
// give: how many rows are deleted, and since when. They are exact, and
// cheap where it matters: both read the partial index on deleted rows that
// enable() makes for the purge path, so their cost follows the number of
// deleted rows, not the size of the table. (Live rows, which would need a
// scan of the whole table, are estimated by the view from the statistics
// instead.) The reads run as the table's owner, outside row security, which
// would hide deleted rows from the reader asking; only a reader of the table
// may ask.
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "key_sql.hpp"
#include "owner_statement.hpp"
#include "table_config.hpp"

extern "C" {

// softdelete_internal.deleted_rows(tbl, OUT deleted_rows bigint, OUT
// oldest_deletion timestamptz), for softdelete.status.
PG_FUNCTION_INFO_V1(softdelete_deleted_rows);
Datum softdelete_deleted_rows(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a table is required")));
    Oid relid = PG_GETARG_OID(0);
    softdelete::TableConfig cfg;
    softdelete::require_enabled_table(relid, &cfg);
    if (!softdelete::is_reader(cfg.root))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to count deleted rows of table %s",
                               softdelete::relation_display_name(relid)),
                        errhint("Readers are admins and members of softdelete_reader.")));
    // ONLY for a plain table: an enabled inheritance child counts for itself.
    const char* target =
        psprintf("%s%s", get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
                 softdelete::relation_display_name(relid));
    const char* column = quote_identifier(get_attname(relid, cfg.deleted_at, false));
    Oid owner = softdelete::relation_owner(relid);
    softdelete::OwnerStatement count = softdelete::run_as_owner(
        owner, psprintf("SELECT pg_catalog.count(*) FROM %s WHERE %s IS NOT NULL", target, column),
        0, nullptr, nullptr, false);
    softdelete::OwnerStatement oldest = softdelete::run_as_owner(
        owner,
        psprintf(
            "SELECT %s FROM %s WHERE %s IS NOT NULL",
            softdelete::instant_sql(relid, cfg.deleted_at, psprintf("pg_catalog.min(%s)", column)),
            target, column),
        0, nullptr, nullptr, false);

    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "softdelete_internal.deleted_rows() must return a record");
    desc = BlessTupleDesc(desc);
    Datum out[2] = {count.first_value != nullptr
                        ? DirectFunctionCall1(int8in, CStringGetDatum(count.first_value))
                        : Int64GetDatum(0),
                    (Datum)0};
    bool nulls[2] = {false, oldest.first_value == nullptr};
    if (oldest.first_value != nullptr)
        out[1] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(oldest.first_value),
                                     ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, nulls)));
}
}
