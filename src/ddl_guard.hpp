// The drift guard: DDL that would switch soft delete off without
// softdelete.disable() is refused before it runs.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Installs the ProcessUtility hook, chained after any hook installed before.
void install_ddl_guard();

} // namespace softdelete
