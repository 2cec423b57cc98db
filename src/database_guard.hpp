// Lets the statements that need a database to themselves through while a
// lifecycle worker is there (database_guard.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Installs the ProcessUtility hook, chained after any hook installed before.
void install_database_guard();

} // namespace softdelete
