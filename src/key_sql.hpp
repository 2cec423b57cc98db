// SQL expressions for a table's primary key, in the statements the purge
// runs: a row's key as JSON, and the rows whose keys a JSON parameter lists.
// Identifiers are quoted and the keys travel as the parameter, never as SQL
// text. PG regime.
#pragma once

#include "foreign_keys.hpp"
#include "pg.hpp"
#include "table_config.hpp"

namespace softdelete
{

// The key of alias's row (columns named as cfg's key columns) as jsonb,
// written as the event log writes keys: integers and booleans as JSON
// values, anything else as its text; an object of the columns for a
// composite key.
char* key_json_sql(const TableConfig& cfg, const char* alias);

// "alias.k1, ..., alias.kn": the key's columns, in the key's order.
char* key_columns_sql(const TableConfig& cfg, const char* alias);

// "EXISTS (SELECT FROM source WHERE ...)" over fk's columns, compared as
// PostgreSQL's own foreign key queries compare them: the parent's side as
// the parent column's type, the constraint's own operator (parent = child),
// and the parent column's collation where the two columns' differ. Not by
// the child column's type: a parent value cast to it may round or be cut
// (numeric(5,1), varchar(3)), fail (bigint into int), or compare by another
// equality (text against citext). alias names rows of the child, whose
// values are the parent's; with on_parent, rows of the parent, whose values
// are the child's. The values are SQL text expressions; extra, when given,
// is one more condition inside.
void append_fk_in(StringInfo sql, const ForeignKey& fk, const char* alias, bool on_parent,
                  const char* const* values, const char* source, const char* extra);

// The same comparisons, ANDed, without the EXISTS: for a join's condition.
void append_fk_match(StringInfo sql, const ForeignKey& fk, const char* alias, bool on_parent,
                     const char* const* values);

// Key column k of cfg, as text, from w.k: one element of a list of keys as
// key_json_sql() writes them (the value itself for a one-column key, an
// object of the columns otherwise).
const char* key_field_sql(const TableConfig& cfg, int k);

// The rows of alias whose keys are in the jsonb[] $param (elements_array()),
// each element written as key_json_sql() writes it (append_in()).
char* key_in_sql(const TableConfig& cfg, const char* alias, int param);

// A jsonb array's elements as a jsonb[], to be read by
// "pg_catalog.unnest($n)" (elements_sql()). The planner counts the
// elements of an array bound to a statement, where it takes
// jsonb_array_elements() for 100 rows whatever its argument: a cascade of
// one row then read its parent of a few thousand rows whole, by a hash
// join, and a chain of self-references took time quadratic in its length.
Datum elements_array(const char* json_array);

// "pg_catalog.unnest($param) AS alias": the rows of an elements_array()
// bound as $param, typed JSONBARRAYOID; alias names the column ("w(k)").
char* elements_sql(int param, const char* alias);

// The type of relid's column attno, as SQL (qualified where not built in).
const char* column_type_sql(Oid relid, AttrNumber attno);

// "OPERATOR(schema.=)": the equality of type's default btree operator class,
// named with its schema. The statements run with pg_catalog first in their
// search_path (owner_statement.cpp), where a bare "=" would find
// PostgreSQL's text equality, through a cast, before an extension's own
// (citext's, in public).
const char* equality_operator_sql(Oid type);

// "left OPERATOR(schema.=) right::type": left equals right, as a value of
// relid's column attno, by that column type's equality.
void append_equals(StringInfo sql, const char* left, Oid relid, AttrNumber attno,
                   const char* right);

// "EXISTS (SELECT FROM source WHERE alias.c1 OPERATOR(...) v1::t1 AND ...)":
// the rows of alias whose columns equal one row of values, read from source.
void append_in(StringInfo sql, const char* alias, Oid rel, const AttrNumber* columns, int n,
               const char* const* values, const char* source);

// value (an expression of relid's column attno, a deletion time) as a
// timestamptz: a timestamp without time zone is read as UTC, as the stamp
// writes it (statement_rewrite.cpp), never in the session's TimeZone.
char* instant_sql(Oid relid, AttrNumber attno, const char* value);

// The other way: instant (a timestamptz expression) as a value of that
// column, in UTC for a timestamp without time zone, so that the column
// itself is compared (and its index used).
char* column_time_sql(Oid relid, AttrNumber attno, const char* instant);

// relid as a qualified, quoted name.
char* relation_sql(Oid relid);

// The same, with "ONLY " before a table that is not
// partitioned, so that an inheritance child is never reached through it.
char* table_sql(Oid relid);

} // namespace softdelete
