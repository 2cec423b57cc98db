// The lifecycle launcher (worker_launcher.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Registers the launcher with the postmaster; from _PG_init, while
// shared_preload_libraries are loaded.
void register_launcher();

} // namespace softdelete
