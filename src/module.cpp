// Module entry: settings, hooks and cache invalidation, plus the small
// SQL-callable functions that belong to no other room.
#include "authorization.hpp"
#include "database_guard.hpp"
#include "ddl_guard.hpp"
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "extension_objects.hpp"
#include "operations.hpp"
#include "preloading.hpp"
#include "settings.hpp"
#include "statement_rewrite.hpp"
#include "table_config.hpp"
#include "worker_launcher.hpp"
#include "worker_registry.hpp"

extern "C" {

PG_MODULE_MAGIC;

static bool loaded_at_startup = false;

void _PG_init(void)
{
    loaded_at_startup = process_shared_preload_libraries_in_progress;
    softdelete::note_module_load(loaded_at_startup);
    softdelete::define_settings();
    softdelete::register_config_invalidation();
    softdelete::register_operation_callbacks();
    softdelete::register_event_log_invalidation();
    softdelete::register_role_invalidation();
    softdelete::install_planner_hook();
    softdelete::install_executor_hooks();
    softdelete::install_ddl_guard();
    // The lifecycle worker exists only when the module is preloaded: a
    // module loaded later can register no background worker and reserve no
    // shared memory (softdelete.purge() serves such installs).
    if (loaded_at_startup) {
        softdelete::request_worker_registry();
        softdelete::register_launcher();
        softdelete::install_database_guard();
    }
}

PG_FUNCTION_INFO_V1(softdelete_preloaded);
Datum softdelete_preloaded(PG_FUNCTION_ARGS)
{
    PG_RETURN_BOOL(loaded_at_startup);
}

// The time a soft delete stamps: the transaction's, like now().
PG_FUNCTION_INFO_V1(softdelete_deletion_stamp);
Datum softdelete_deletion_stamp(PG_FUNCTION_ARGS)
{
    PG_RETURN_TIMESTAMPTZ(GetCurrentTransactionStartTimestamp());
}

// enable() and disable() tell every backend to re-read a table's config.
PG_FUNCTION_INFO_V1(softdelete_invalidate);
Datum softdelete_invalidate(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    softdelete::require_relation(relid);
    CacheInvalidateRelcacheByRelid(relid);
    softdelete::forget_table_configs();
    PG_RETURN_VOID();
}
}
