// Which rows one purge batch removes, and in what order. A row purged takes
// along, in the same transaction and before itself, the rows that reference
// it and would otherwise stop or outlive its DELETE:
//
//   NO ACTION, RESTRICT   soft-deleted rows of an enabled table go with it,
//                         whatever their own table's retention ("cascaded
//                         children go with their parent"). A live row, or
//                         any row of a table that is not enabled, keeps it:
//                         the row waits, and the table's other rows go on.
//   CASCADE               every referencing row of an enabled table goes
//                         with it (what PostgreSQL's action would remove),
//                         so that it is archived and logged like the rest;
//                         a table that is not enabled is PostgreSQL's.
//   SET NULL, DEFAULT     PostgreSQL's action, when the row goes.
//
// The rows found are followed the same way, until none is new: every row is
// taken once, so trees, cycles and self-references end. A row that has to
// wait makes its parents wait, up to the candidate.
//
// Then the order. A statement's NO ACTION and RESTRICT checks run when it
// ends, so the rows of one table can go in one DELETE even when they
// reference each other (a self-referencing tree); between tables, a DELETE
// runs once every row that references its rows is gone. Each step is the
// largest set of one table's rows that can go then; rows that can never go
// (rows of two tables referencing each other in a cycle) wait, and so do
// their parents.
//
// Reading the graph runs one statement per foreign key and level, as the
// referencing table's owner, with the keys as a JSON parameter.
#include <algorithm>
#include <unordered_map>
#include <utility>

#include "error_bridge.hpp"
#include "foreign_keys.hpp"
#include "key_sql.hpp"
#include "owner_statement.hpp"
#include "extension_objects.hpp"
#include "purge_plan.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

// ---- Reading the graph (PG regime) ------------------------------------

const char* attribute_name(Oid relid, AttrNumber attno)
{
    return quote_identifier(get_attname(relid, attno, false));
}

// The position of the foreign key's referenced column i among the parent's
// key columns, or -1.
int key_position(const TableConfig& parent, const ForeignKey& fk, int i)
{
    for (int k = 0; k < parent.nkeys; k++) {
        if (strcmp(get_attname(parent.relid, parent.keys[k], false),
                   get_attname(fk.parent, fk.parent_columns[i], false)) == 0)
            return k;
    }
    return -1;
}

bool references_key(const TableConfig& parent, const ForeignKey& fk)
{
    if (fk.nkeys != parent.nkeys)
        return false;
    for (int i = 0; i < fk.nkeys; i++) {
        if (key_position(parent, fk, i) < 0)
            return false;
    }
    return true;
}

// Where the parent rows come from in a statement on the referencing table:
// a FROM item, each referenced value as text, and the parent's key.
struct Parents {
    const char* from;
    const char* value[INDEX_MAX_KEYS];
    const char* key;
};

