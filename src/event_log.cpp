// softdelete.events, the history that outlives rows, and NOTIFY softdelete.
//
// Rows are noted under the running operation (operations.cpp) by the
// statements that change them: a rewritten DELETE or a routed tombstone
// write notes each row it wrote (row_notes.cpp), and softdelete_log_delete,
// an AFTER DELETE row trigger, notes each row a hard delete removed. When the
// statement ends, one event per table and action is written here: one row
// of the log, written by the extension itself (event_row.cpp), so that no
// other role can write the log, and one NOTIFY.
#include <algorithm>
#include "error_bridge.hpp"
#include "event_log.hpp"
#include "event_row.hpp"
#include "executor_hooks.hpp"
#include "extension_objects.hpp"
#include "operations.hpp"
#include "purge.hpp"
#include "settings.hpp"
#include "table_config.hpp"
#include "trigger_call.hpp"

extern "C" {
#include "commands/async.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
}

namespace softdelete
{

namespace
{

// The stored form of an integer as numeric: a varlena holding a 16-bit
// header and the digits in base 10000, most significant first, without
// leading or trailing zero digits. Integers always fit numeric's short
// header: sign, display scale 0, and a weight (the power of 10000 of the
// first digit) of at most 4. This is the form int64_to_numeric() makes and
// that every release since 9.1 reads and writes (sql/events.sql compares
// the two); making it here costs a tenth of that call and its palloc, which
// a purge batch paid for each of its thousands of keys.
constexpr uint16 numeric_short = 0x8000;
constexpr uint16 numeric_short_negative = 0x2000;
constexpr uint16 numeric_short_weight = 0x003F;
constexpr uint64 numeric_base = 10000;
constexpr int int64_numeric_digits = 5;
constexpr int int64_numeric_size = VARHDRSZ + sizeof(uint16) + int64_numeric_digits * sizeof(int16);

int int64_numeric(int64 value, char* out)
{
    uint64 magnitude = value < 0 ? -static_cast<uint64>(value) : static_cast<uint64>(value);
    // Least significant first.
    int16 reversed[int64_numeric_digits];
    int count = 0;
    for (; magnitude > 0; magnitude /= numeric_base)
        reversed[count++] = static_cast<int16>(magnitude % numeric_base);
    int weight = count - 1;
    int low = 0;
    while (low < count && reversed[low] == 0)
        low++;
    int16 digits[int64_numeric_digits];
    int n = 0;
    for (int i = count - 1; i >= low; i--)
        digits[n++] = reversed[i];
    uint16 header = numeric_short;
    if (n > 0) {
        header |= static_cast<uint16>(weight) & numeric_short_weight;
        if (value < 0)
            header |= numeric_short_negative;
    }
    int size = VARHDRSZ + sizeof header + n * sizeof(int16);
    SET_VARSIZE(out, size);
    memcpy(out + VARHDRSZ, &header, sizeof header);
    memcpy(out + VARHDRSZ + sizeof header, digits, n * sizeof(int16));
    return size;
}

// A jsonb array of integers, written in jsonb's stored form directly (as
// convertToJsonb() lays out an array: a header, one JEntry per element with
// an offset in every JB_OFFSET_STRIDE'th, then each numeric on an int
// boundary). A purge batch logs thousands of keys: going through a
// JsonbValue tree costs about twice as much.
Datum int_array_jsonb(const int64* values, int n)
{
    if (static_cast<uint32>(n) > JB_CMASK)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("number of jsonb array elements exceeds the maximum allowed (%u)",
                               JB_CMASK)));
    StringInfoData buffer;
    initStringInfo(&buffer);
    // Room for n small numbers up front, never past what a jsonb may hold
    // (beyond it the loop below refuses, with jsonb's own message).
    enlargeStringInfo(
        &buffer, static_cast<int>(std::min<size_t>(
                     VARHDRSZ + sizeof(uint32) + static_cast<size_t>(n) * (sizeof(JEntry) + 16),
                     JENTRY_OFFLENMASK)));
    buffer.len = VARHDRSZ;
    uint32 header = static_cast<uint32>(n) | JB_FARRAY;
    appendBinaryStringInfo(&buffer, reinterpret_cast<const char*>(&header), sizeof header);
    int entries = buffer.len;
    buffer.len += n * sizeof(JEntry);
    uint32 total = 0;
    for (int i = 0; i < n; i++) {
        int padding = INTALIGN(buffer.len) - buffer.len;
        enlargeStringInfo(&buffer, padding + int64_numeric_size);
        memset(buffer.data + buffer.len, 0, padding);
        uint32 length = padding + int64_numeric(values[i], buffer.data + buffer.len + padding);
        buffer.len += length;
        total += length;
        if (total > JENTRY_OFFLENMASK)
            ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                            errmsg("total size of jsonb array elements exceeds the maximum of %u "
                                   "bytes",
                                   JENTRY_OFFLENMASK)));
        JEntry entry =
            JENTRY_ISNUMERIC | (i % JB_OFFSET_STRIDE == 0 ? (total | JENTRY_HAS_OFF) : length);
        memcpy(buffer.data + entries + i * sizeof(JEntry), &entry, sizeof entry);
    }
    SET_VARSIZE(buffer.data, buffer.len);
    return PointerGetDatum(buffer.data);
}

