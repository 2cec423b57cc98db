// GDPR erasure (softdelete.erase(tbl, key)). The statement that nulls a
// row's pii_columns is SQL, in erase_row() of the install script, like
// restore() and hard_delete(); this is its record: the erased row is noted
// under the running operation as an "erase", so that softdelete.events gets
// one row for it (always: log_events does not turn erasures off) and
// NOTIFY softdelete goes out for a table that asked, when the statement
// ends, and nothing when it rolls back.
#include "as_role.hpp"
#include "event_log.hpp"
#include "extension_objects.hpp"
#include "operations.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

// The text of key's field name, as ->> reads it; nullptr for a JSON null or
// a field that is not there.
const char* field_text(Jsonb* key, const char* name)
{
    JsonbValue found;
    JsonbValue* v = getKeyJsonValueFromContainer(&key->root, name, strlen(name), &found);
    if (v == nullptr)
        return nullptr;
    switch (v->type) {
    case jbvNull:
        return nullptr;
    case jbvString:
        return pnstrdup(v->val.string.val, v->val.string.len);
    case jbvNumeric:
        return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
    case jbvBool:
        return v->val.boolean ? "true" : "false";
    default:
        return JsonbToCString(nullptr, v->val.binary.data, v->val.binary.len);
    }
}

} // namespace

} // namespace softdelete

extern "C" {

// softdelete_internal.note_erasure(tbl, key): notes the row of tbl whose
// primary key key holds (a jsonb object of the key's columns, as the erasing
// statement returned them) as erased by the running operation.
PG_FUNCTION_INFO_V1(softdelete_note_erasure);
Datum softdelete_note_erasure(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("softdelete_internal.note_erasure() needs a table and a key")));
    Oid relid = PG_GETARG_OID(0);
    Jsonb* key = PG_GETARG_JSONB_P(1);
    softdelete::TableConfig cfg;
    softdelete::require_enabled_table(relid, &cfg);
    if (!JB_ROOT_IS_OBJECT(key))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("the key of an erased row must be a jsonb object of its columns")));
    softdelete::RowKeys* keys = softdelete::row_keys(fcinfo->flinfo, cfg, nullptr);
    // Read as the table's owner: a key's type may hold a domain (in a field
    // of a composite, an element of an array) whose CHECK is the owner's
    // code, which must not run as the extension's owner, who runs this.
    softdelete::as_role(softdelete::relation_owner(cfg.relid), SECURITY_RESTRICTED_OPERATION, [&] {
        for (int k = 0; k < cfg.nkeys; k++) {
            Oid type;
            int32 typmod;
            Oid collation;
            get_atttypetypmodcoll(cfg.relid, cfg.keys[k], &type, &typmod, &collation);
            const char* value =
                softdelete::field_text(key, get_attname(cfg.relid, cfg.keys[k], false));
            keys->nulls[k] = value == nullptr;
            if (value == nullptr) {
                keys->values[k] = (Datum)0;
                continue;
            }
            // The base type's input: the value is the row's own, checked.
            Oid base = getBaseTypeAndTypmod(type, &typmod);
            Oid input;
            Oid ioparam;
            getTypeInputInfo(base, &input, &ioparam);
            keys->values[k] =
                OidInputFunctionCall(input, const_cast<char*>(value), ioparam, typmod);
        }
    });
    softdelete::note_row_keys(keys, softdelete::Action::erase);
    PG_RETURN_VOID();
}
}
