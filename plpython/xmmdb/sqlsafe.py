"""Safety rules shared by the query languages that turn user text into SQL
(the search language, xmmdb.search, and ADQL, xmmdb.adql).

- Identifiers: only names found in the database catalogue (`Catalog`) reach
  SQL, spelled as PostgreSQL's own quote_ident() spelled them.
- Literals: strings and numbers are quoted by psycopg's PostgreSQL quoting
  (`literal`) after being checked to be values PostgreSQL accepts (finite,
  in range, no NUL), so a literal can never end a statement or change a type.
- Errors: `syntax_error` turns a lark parse error into an XmmError that says
  where (column) and what was expected, in words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import XmmError

SYNTAX = "42601"       # syntax_error
UNDEFINED_COLUMN = "42703"
UNDEFINED_TABLE = "42P01"
UNDEFINED_FUNCTION = "42883"
DATATYPE_MISMATCH = "42804"

NUMBER, TEXT, BOOL, TIME, OTHER = "number", "text", "boolean", "time", "other"
_CATEGORIES = {"smallint": NUMBER, "integer": NUMBER, "bigint": NUMBER, "real": NUMBER,
               "double precision": NUMBER, "numeric": NUMBER, "text": TEXT, "character varying": TEXT,
               "character": TEXT, "name": TEXT, "boolean": BOOL, "timestamp with time zone": TIME,
               "timestamp without time zone": TIME, "date": TIME}
INT64 = 2 ** 63


# ---------------------------------------------------------------- literals

def literal(value) -> str:
    """A value as an SQL literal by PostgreSQL's rules, as psycopg's sql.Literal writes it
    (tests/test_search.py compares them): numbers as Python prints them (finite only),
    strings in '' with quotes doubled, and as E'' with backslashes doubled where they hold
    one. Not psycopg itself: importing it costs a new session ~0.2 s."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, int):
        if not -INT64 < value < INT64:
            raise XmmError(f"the number {value} is too large", hint="integers must lie within ±9.2e18")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise XmmError(f"the number {value} is not finite")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise XmmError("a string may not contain the NUL character")
        quoted = "'" + value.replace("'", "''") + "'"
        return "E" + quoted.replace("\\", "\\\\") if "\\" in value else quoted
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def identifier(name: str) -> str:
    """A name as a quoted SQL identifier ("" doubled), as psycopg's sql.Identifier writes it."""
    return '"' + name.replace('"', '""') + '"'


_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_number(text: str, column: int | None = None) -> int | float:
    """A number token as int (no point, no exponent, fits int64) or a finite float."""
    text = text.strip()
    where = f" at column {column}" if column else ""
    if not _NUMBER_RE.fullmatch(text):
        raise XmmError(f"'{text}'{where} is not a number", sqlstate=SYNTAX)
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
        if -INT64 < value < INT64:
            return value
    value = float(text)
    if not math.isfinite(value):
        raise XmmError(f"the number {text}{where} is out of range", hint="numbers must lie within ±1.7e308")
    return value


def category(sql_type: str) -> str:
    """number / text / boolean / other for a format_type() name."""
    return _CATEGORIES.get(re.sub(r"\(.*\)", "", sql_type).strip(), OTHER)


_plans: dict = {}


def query(db, sql: str, params: tuple = (), types: tuple = ()) -> list[dict]:
    """db.query, with the plan kept for the session when db is inside the server
    (xmmdb.pg.Spi): a name lookup then costs an execution, not a planning."""
    plpy = getattr(db, "plpy", None)
    if plpy is None or not params:
        return db.query(sql, params, types)
    key = (sql, tuple(types))
    if key not in _plans:
        _plans[key] = plpy.prepare(sql, list(types))
    return list(plpy.execute(_plans[key], list(params)))


# ---------------------------------------------------------------- catalogue

@dataclass
class Column:
    name: str        # as users write it (lower case)
    sql: str         # quote_ident(name) as PostgreSQL spells it, or a derived expression
    type: str        # format_type(), e.g. 'real'
    doc: str = ""
    derived: bool = False

    @property
    def category(self) -> str:
        return category(self.type)


@dataclass
class Table:
    name: str                 # e.g. 'source'
    sql: str                  # schema-qualified, quoted: xmm.source
    columns: dict[str, Column] = field(default_factory=dict)
    schema: str = "xmm"

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str, column: int | None = None, extra: tuple = ()) -> Column:
        """The column called `name` (case-insensitive) or a human error."""
        col = self.columns.get(name.lower())
        if col is None:
            raise unknown("column", name, list(self.columns) + list(extra), column,
                          hint=f"the columns of {self.name} are listed by \\d xmm.{self.name}",
                          sqlstate=UNDEFINED_COLUMN)
        return col