// The keys as the jsonb the log stores. A bulk delete's keys are mostly
// integers: building their array directly costs a fraction of what parsing
// the text with jsonb_in does (which reads every number as numeric text).
// Anything else (text keys, composite keys as objects, an integer beyond
// int64) goes to jsonb_in.
Datum keys_jsonb(const char* keys_array)
{
    const char* p = keys_array;
    int n = 0;
    int size = 16;
    auto* values = static_cast<int64*>(palloc(sizeof(int64) * size));
    bool complete = false;
    if (*p++ == '[') {
        for (bool first = true;; first = false) {
            while (*p == ' ')
                p++;
            if (*p == ']' && first) {
                complete = true;
                break;
            }
            bool negative = *p == '-';
            if (negative)
                p++;
            const char* digits = p;
            while (*p >= '0' && *p <= '9')
                p++;
            int count = static_cast<int>(p - digits);
            if (count == 0 || (*digits == '0' && count > 1))
                break;
            int64 value = 0;
            if (count <= 18) {
                // Fewer than 19 digits cannot overflow.
                for (const char* d = digits; d < p; d++)
                    value = value * 10 + (*d - '0');
                if (negative)
                    value = -value;
            } else {
                // Accumulated as a negative number, which reaches INT64_MIN.
                bool overflow = false;
                for (const char* d = digits; d < p; d++)
                    overflow = overflow || pg_mul_s64_overflow(value, 10, &value) ||
                               pg_sub_s64_overflow(value, *d - '0', &value);
                if (overflow || (!negative && pg_mul_s64_overflow(value, -1, &value)))
                    break;
            }
            if (n == size) {
                size *= 2;
                values = static_cast<int64*>(repalloc_huge(values, sizeof(int64) * size));
            }
            values[n++] = value;
            while (*p == ' ')
                p++;
            if (*p == ']') {
                complete = true;
                break;
            }
            if (*p++ != ',')
                break;
        }
    }
    if (!complete || p[1] != '\0')
        return DirectFunctionCall1(jsonb_in, CStringGetDatum(keys_array));
    return int_array_jsonb(values, n);
}

void insert_event(const RecordedEvent& event, const char* table_name, Datum keys)
{
    EventRow row = {event.op,     event.root,       table_name, event.action, event.actor,
                    event.reason, event.rows_known, event.rows, keys};
    insert_event_row(row);
}

// Integer keys as the JSON array NOTIFY sends.
char* int_array_text(const int64* values, int64 n)
{
    StringInfoData text;
    initStringInfo(&text);
    appendStringInfoChar(&text, '[');
    append_int_keys(&text, values, n, false);
    appendStringInfoChar(&text, ']');
    return text.data;
}

// NOTIFY payloads are limited to 8000 bytes: the keys go along when they fit.
constexpr int notify_payload_limit = 7999;