// The parent rows whose keys $1 lists, with the values the foreign key
// references. A key to the primary key reads them from the keys; any other
// is looked up in the parent (a partition, for a key to one), as its
// owner, into a new $1.
Parents referenced_values(const TableConfig& parent, const ForeignKey& fk, Datum* keys)
{
    Parents out;
    if (references_key(parent, fk)) {
        out.from = elements_sql(1, "w(k)");
        out.key = "w.k";
        for (int i = 0; i < fk.nkeys; i++)
            out.value[i] = key_field_sql(parent, key_position(parent, fk, i));
        return out;
    }
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfoString(&sql, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(w.k");
    // As text, which casts back to the parent column's type exactly (an
    // array's or a composite's jsonb form would not).
    for (int i = 0; i < fk.nkeys; i++)
        appendStringInfo(&sql, ", p.%s::pg_catalog.text",
                         attribute_name(fk.parent, fk.parent_columns[i]));
    appendStringInfo(&sql, ")) FROM %s JOIN %s AS p ON ", elements_sql(1, "w(k)"),
                     table_sql(fk.parent));
    for (int k = 0; k < parent.nkeys; k++) {
        const char* name = get_attname(parent.relid, parent.keys[k], false);
        if (k > 0)
            appendStringInfoString(&sql, " AND ");
        append_equals(&sql, psprintf("p.%s", quote_identifier(name)), parent.relid, parent.keys[k],
                      key_field_sql(parent, k));
    }
    Oid types[] = {JSONBARRAYOID};
    OwnerStatement found = run_as_owner(relation_owner(fk.parent), sql.data, 1, types, keys, false);
    *keys = found.first_value != nullptr ? elements_array(found.first_value) : elements_array("[]");
    out.from = elements_sql(1, "w(e)");
    out.key = "(w.e -> 0)";
    for (int i = 0; i < fk.nkeys; i++)
        out.value[i] = psprintf("(w.e ->> %d)", i + 1);
    return out;
}

// The rows of fk's table that reference the parent rows keys lists, as
// lines "parent key TAB row key TAB live TAB references" (live: true or
// false; references: a JSON object of the row's foreign key columns and
// their values, as to_jsonb() of the row writes them); for a table that is
// not enabled (child == nullptr), the parent keys referenced. JSON text
// never holds a raw tab or newline.
char* referencing_rows(const TableConfig& parent, const ForeignKey& fk, const TableConfig* child,
                       const char* keys)
{
    Datum args[] = {elements_array(keys)};
    Parents parents = referenced_values(parent, fk, args);
    StringInfoData match;
    initStringInfo(&match);
    append_fk_match(&match, fk, "c", false, parents.value);
    StringInfoData references;
    initStringInfo(&references);
    appendStringInfoString(&references, "pg_catalog.jsonb_build_object(");
    for (int i = 0; i < fk.nkeys; i++)
        appendStringInfo(&references, "%s%s, c.%s", i > 0 ? ", " : "",
                         quote_literal_cstr(get_attname(fk.child, fk.child_columns[i], false)),
                         attribute_name(fk.child, fk.child_columns[i]));
    appendStringInfoChar(&references, ')');
    char* sql;
    if (child == nullptr)
        sql = psprintf("SELECT pg_catalog.string_agg(DISTINCT (%s)::pg_catalog.text, E'\\n') "
                       "FROM %s WHERE EXISTS (SELECT FROM %s AS c WHERE %s)",
                       parents.key, parents.from, table_sql(fk.child), match.data);
    else
        sql = psprintf("SELECT pg_catalog.string_agg((%s)::pg_catalog.text || E'\\t' || "
                       "(%s)::pg_catalog.text || E'\\t' || (c.%s IS NULL)::pg_catalog.text || "
                       "E'\\t' || (%s)::pg_catalog.text, E'\\n') FROM %s JOIN %s AS c ON %s",
                       parents.key, key_json_sql(*child, "c"),
                       attribute_name(child->relid, child->deleted_at), references.data,
                       parents.from, table_sql(fk.child), match.data);
    Oid types[] = {JSONBARRAYOID};
    return run_as_owner(relation_owner(fk.child), sql, 1, types, args, false).first_value;
}

// ---- The graph (C++) --------------------------------------------------

struct Node {
    int table;
    std::string key;
    bool live;
    bool waits = false;
    // A live row goes only while it still references a row that goes: one
    // JSON object of its foreign key columns per key it was found by.
    std::vector<std::string> references;
    std::vector<int> parents;  // rows it references (that it must go before)
    std::vector<int> children; // rows that reference it
};

struct Table {
    Oid relid;
    TableConfig cfg;
    int depth; // the deepest level the walk found it at
    std::unordered_map<std::string, int> rows;
    std::vector<int> fresh; // rows not followed yet
};

class Graph
{
public:
    std::vector<Node> nodes;
    std::vector<Table> tables;

    int table(Oid relid, int depth)
    {
        for (size_t t = 0; t < tables.size(); t++) {
            if (tables[t].relid == relid) {
                tables[t].depth = std::max(tables[t].depth, depth);
                return static_cast<int>(t);
            }
        }
        Table added;
        added.relid = relid;
        added.depth = depth;
        if (!pg_guard([&] { return table_config(relid, &added.cfg); }))
            throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                          "table with OID " + std::to_string(relid) +
                              " is not enabled for soft delete");
        tables.push_back(std::move(added));
        return static_cast<int>(tables.size() - 1);
    }

    // The row of table t with key, added (to be followed) when new.
    int row(int t, const std::string& key, bool live)
    {
        auto found = tables[t].rows.find(key);
        if (found != tables[t].rows.end())
            return found->second;
        int id = static_cast<int>(nodes.size());
        nodes.push_back(Node{t, key, live});
        tables[t].rows.emplace(key, id);
        tables[t].fresh.push_back(id);
        return id;
    }

    void link(int child, int parent)
    {
        nodes[child].parents.push_back(parent);
        nodes[parent].children.push_back(child);
    }

    // Follows every foreign key to the rows found, until nothing is new.
    void walk()
    {
        for (bool more = true; more;) {
            more = false;
            for (size_t t = 0; t < tables.size(); t++) {
                if (tables[t].fresh.empty())
                    continue;
                more = true;
                std::vector<int> rows;
                rows.swap(tables[t].fresh);
                follow(static_cast<int>(t), rows);
            }
        }
    }

    // The rows of kept found wait, as a live row's parent does.
    void keep(const KeptKeys& kept)
    {
        for (const auto& row : kept) {
            for (Table& table : tables) {
                auto found =
                    table.relid == row.first ? table.rows.find(row.second) : table.rows.end();
                if (found != table.rows.end())
                    nodes[found->second].waits = true;
            }
        }
    }

    // A row that waits keeps every row it references waiting too.
    void spread_waiting()
    {
        std::vector<int> todo;
        for (size_t n = 0; n < nodes.size(); n++) {
            if (nodes[n].waits)
                todo.push_back(static_cast<int>(n));
        }
        while (!todo.empty()) {
            int n = todo.back();
            todo.pop_back();
            for (int p : nodes[n].parents) {
                if (!nodes[p].waits) {
                    nodes[p].waits = true;
                    todo.push_back(p);
                }
            }
        }
    }

private:
    static std::string json_array(const std::vector<int>& rows, const std::vector<Node>& nodes)
    {
        std::string out = "[";
        for (size_t i = 0; i < rows.size(); i++) {
            if (i > 0)
                out += ", ";
            out += nodes[rows[i]].key;
        }
        return out + "]";
    }

    void follow(int t, const std::vector<int>& rows)
    {
        std::string keys = json_array(rows, nodes);
        Oid relid = tables[t].relid;
        List* fks = pg_guard([&] { return foreign_keys_to(relid); });
        for (int i = 0; i < list_length(fks); i++) {
            ForeignKey fk = *static_cast<ForeignKey*>(list_nth(fks, i));
            if (fk.on_delete == FKCONSTR_ACTION_SETNULL ||
                fk.on_delete == FKCONSTR_ACTION_SETDEFAULT)
                continue;
            bool cascade = fk.on_delete == FKCONSTR_ACTION_CASCADE;
            TableConfig child;
            bool enabled = pg_guard([&] { return table_config(fk.child, &child); });
            if (!enabled && cascade)
                continue;
            TableConfig parent = tables[t].cfg; // tables may grow below
            const char* found = pg_guard([&] {
                return referencing_rows(parent, fk, enabled ? &child : nullptr, keys.c_str());
            });
            if (found == nullptr)
                continue;
            int c = enabled ? table(child.root, tables[t].depth + 1) : -1;
            for (const char* line = found; *line != '\0';) {
                const char* end = strchr(line, '\n');
                std::string text(line, end != nullptr ? end - line : strlen(line));
                line = end != nullptr ? end + 1 : line + text.size();
                add_reference(t, c, cascade, text);
            }
        }
    }

    // One line of referencing_rows().
    void add_reference(int t, int c, bool cascade, const std::string& line)
    {
        size_t tab = line.find('\t');
        int parent = tables[t].rows.at(line.substr(0, tab));
        if (c < 0) { // a row of a table that is not enabled
            nodes[parent].waits = true;
            return;
        }
        size_t tab2 = line.find('\t', tab + 1);
        size_t tab3 = line.find('\t', tab2 + 1);
        std::string key = line.substr(tab + 1, tab2 - tab - 1);
        bool live = line.compare(tab2 + 1, tab3 - tab2 - 1, "true") == 0;
        if (live && !cascade) {
            nodes[parent].waits = true;
            return;
        }
        int n = row(c, key, live);
        if (live)
            nodes[n].references.push_back(line.substr(tab3 + 1));
        link(n, parent);
    }
};

// ---- Choosing and ordering (C++) ----------------------------------------

// The rows reached from root through rows that reference it, not taken yet.
std::vector<int> descendants(const Graph& g, int root, const std::vector<char>& taken)
{
    std::vector<int> out;
    std::vector<char> seen(g.nodes.size(), 0);
    std::vector<int> todo = {root};
    seen[root] = 1;
    while (!todo.empty()) {
        int n = todo.back();
        todo.pop_back();
        out.push_back(n);
        for (int c : g.nodes[n].children) {
            if (!seen[c] && !taken[c]) {
                seen[c] = 1;
                todo.push_back(c);
            }
        }
    }
    return out;
}

// Of rows (a root's descendants), those that can go first, deepest first,
// at most limit: a row only after every row of rows that references it.
// Rows in a cycle come last, all together.
std::vector<int> deepest_first(const Graph& g, const std::vector<int>& rows, int64 limit)
{
    std::unordered_map<int, int> pending; // row -> referencing rows in rows not chosen
    for (int n : rows)
        pending[n] = 0;
    for (int n : rows) {
        for (int p : g.nodes[n].parents) {
            if (p != n && pending.count(p))
                pending[p]++;
        }
    }
    std::vector<int> out;
    std::vector<int> ready;
    for (int n : rows) {
        if (pending[n] == 0)
            ready.push_back(n);
    }
    while (!ready.empty() && static_cast<int64>(out.size()) < limit) {
        int n = ready.back();
        ready.pop_back();
        out.push_back(n);
        for (int p : g.nodes[n].parents) {
            if (p != n && pending.count(p) && --pending[p] == 0)
                ready.push_back(p);
        }
    }
    if (out.empty())
        return rows;
    return out;
}

// The rows this batch removes: candidates oldest first, each with all its
// descendants, while they fit in limit; the first one's deepest rows when
// they alone do not.
std::vector<char> choose(const Graph& g, const std::vector<int>& roots, int64 limit)
{
    std::vector<char> taken(g.nodes.size(), 0);
    int64 count = 0;
    for (int root : roots) {
        if (g.nodes[root].waits || taken[root])
            continue;
        std::vector<int> rows = descendants(g, root, taken);
        if (count + static_cast<int64>(rows.size()) > limit) {
            if (count == 0) {
                for (int n : deepest_first(g, rows, limit))
                    taken[n] = 1;
            }
            break;
        }
        for (int n : rows)
            taken[n] = 1;
        count += static_cast<int64>(rows.size());
    }
    return taken;
}

// What the live rows among rows reference, as one JSON array.
std::string references_of(const Graph& g, const std::vector<int>& rows)
{
    std::string out = "[";
    bool first = true;
    for (int n : rows) {
        for (const std::string& references : g.nodes[n].references) {
            if (!first)
                out += ", ";
            out += references;
            first = false;
        }
    }
    return out + "]";
}

std::string keys_of(const Graph& g, const std::vector<int>& rows, bool live)
{
    std::string out = "[";
    bool first = true;
    for (int n : rows) {
        if (g.nodes[n].live != live)
            continue;
        if (!first)
            out += ", ";
        out += g.nodes[n].key;
        first = false;
    }
    return out + "]";
}

// The steps that remove the taken rows: deepest tables first, each step the
// rows of one table whose referencing rows are all gone or go in the same
// DELETE.
std::vector<PurgeStep> order(Graph& g, std::vector<char>& taken)
{
    std::vector<int> by_depth(g.tables.size());
    for (size_t t = 0; t < g.tables.size(); t++)
        by_depth[t] = static_cast<int>(t);
    std::stable_sort(by_depth.begin(), by_depth.end(),
                     [&](int a, int b) { return g.tables[a].depth > g.tables[b].depth; });
    std::vector<char> gone(g.nodes.size(), 0);
    std::vector<PurgeStep> steps;
    for (bool progress = true; progress;) {
        progress = false;
        for (int t : by_depth) {
            std::vector<char> in(g.nodes.size(), 0);
            std::vector<int> rows;
            for (size_t n = 0; n < g.nodes.size(); n++) {
                if (taken[n] && !gone[n] && g.nodes[n].table == t) {
                    in[n] = 1;
                    rows.push_back(static_cast<int>(n));
                }
            }
            // Leave out rows that another table's rows still reference.
            for (bool changed = true; changed;) {
                changed = false;
                std::vector<int> kept;
                for (int n : rows) {
                    bool ready = true;
                    for (int c : g.nodes[n].children) {
                        if (taken[c] && !gone[c] && !in[c])
                            ready = false;
                    }
                    if (ready)
                        kept.push_back(n);
                    else {
                        in[n] = 0;
                        changed = true;
                    }
                }
                rows.swap(kept);
            }
            if (rows.empty())
                continue;
            for (int n : rows)
                gone[n] = 1;
            steps.push_back(PurgeStep{g.tables[t].relid, keys_of(g, rows, false),
                                      keys_of(g, rows, true), references_of(g, rows),
                                      static_cast<int64>(rows.size())});
            progress = true;
        }
    }
    // What never could go (rows of tables in a cycle referencing each other)
    // waits, and so does every row that needed it to go first: those were
    // not in any step, being later than it.
    for (size_t n = 0; n < g.nodes.size(); n++) {
        if (taken[n] && !gone[n]) {
            g.nodes[n].waits = true;
            taken[n] = 0;
        }
    }
    return steps;
}

} // namespace

PurgePlan plan_purge(Oid table, const std::vector<std::string>& candidates, int64 limit,
                     const KeptKeys& kept)
{
    Graph g;
    int t = g.table(table, 0);
    std::vector<int> roots;
    for (const std::string& key : candidates)
        roots.push_back(g.row(t, key, false));
    g.walk();
    g.keep(kept);
    g.spread_waiting();
    std::vector<char> taken = choose(g, roots, limit);
    PurgePlan plan;
    plan.steps = order(g, taken);
    g.spread_waiting();
    plan.rows = 0;
    for (const PurgeStep& step : plan.steps)
        plan.rows += step.rows;
    for (int root : roots) {
        if (g.nodes[root].waits)
            plan.waiting.push_back(g.nodes[root].key);
    }
    return plan;
}

} // namespace softdelete
