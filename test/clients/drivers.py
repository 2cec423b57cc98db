"""What real client libraries see of an enabled table.

Run by test/t/007_drivers.pl against a temp instance with softdelete
preloaded, after it made the tables and roles (see there):

    python3 drivers.py 'host=... port=... dbname=...'

Prints one line per check, "ok - <what>" or "not ok - <what>: <why>", and
"checks: N" at the end; the TAP test turns each line into a test. A check
that raises is reported as not ok with the exception; the script goes on
with the next one.

Drivers: psycopg 2 (what SQLAlchemy 1.4 uses) and psycopg 3 (server-side
prepared statements over the extended protocol), SQLAlchemy's ORM and its
PostgreSQL dialect, all from Debian's packages.
"""
import sys
import traceback
import warnings

import psycopg
import psycopg2
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import insert as pg_insert

DSN = sys.argv[1]
checks = 0


def check(what):
    """Decorator: runs the function as one check, reporting it."""
    def run(fn):
        global checks
        checks += 1
        try:
            fn()
            print(f"ok - {what}", flush=True)
        except Exception as error:  # report and go on
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            print(f"not ok - {what}: {detail}".replace("\n", " | "), flush=True)
        return fn
    return run


def expect(got, wanted, what=""):
    if got != wanted:
        raise AssertionError(f"{what} got {got!r}, wanted {wanted!r}")


def as_admin(sql, params=None):
    """Runs sql as the superuser the DSN names, returns all rows (or None)."""
    with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def state(ids):
    """'live', 'deleted' or 'gone' for each id of users, as the superuser sees it."""
    rows = dict(as_admin("SELECT id, deleted_at IS NOT NULL FROM users WHERE id = ANY(%s)", (list(ids),)))
    return ["gone" if i not in rows else "deleted" if rows[i] else "live" for i in ids]


def app_dsn(role="app"):
    return f"{DSN} user={role}"


# --- psycopg 2 ------------------------------------------------------------

@check("psycopg2: cursor.rowcount of a DELETE is the number of rows soft-deleted")
def _():
    with psycopg2.connect(app_dsn()) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM users WHERE id IN (1, 2, 3)")
        expect(cur.rowcount, 3, "rowcount")
        expect(cur.statusmessage, "DELETE 3", "status")
        cur.execute("DELETE FROM users WHERE id IN (1, 2, 3)")
        expect(cur.rowcount, 0, "rowcount of deleting them again")
    expect(state([1, 2, 3]), ["deleted"] * 3)


@check("psycopg2: DELETE ... RETURNING returns the soft-deleted rows")
def _():
    with psycopg2.connect(app_dsn()) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM users WHERE id BETWEEN 4 AND 5 RETURNING id, deleted_at IS NOT NULL")
        expect(sorted(cur.fetchall()), [(4, True), (5, True)], "rows")
        expect(cur.rowcount, 2, "rowcount")
    expect(state([4, 5]), ["deleted"] * 2)


# --- psycopg 3: server-side prepared statements ---------------------------

@check("psycopg 3: a server-side prepared DELETE reports its count at every execution, custom and generic plans")
def _():
    with psycopg.connect(app_dsn(), prepare_threshold=0) as conn:
        with conn.cursor() as cur:
            for plan_mode in ("force_custom_plan", "force_generic_plan"):
                cur.execute(f"SET plan_cache_mode = {plan_mode}")
                for i in (6, 7) if plan_mode == "force_custom_plan" else (8, 9):
                    cur.execute("DELETE FROM users WHERE id = %s", (i,), prepare=True)
                    expect(cur.rowcount, 1, f"rowcount for {i} ({plan_mode})")
                    cur.execute("DELETE FROM users WHERE id = %s", (i,), prepare=True)
                    expect(cur.rowcount, 0, f"rowcount deleting {i} again ({plan_mode})")
            cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'DELETE FROM users%%'")
            expect(cur.fetchone()[0], 1, "prepared on the server")
    expect(state([6, 7, 8, 9]), ["deleted"] * 4)


@check("psycopg 3: a server-side prepared DELETE ... RETURNING returns its row at every execution")
def _():
    with psycopg.connect(app_dsn(), prepare_threshold=0) as conn, conn.cursor() as cur:
        got = []
        for i in (10, 11, 12, 13, 14, 15):
            cur.execute("DELETE FROM users WHERE id = %s RETURNING id", (i,), prepare=True)
            got += [row[0] for row in cur.fetchall()]
        expect(got, [10, 11, 12, 13, 14, 15], "returned ids")
    expect(state(range(10, 16)), ["deleted"] * 6)


# --- SQLAlchemy -----------------------------------------------------------

engine = sa.create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(app_dsn()), future=True)
Base = orm.declarative_base()