void send_notification(const RecordedEvent& event, const char* table_name, const char* keys_array)
{
    StringInfoData payload;
    initStringInfo(&payload);
    appendStringInfo(&payload, "{\"op\": " INT64_FORMAT ", \"table\": ", event.op);
    escape_json(&payload, table_name);
    appendStringInfoString(&payload, ", \"action\": ");
    escape_json(&payload, event.action);
    if (event.rows_known)
        appendStringInfo(&payload, ", \"rows\": " INT64_FORMAT, event.rows);
    else
        appendStringInfoString(&payload, ", \"rows\": null");
    int without_keys = payload.len;
    if (keys_array != nullptr) {
        appendStringInfoString(&payload, ", \"keys\": ");
        appendStringInfoString(&payload, keys_array);
    }
    appendStringInfoChar(&payload, '}');
    if (payload.len > notify_payload_limit) {
        payload.len = without_keys;
        payload.data[payload.len] = '\0';
        appendStringInfoString(&payload, ", \"keys\": null}");
    }
    Async_Notify("softdelete", payload.data);
}

// A key column's value as JSON: integers as numbers, booleans as booleans,
// everything else as a string. Dates and times are written in ISO 8601, as
// to_jsonb() writes them, and floating-point numbers with the fewest digits
// that read back exactly: their text forms follow the session's DateStyle,
// TimeZone and extra_float_digits, and a log written under "SQL, DMY" (or
// with fewer digits) would name other rows to a reader with other settings.
void append_json_value(StringInfo out, Datum value, bool isnull, Oid type, FmgrInfo* output)
{
    if (isnull) {
        appendStringInfoString(out, "null");
        return;
    }
    // Integer keys are written straight into the buffer: a bulk delete
    // writes one per row, and the output function's palloc'd copy cost more
    // than the digits.
    char digits[MAXINT8LEN + 1];
    switch (type) {
    case INT2OID:
        appendBinaryStringInfo(out, digits, pg_ltoa(DatumGetInt16(value), digits));
        break;
    case INT4OID:
        appendBinaryStringInfo(out, digits, pg_ltoa(DatumGetInt32(value), digits));
        break;
    case INT8OID:
        appendBinaryStringInfo(out, digits, pg_lltoa(DatumGetInt64(value), digits));
        break;
    case OIDOID:
        appendStringInfoString(out, OutputFunctionCall(output, value));
        break;
    case BOOLOID:
        appendStringInfoString(out, DatumGetBool(value) ? "true" : "false");
        break;
    case DATEOID:
    case TIMEOID:
    case TIMETZOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID: {
        char iso[MAXDATELEN + 1];
        escape_json(out, JsonEncodeDateTime(iso, value, type, nullptr));
        break;
    }
    case FLOAT4OID: {
        char shortest[FLOAT_SHORTEST_DECIMAL_LEN];
        (void)float_to_shortest_decimal_buf(DatumGetFloat4(value), shortest);
        escape_json(out, shortest);
        break;
    }
    case FLOAT8OID: {
        char shortest[DOUBLE_SHORTEST_DECIMAL_LEN];
        (void)double_to_shortest_decimal_buf(DatumGetFloat8(value), shortest);
        escape_json(out, shortest);
        break;
    }
    default:
        escape_json(out, OutputFunctionCall(output, value));
        break;
    }
}

// The schema-qualified name of the table whose event was written last: a
// run of one-row deletes names the same table each time, and three catalog
// lookups and the quoting cost more than a tenth of the event's insert.
// Forgotten when the table is renamed or moved (a relcache invalidation) or
// a schema is renamed (pg_namespace).
struct LastName {
    Oid relid;
    char* name; // in TopMemoryContext
};
LastName last_name = {};

} // namespace

void forget_event_names(Oid relid)
{
    if (OidIsValid(relid) && relid != last_name.relid)
        return;
    if (last_name.name != nullptr)
        pfree(last_name.name);
    last_name = {};
}

namespace
{

void forget_last_name_on_schema_change(Datum, int, uint32)
{
    forget_event_names(InvalidOid);
}

char* qualified_table_name(Oid relid)
{
    if (OidIsValid(relid) && relid == last_name.relid)
        return pstrdup(last_name.name);
    char* name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                            get_rel_name(relid));
    forget_event_names(InvalidOid);
    last_name.name = MemoryContextStrdup(TopMemoryContext, name);
    last_name.relid = relid;
    return name;
}

// The current role's name, the actor of every operation unless
// softdelete.actor is set, kept while the role stays the same and
// pg_authid does not change (a rename; see forget_role_name()).
struct RoleName {
    Oid role;
    char name[NAMEDATALEN];
};
RoleName role_name = {};