def unknown(kind: str, name: str, known, column: int | None = None, hint: str | None = None,
            sqlstate: str = SYNTAX) -> XmmError:
    """`unknown column 'sc_det_mll' (did you mean sc_det_ml?)`; the hint says where."""
    import difflib   # only for a mistake: a session's first query need not import it

    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.6)
    msg = f"unknown {kind} '{name}'" + (f" (did you mean {close[0]}?)" if close else "")
    return XmmError(msg, hint=where(column, hint), sqlstate=sqlstate)


def where(column: int | None, hint: str | None) -> str | None:
    """A hint that starts with the position in the query: 'at column 5; ...'."""
    if not column:
        return hint
    return f"at column {column} of the query" + (f"; {hint}" if hint else "")


_CATALOG_SQL = """
SELECT n.nspname AS schema_name, c.relname AS table_name,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table_sql,
       a.attname AS column_name, quote_ident(a.attname) AS column_sql,
       format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
   AND left(c.relname, 3) <> 'pg_'
 ORDER BY n.nspname, c.relname, a.attnum"""  # no descriptions: reading pg_description costs a new session 10 ms

# What TAP publishes (sql/80_tap_schema.sql), when the database has TAP_SCHEMA.
_PUBLISHED_SQL = """
SELECT table_name || '.' || CASE WHEN column_name LIKE '"%"' THEN replace(btrim(column_name, '"'), '""', '"')
                                 ELSE column_name END AS published
  FROM tap_schema.columns"""  # TAP_SCHEMA writes names that need it as "delimited" identifiers

_catalog_cache: dict = {}


class Catalog:
    """The tables and columns of the database as its catalogue describes them:
    the whitelist both languages check every identifier against."""

    def __init__(self, tables: dict[str, Table], default_schema: str = "xmm"):
        self.tables = tables                  # 'xmm.source' -> Table
        self.default_schema = default_schema

    @classmethod
    def load(cls, db, schemas: tuple[str, ...] = ("xmm",), published: bool = False, cache: bool = True) -> "Catalog":
        """Reads pg_catalog through `db` (xmmdb.pg.Spi or Psycopg). With `published`,
        only what TAP_SCHEMA lists (if the database has it). Cached per process
        (the schema changes with a new extension build, i.e. a new session); what
        TAP_SCHEMA publishes is read again after each refresh (a user table loaded)."""
        key = (id(type(db)), schemas, published)
        if published:
            key += (db.query("SELECT last_value FROM xmm.tap_schema_version")[0]["last_value"],)
        if cache and key in _catalog_cache:
            return _catalog_cache[key]
        if len(_catalog_cache) > 16:
            _catalog_cache.clear()
        keep = None
        if published and db.query("SELECT to_regclass('tap_schema.columns') IS NOT NULL AS has")[0]["has"]:
            keep = {r["published"] for r in db.query(_PUBLISHED_SQL)} or None
        tables: dict[str, Table] = {}
        for r in db.query(_CATALOG_SQL, (list(schemas),), ("text[]",)):
            tkey = f"{r['schema_name']}.{r['table_name']}"
            if keep is not None and f"{tkey}.{r['column_name']}" not in keep:
                continue
            t = tables.setdefault(tkey, Table(r["table_name"], r["table_sql"], schema=r["schema_name"]))
            t.columns[r["column_name"]] = Column(r["column_name"], r["column_sql"], r["type"])
        catalog = cls(tables, schemas[0])
        if cache:
            _catalog_cache[key] = catalog
        return catalog

    def table(self, name: str, column: int | None = None, allowed=None) -> Table:
        """'source' (the default schema) or 'xmm.source', case-insensitive, or a human error."""
        allowed = list(self.tables) if allowed is None else allowed
        key = name.lower() if "." in name else f"{self.default_schema}.{name.lower()}"
        if key not in allowed or key not in self.tables:
            short = [k.split(".", 1)[1] if k.startswith(self.default_schema + ".") else k for k in allowed]
            raise unknown("table", name, short, column, hint="tables: " + ", ".join(sorted(short)),
                          sqlstate=UNDEFINED_TABLE)
        return self.tables[key]


# ---------------------------------------------------------------- syntax errors

GRAMMARS = (("xmmdb.search", "search.lark"), ("xmmdb.adql", "adql.lark"))


def lalr(package: str, filename: str):
    """The LALR parser of a grammar file shipped in `package` (cached): the driver of its tables
    (xmmdb.search.lalr, written when the package is installed), which spares a session the import
    of lark, or else lark."""
    return _fast(package, filename) or _lalr(package, filename)


