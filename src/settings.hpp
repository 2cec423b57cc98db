// The softdelete.* settings a session can change.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// softdelete.include_deleted: show deleted rows to a reader.
extern bool include_deleted;
// softdelete.hard_delete: an admin's DELETE and TRUNCATE really remove rows.
extern bool hard_delete;

void define_settings();

} // namespace softdelete