const char* current_role_name()
{
    Oid role = GetUserId();
    if (role != role_name.role) {
        role_name.role = InvalidOid;
        strlcpy(role_name.name, GetUserNameFromId(role, false), NAMEDATALEN);
        role_name.role = role;
    }
    return role_name.name;
}

} // namespace

void forget_role_name()
{
    role_name.role = InvalidOid;
}

void register_event_log_invalidation()
{
    CacheRegisterSyscacheCallback(NAMESPACEOID, forget_last_name_on_schema_change, (Datum)0);
}

void append_int_keys(StringInfo out, const int64* values, int64 n, bool after_others)
{
    char digits[MAXINT8LEN + 1];
    for (int64 i = 0; i < n; i++) {
        if (after_others || i > 0)
            appendBinaryStringInfo(out, ", ", 2);
        appendBinaryStringInfo(out, digits, pg_lltoa(values[i], digits));
    }
}

const char* actor_name()
{
    const char* actor = actor_setting;
    if (actor == nullptr || actor[0] == '\0')
        actor = current_role_name();
    return actor;
}

int pin_actor()
{
    int level = NewGUCNestLevel();
    (void)set_config_option("softdelete.actor", actor_name(), PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
    return level;
}

const char* reason_text()
{
    const char* reason = reason_setting;
    return reason != nullptr && reason[0] != '\0' ? reason : nullptr;
}

// actor() and reason() are STABLE, like now(): one value for the whole
// statement, read once per call site and kept with it, where a rewritten
// DELETE of many rows would otherwise look up the setting and the role's
// name for every row.
namespace
{
struct StatementText {
    bool isnull;
    text* value;
};

template <typename Read> Datum statement_text(FunctionCallInfo fcinfo, Read read)
{
    auto* kept = static_cast<StatementText*>(fcinfo->flinfo->fn_extra);
    if (kept == nullptr) {
        const char* value = read();
        kept = static_cast<StatementText*>(
            MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(StatementText)));
        kept->isnull = value == nullptr;
        if (value != nullptr) {
            MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
            kept->value = cstring_to_text(value);
            MemoryContextSwitchTo(old);
        }
        fcinfo->flinfo->fn_extra = kept;
    }
    if (kept->isnull)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(kept->value);
}
} // namespace

KeyFormat* make_key_format(MemoryContext context, const TableConfig& cfg, const Oid* types)
{
    int nkeys = cfg.nkeys;
    MemoryContext old = MemoryContextSwitchTo(context);
    auto* format = static_cast<KeyFormat*>(palloc0(sizeof(KeyFormat)));
    format->nkeys = nkeys;
    format->context = context;
    format->names = static_cast<char**>(palloc0(sizeof(char*) * (nkeys > 0 ? nkeys : 1)));
    format->types = static_cast<Oid*>(palloc(sizeof(Oid) * (nkeys > 0 ? nkeys : 1)));
    for (int k = 0; k < nkeys; k++) {
        format->types[k] = types != nullptr ? types[k] : get_atttype(cfg.relid, cfg.keys[k]);
        // Only a composite key is written with its columns' names.
        if (nkeys != 1)
            format->names[k] = get_attname(cfg.relid, cfg.keys[k], false);
    }
    MemoryContextSwitchTo(old);
    return format;
}

RowKeys* row_keys(FmgrInfo* flinfo, const TableConfig& cfg, const Oid* types)
{
    auto* keys = static_cast<RowKeys*>(flinfo->fn_extra);
    if (keys != nullptr && keys->cfg.relid == cfg.relid)
        return keys;
    keys = static_cast<RowKeys*>(MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(RowKeys)));
    keys->cfg = cfg;
    keys->format = make_key_format(flinfo->fn_mcxt, cfg, types);
    flinfo->fn_extra = keys;
    return keys;
}

void note_row_keys(RowKeys* keys, Action action, int64 deleted_by_op)
{
    // A soft-deleted row's integer key stays an integer until the event's
    // jsonb is built (a restore also notes the operation it undoes, as text).
    if (action == Action::soft_delete && integer_key(keys->format) && !keys->nulls[0]) {
        int64 value = integer_key_value(keys->format->types[0], keys->values[0]);
        note_row_ints(keys->cfg.root, action, &value, 1);
        return;
    }
    append_key(note_one_row(keys->cfg.root, action, deleted_by_op), keys->format, keys->values,
               keys->nulls);
}