class User(Base):
    __tablename__ = "users"
    id = sa.Column(sa.Integer, primary_key=True)
    email = sa.Column(sa.Text, nullable=False)


class Account(Base):
    """Optimistic locking: SQLAlchemy raises StaleDataError on a wrong count."""
    __tablename__ = "accounts"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.Text, nullable=False)
    version = sa.Column(sa.Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}


users = User.__table__


@check("SQLAlchemy: session.delete() + flush() soft-deletes, rowcount confirmed (no warning)")
def _():
    with warnings.catch_warnings():
        # A wrong count is only a warning without a version column: make it fail.
        warnings.simplefilter("error")
        with orm.Session(engine) as session, session.begin():
            session.delete(session.get(User, 16))
            session.flush()
            expect(session.get(User, 16), None, "after flush")
    expect(state([16]), ["deleted"])


@check("SQLAlchemy: session.delete() of a versioned row raises no StaleDataError")
def _():
    with orm.Session(engine) as session, session.begin():
        account = session.get(Account, 1)
        account.name = "renamed"
        session.flush()  # UPDATE ... WHERE version = 1: version becomes 2
        session.delete(account)
        session.flush()  # DELETE ... WHERE id = 1 AND version = 2, must match 1 row
    rows = as_admin("SELECT version, deleted_at IS NOT NULL FROM accounts WHERE id = 1")
    expect(rows, [(2, True)], "account 1")


@check("SQLAlchemy: a versioned DELETE that matches no row still raises StaleDataError")
def _():
    try:
        with orm.Session(engine) as session, session.begin():
            account = session.get(Account, 2)
            as_admin("UPDATE accounts SET version = version + 1 WHERE id = 2")
            session.delete(account)
            session.flush()
    except orm.exc.StaleDataError:
        return
    raise AssertionError("no StaleDataError")


@check("SQLAlchemy: insert().on_conflict_do_update(constraint=<old unique constraint>) updates the live row")
def _():
    stmt = pg_insert(users).values(id=100, email="u20")
    stmt = stmt.on_conflict_do_update(constraint="users_email_key", set_={"email": stmt.excluded.email + "-again"})
    with engine.begin() as conn:
        result = conn.execute(stmt.returning(users.c.id, users.c.email))
        expect(result.all(), [(20, "u20-again")], "upserted row")


@check("SQLAlchemy: on_conflict_do_update(constraint=...) does not conflict with a deleted row")
def _():
    # users 1 (u1) is deleted: the same e-mail is free for a new live row.
    stmt = pg_insert(users).values(id=101, email="u1")
    stmt = stmt.on_conflict_do_update(constraint="users_email_key", set_={"email": "conflicted"})
    with engine.begin() as conn:
        expect(conn.execute(stmt.returning(users.c.id, users.c.email)).all(), [(101, "u1")], "inserted row")
    expect(as_admin("SELECT id, deleted_at IS NOT NULL FROM users WHERE email = 'u1' ORDER BY id"),
           [(1, True), (101, False)], "rows with u1")


@check("SQLAlchemy: on_conflict_do_nothing(constraint=...) skips a conflicting live row")
def _():
    stmt = pg_insert(users).values(id=102, email="u21").on_conflict_do_nothing(constraint="users_email_key")
    with engine.begin() as conn:
        expect(conn.execute(stmt).rowcount, 0, "rowcount")
    expect(state([102]), ["gone"])


# --- A reader's opt-in, for one transaction --------------------------------

reader_engine = sa.create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(app_dsn("reader")),
                                 future=True, pool_size=1, max_overflow=0)


@check("SQLAlchemy: a reader's SET LOCAL softdelete.include_deleted shows deleted rows in that transaction only")
def _():
    count = sa.select(sa.func.count()).select_from(users)
    with reader_engine.connect() as conn:
        live = conn.execute(count).scalar_one()
        conn.commit()
        with conn.begin():
            conn.execute(sa.text("SET LOCAL softdelete.include_deleted = on"))
            everything = conn.execute(count).scalar_one()
        after = conn.execute(count).scalar_one()
        conn.commit()
    # The same pooled connection: the next transaction is back to live rows.
    with reader_engine.connect() as conn:
        pooled = conn.execute(count).scalar_one()
    total = as_admin("SELECT count(*) FROM users")[0][0]
    expect((everything, after, pooled), (total, live, live), "(opted in, after, next checkout)")
    if live >= total:
        raise AssertionError(f"no deleted rows to show: {live} live of {total}")


@check("psycopg 3: a role that is no reader gets 42501 for the opt-in, not silence")
def _():
    with psycopg.connect(app_dsn()) as conn:
        try:
            with conn.transaction():
                conn.execute("SET LOCAL softdelete.include_deleted = on")
        except psycopg.errors.InsufficientPrivilege:
            return
    raise AssertionError("the opt-in was accepted")


print(f"checks: {checks}", flush=True)