@lru_cache(maxsize=None)
def _fast(package: str, filename: str):
    import importlib
    import os

    from .search import lalr as driver

    source = os.path.join(os.path.dirname(importlib.import_module(package).__file__), filename)
    with open(source, encoding="utf-8") as f:
        grammar = f.read()
    return driver.load(source + ".json", grammar, lambda: _lalr(package, filename))


@lru_cache(maxsize=None)
def _lalr(package: str, filename: str, write_tables: bool = False):
    """Built from the grammar, or loaded from its parse tables beside it (`<grammar>.tables`,
    written when the package is installed: write_tables_at_install). A session's first query
    then costs ~5 ms instead of the ~120 ms of building the LALR tables. The tables are read only
    from the installed package, which only its installer can write (they are a pickle), and
    lark rebuilds when their hash does not match the grammar, lark and Python."""
    import importlib
    import os

    import lark

    source = os.path.join(os.path.dirname(importlib.import_module(package).__file__), filename)
    tables = source + ".tables"
    cache = tables if write_tables or os.path.isfile(tables) else False
    with open(source, encoding="utf-8") as f:
        grammar = f.read()
    return lark.Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True,
                     maybe_placeholders=False, cache=cache)


def write_tables_at_install() -> None:
    """Writes each grammar's parse tables into the installed package (make venv)."""
    import importlib
    import os

    from .search import lalr as driver

    for package, filename in GRAMMARS:
        parser = _lalr(package, filename, write_tables=True)
        source = os.path.join(os.path.dirname(importlib.import_module(package).__file__), filename)
        with open(source, encoding="utf-8") as f:
            driver.write(parser, f.read(), source + ".json")


def parse_text(parser, q: str, names: dict[str, str], after_value: set[str], example: str,
               max_length: int = 20000):
    """The parse tree of `q`, or an XmmError saying where it went wrong."""
    if q is None or not q.strip():
        raise XmmError("the query is empty", hint=f"e.g. {example}", sqlstate=SYNTAX)
    if "\x00" in q:
        raise XmmError("the query contains the NUL character", sqlstate=SYNTAX)
    if len(q) > max_length:
        raise XmmError(f"the query is too long ({len(q)} characters; at most {max_length})", sqlstate=SYNTAX)
    try:
        return parser.parse(q)
    except Exception as exc:
        from lark.exceptions import UnexpectedInput   # only for a mistake: a session's first query need not import lark

        if not isinstance(exc, UnexpectedInput):
            raise
        raise syntax_error(exc, q, names, after_value, parser.lex) from None


def describe(token) -> str:
    """A token as a human sees it."""
    if token is None or getattr(token, "type", "") == "$END":
        return "the end of the query"
    return f"'{token}'"


def syntax_error(exc, text: str, names: dict[str, str], after_value: set[str] = frozenset(), lex=None) -> XmmError:
    """An XmmError from a lark UnexpectedInput.

    `names` maps terminal names to words ('COMP' -> 'a comparison'); terminals
    in `after_value` are operators after which a value is expected, so the
    message reads `expected a value after '>'`. `lex(text)` yields the tokens
    (to find the one before the error)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        col = exc.column
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch in "'\"":
            return XmmError(f"syntax error at column {col}: the string starting here is not closed",
                            hint=f"close it with {ch}", sqlstate=SYNTAX)
        return XmmError(f"syntax error at column {col}: unexpected character '{ch}'",
                        hint=_hint(exc.allowed or (), names), sqlstate=SYNTAX)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        token = getattr(exc, "token", None)
        at_end = token is None or token.type == "$END"
        col = len(text.rstrip()) + 1 if at_end else token.column
        pos = len(text) if at_end else token.start_pos
        prev = None
        if lex is not None:
            try:
                for t in lex(text[:pos]):
                    prev = t
            except Exception:  # the prefix itself does not lex: no previous token to name
                prev = None
        expected = set(getattr(exc, "expected", ()) or ())
        if prev is not None and prev.type in after_value:
            return XmmError(f"syntax error at column {col}: expected a value after '{prev}'",
                            hint=_hint(expected, names), sqlstate=SYNTAX)
        if at_end:
            return XmmError(f"syntax error at column {col}: the query ends too early",
                            hint=_hint(expected, names), sqlstate=SYNTAX)
        return XmmError(f"syntax error at column {col}: unexpected {describe(token)}",
                        hint=_hint(expected, names), sqlstate=SYNTAX)
    return XmmError(f"syntax error: {exc}", sqlstate=SYNTAX)


def _hint(expected, names: dict[str, str]) -> str | None:
    words = sorted({names.get(t, t.lower()) for t in expected if not t.startswith("__") and names.get(t) != ""})
    return ("expected " + ", ".join(words)) if words else None