void append_key(StringInfo out, KeyFormat* format, const Datum* values, const bool* nulls)
{
    if (format->outputs == nullptr) {
        auto* outputs = static_cast<FmgrInfo*>(
            MemoryContextAlloc(format->context, sizeof(FmgrInfo) * format->nkeys));
        for (int k = 0; k < format->nkeys; k++) {
            Oid output;
            bool varlena;
            getTypeOutputInfo(format->types[k], &output, &varlena);
            fmgr_info_cxt(output, &outputs[k], format->context);
        }
        format->outputs = outputs;
    }
    bool object = format->nkeys != 1;
    if (object)
        appendStringInfoChar(out, '{');
    for (int k = 0; k < format->nkeys; k++) {
        if (object) {
            if (k > 0)
                appendStringInfoString(out, ", ");
            escape_json(out, format->names[k]);
            appendStringInfoString(out, ": ");
        }
        append_json_value(out, values[k], nulls[k], format->types[k], &format->outputs[k]);
    }
    if (object)
        appendStringInfoChar(out, '}');
}

void record_event(const RecordedEvent& event)
{
    TableConfig cfg;
    bool enabled = table_config(event.root, &cfg);
    // A table disabled by the same statement still gets its record.
    bool log = !event.optional_log || !enabled || cfg.log_events;
    bool notify = enabled && cfg.notify;
    if (!log && !notify)
        return;
    char* table_name = qualified_table_name(event.root);
    char* keys_array = nullptr;
    if (event.ints != nullptr) {
        if (log) {
            if (event.nints > INT_MAX)
                ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                                errmsg("an operation's event cannot hold " INT64_FORMAT " keys",
                                       event.nints)));
            insert_event(event, table_name,
                         int_array_jsonb(event.ints, static_cast<int>(event.nints)));
        }
        if (notify)
            send_notification(event, table_name, int_array_text(event.ints, event.nints));
        return;
    }
    if (event.keys != nullptr)
        keys_array = psprintf("[%s]", event.keys);
    if (log)
        insert_event(event, table_name, keys_array != nullptr ? keys_jsonb(keys_array) : (Datum)0);
    if (notify)
        send_notification(event, table_name, keys_array);
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_actor);
Datum softdelete_actor(PG_FUNCTION_ARGS)
{
    return softdelete::statement_text(fcinfo, softdelete::actor_name);
}

PG_FUNCTION_INFO_V1(softdelete_reason);
Datum softdelete_reason(PG_FUNCTION_ARGS)
{
    return softdelete::statement_text(fcinfo, softdelete::reason_text);
}

// The log trigger: an AFTER DELETE row trigger, for rows a hard delete
// removed. Arguments: the deleted_at column, then the primary key's columns
// (what enable() found; the configuration is what is read).
PG_FUNCTION_INFO_V1(softdelete_log_changes);
Datum softdelete_log_changes(PG_FUNCTION_ARGS)
{
    TriggerData* trigger = softdelete::trigger_data(fcinfo, "softdelete_internal.log_changes()");
    if (!TRIGGER_FIRED_AFTER(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
        !TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete_internal.log_changes() must be an AFTER DELETE row "
                               "trigger")));
    // Only on a table that is enabled: nobody can have it log anything else.
    softdelete::TableConfig cfg;
    softdelete::require_table_config(trigger->tg_relation, &cfg);
    // An UPDATE moving a row to another partition deletes it here and
    // inserts it there: nothing was removed.
    if (softdelete::moving_rows_between_partitions(softdelete::finishing_query()))
        return PointerGetDatum(nullptr);
    softdelete::RowKeys* keys = softdelete::row_keys(fcinfo->flinfo, cfg, nullptr);
    for (int k = 0; k < cfg.nkeys; k++)
        keys->values[k] = slot_getattr(trigger->tg_trigslot, cfg.keys[k], &keys->nulls[k]);
    softdelete::note_row_keys(keys, softdelete::purge_in_progress()
                                        ? softdelete::Action::purge
                                        : softdelete::Action::hard_delete);
    return PointerGetDatum(nullptr);
}
}
