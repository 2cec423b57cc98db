// softdelete_internal.ignore_replicated_row(): the extension's own tables
// (softdelete.tables, softdelete.events, softdelete.runs, the archive tables
// and their catalog) describe the node they are on. A FOR ALL TABLES
// publication carries them all the same, and PostgreSQL 15 has no way to
// leave tables out of one. Applied on a subscriber, the publisher's rows
// would collide with the subscriber's own (its configuration, numbered
// events and runs) and stop the subscription in a loop of duplicate keys; the
// events' and runs' relids would name the publisher's tables.
//
// So each of those tables has this trigger, BEFORE INSERT OR UPDATE OR
// DELETE and enabled for the replica role only (ENABLE REPLICA TRIGGER): it
// fires only where session_replication_role = replica, which logical
// replication's apply and table-sync workers set, and there it drops the
// row. The subscriber keeps its own configuration, log, runs and archive;
// the publisher's rows are read on the publisher. Another session running
// as replica (a tool loading data with triggers off) is not a replication
// worker: its rows are kept.
#include "pg.hpp"
#include "trigger_call.hpp"

extern "C" {
#include "replication/logicalworker.h"

PG_FUNCTION_INFO_V1(softdelete_ignore_replicated_row);
Datum softdelete_ignore_replicated_row(PG_FUNCTION_ARGS)
{
    TriggerData* trigger =
        softdelete::trigger_data(fcinfo, "softdelete_internal.ignore_replicated_row()");
    if (!TRIGGER_FIRED_FOR_ROW(trigger->tg_event) || !TRIGGER_FIRED_BEFORE(trigger->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete_internal.ignore_replicated_row() must fire BEFORE, "
                               "FOR EACH ROW")));
    if (IsLogicalWorker())
        return PointerGetDatum(nullptr);
    return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple
                                                                      : trigger->tg_trigtuple);
}
}
