"""ADQL 2.0/2.1 to PostgreSQL with Q3C (docs/adql.md).

    to_sql(db, "SELECT TOP 5 iauname FROM xmm.source WHERE "
               "CONTAINS(POINT('ICRS', sc_ra, sc_dec), CIRCLE('ICRS', 148.97, 69.68, 0.05)) = 1")
    -> SELECT "source".iauname FROM xmm.source AS "source"
       WHERE q3c_radial_query("source".sc_ra, "source".sc_dec, 148.97, 69.68, 0.05) LIMIT 5

The same safety rules as the search language (xmmdb.sqlsafe): tables and
columns only from the catalogue (what TAP_SCHEMA publishes when it exists,
else schema xmm), functions from a fixed list, literals quoted by
xmmdb.sqlsafe.literal, user aliases quoted as identifiers; every expression is
type-checked so that PostgreSQL never sees an operator it cannot resolve.

TAP_UPLOAD.<name> is the session's own temporary table tap_upload_<name> (the
TAP service creates one for each table a request uploads), read from the
catalogue at each query, never cached: it lives as long as its request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import XmmError
from ..sqlsafe import (BOOL, DATATYPE_MISMATCH, NUMBER, OTHER, SYNTAX, TEXT, TIME, UNDEFINED_COLUMN,
                       UNDEFINED_FUNCTION, Catalog, Column, Table, category, identifier, lalr, literal, parse_number,
                       parse_text, query, unknown, where)

MAX_LENGTH = 100000
MAX_DEPTH = 80
MAX_POLYGON_VERTICES = 100
MAX_POLYGON_DIAMETER = 22.0   # degrees; q3c_poly_query refuses polygons wider than ~23
GEOMETRY = ("point", "circle", "polygon")
VALUE_TYPES = (NUMBER, TEXT, BOOL, TIME)

# Tables whose storage wants region predicates routed to an index of its own.
# For a CONTAINS/INTERSECTS of such a table's (ra, dec) in a region with
# constant numbers, the translator adds `prefilter` for the region's bounding
# circle ({t} the table's alias, {ra} {dec} {radius} in degrees) before the
# exact test; `circle`, when given, is that exact test for circles ({ra} {dec}
# the point, {ra0} {dec0} {radius} the circle). Regions larger than max_radius
# (degrees) get the exact test alone. photon (sql/51_photon_query.sql) is found
# by its cells, and its positions are computed, so the exact test is q3c_dist
# (q3c_radial_query would compute q3c_ang2ipix of every photon up to 100 times).
REGION_FILTERS = {
    "xmm.photon": dict(ra="ra", dec="dec", prefilter="{t}.cell = ANY (xmm.cone_cells({ra}, {dec}, {radius}))",
                       circle="q3c_dist({ra}, {dec}, {ra0}, {dec0}) <= {radius}", max_radius=2.0),
}

# The session's uploaded tables: its temporary tables called tap_upload_<name>. Only its own
# temporary schema is read, and the SQL names them pg_temp.<table>, which is always the
# session's own: no other session's tables, and no catalogue table, can be reached this way.
UPLOAD_SCHEMA = "tap_upload"
_UPLOADS_SQL = """
SELECT substr(c.relname, 12) AS upload, quote_ident(c.relname) AS table_sql, a.attname AS column_name,
       quote_ident(a.attname) AS column_sql, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind = 'r' AND left(c.relname, 11) = 'tap_upload_'
 ORDER BY c.relname, a.attnum"""

# Single-column indexes of a table, as expressions (a Q3C index reads q3c_ang2ipix(ra, "dec")).
_INDEXES_SQL = """
SELECT pg_catalog.pg_get_indexdef(i.indexrelid, 1, false) AS expr
  FROM pg_catalog.pg_index i
 WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indnkeyatts = 1"""

# ADQL function -> (PostgreSQL template, argument types, result type); {0} {1} are the arguments.
_NUM1 = {"abs": "abs", "ceiling": "ceil", "degrees": "degrees", "exp": "exp", "floor": "floor", "log": "ln",
         "log10": "log", "radians": "radians", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan",
         "asin": "asin", "acos": "acos", "atan": "atan", "cot": "cot"}
FUNCTIONS = {name: (f"{pg}(({{0}})::double precision)", (NUMBER,), NUMBER) for name, pg in _NUM1.items()}
FUNCTIONS.update({
    "atan2": ("atan2(({0})::double precision, ({1})::double precision)", (NUMBER, NUMBER), NUMBER),
    "power": ("power(({0})::double precision, ({1})::double precision)", (NUMBER, NUMBER), NUMBER),
    "mod": ("mod(({0})::numeric, ({1})::numeric)::double precision", (NUMBER, NUMBER), NUMBER),
    "round": ("round(({0})::numeric, ({1})::integer)::double precision", (NUMBER, NUMBER), NUMBER),
    "truncate": ("trunc(({0})::numeric, ({1})::integer)::double precision", (NUMBER, NUMBER), NUMBER),
    "pi": ("pi()", (), NUMBER),
    "rand": ("random()", (), NUMBER),
    "lower": ("lower({0})", (TEXT,), TEXT),
    "upper": ("upper({0})", (TEXT,), TEXT),
})
# The service's own functions (ADQL 2.1 user-defined functions, declared in the TAP capabilities):
# a fit of each row's source (xmm_fit: its bounds and errors; in TAP's read-only transaction the
# fit cache is read, not written).
UDFS = {
    "xmm_fit_flux": ("(xmm.xmm_fit(({0})::bigint, {1})).flux", (NUMBER, TEXT), NUMBER),
    "xmm_fit_stat": ("(xmm.xmm_fit(({0})::bigint, {1})).stat", (NUMBER, TEXT), NUMBER),
}
FUNCTIONS.update(UDFS)
_ONE_ARG_DEFAULTS = {"round": "0", "truncate": "0"}
_KEEP_UNIT = {"abs", "ceiling", "floor", "round", "truncate"}     # the result is in the argument's unit
AGGREGATES = {"count", "min", "max", "avg", "sum"}
GEOMETRY_FUNCTIONS = {"point", "circle", "box", "polygon", "contains", "intersects", "distance", "coord1", "coord2",
                      "coordsys", "area", "centroid", "region"}
SPECIAL_FUNCTIONS = {"coalesce", "nullif", "in_unit"}
ALL_FUNCTIONS = sorted(set(FUNCTIONS) | AGGREGATES | GEOMETRY_FUNCTIONS | SPECIAL_FUNCTIONS)
# CAST targets (ADQL 2.1) -> (PostgreSQL type, category); CHAR and VARCHAR take a length
CAST_TYPES = {"smallint": ("smallint", NUMBER), "integer": ("integer", NUMBER), "bigint": ("bigint", NUMBER),
              "real": ("real", NUMBER), "double precision": ("double precision", NUMBER),
              "char": ("character", TEXT), "varchar": ("character varying", TEXT),
              "timestamp": ("timestamp without time zone", TIME)}
_INT_RANGES = {"smallint": 2 ** 15, "integer": 2 ** 31, "bigint": 2 ** 63}
MAX_CHAR_LENGTH = 10485760        # PostgreSQL's longest char(n)
# a derived table's (or CTE's) column: the PostgreSQL type behind an ADQL category, for its Column
_CATEGORY_TYPES = {NUMBER: "double precision", TEXT: "text", BOOL: "boolean", TIME: "timestamp without time zone"}
WHOLE = '"q"'                     # the alias of a set operation (or WITH) wrapped in one SELECT

_TOKEN_WORDS = {"COMP": "a comparison", "ADDOP": "an operator", "MULOP": "an operator", "STAR": "'*'",
                "DOTSTAR": "'.*'", "NUMBER": "a number", "INT": "an integer", "STRING": "a string", "REGULAR": "a name",
                "DELIMITED": "a \"quoted\" name", "COUNT": "COUNT", "DIRECTION": "ASC or DESC",
                "_SELECT": "SELECT", "_FROM": "FROM", "_WHERE": "WHERE", "_TOP": "TOP", "_OFFSET": "OFFSET",
                "DISTINCT": "DISTINCT", "ALL": "ALL", "_AS": "AS", "_JOIN": "JOIN", "_NATURAL": "NATURAL",
                "INNER": "INNER", "LEFT": "LEFT", "RIGHT": "RIGHT", "FULL": "FULL", "_OUTER": "OUTER", "_ON": "ON",
                "_USING": "USING", "_GROUP": "GROUP BY", "_ORDER": "ORDER BY", "_BY": "BY", "_HAVING": "HAVING",
                "_AND": "AND", "_OR": "OR", "NOT": "NOT", "_BETWEEN": "BETWEEN", "LIKE": "LIKE", "_IN": "IN",
                "_IS": "IS", "_NULL": "NULL", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "$END": "",
                "_WITH": "WITH", "RECURSIVE": "RECURSIVE", "SETOP": "UNION or EXCEPT", "INTERSECT": "INTERSECT",
                "EXISTS": "EXISTS", "_CASE": "CASE", "_WHEN": "WHEN", "_THEN": "THEN", "_ELSE": "ELSE", "_END": "END",
                "CAST": "CAST"}


def parse(q: str):
    return parse_text(lalr(__package__, "adql.lark"), q, _TOKEN_WORDS, {"COMP", "ADDOP", "MULOP", "LIKE", "_BETWEEN"},
                      "SELECT TOP 10 * FROM xmm.source", MAX_LENGTH)


def quote_alias(name: str) -> str:
    """A user-chosen name (table alias, output column) as a quoted identifier."""
    if "\x00" in name:
        raise XmmError("a name may not contain the NUL character", sqlstate=SYNTAX)
    return identifier(name)


@dataclass
class Expr:
    sql: str
    type: str                               # number/text/boolean/time or point/circle/polygon
    column: int = 0                         # position in the query
    cols: frozenset = frozenset()           # columns used outside aggregates
    agg: bool = False                       # holds an aggregate
    value: float | None = None              # a constant number's value
    parts: tuple = ()                       # geometry: the coordinate expressions
    predicate: str | None = None            # CONTAINS/INTERSECTS: the boolean test behind the 1/0
    points: tuple = ()                      # DISTANCE: ra1, dec1, ra2, dec2 (a comparison may use an index)
    text: str = ""                          # as written (messages)
    name: str | None = None                 # a bare column: its name (a query's output column is called so)
    unit: tuple | None = None               # ("col", table key, column) or ("unit", text): IN_UNIT's source
    opaque: bool = False                    # a POLYGON from a subquery's column: selectable, no vertices
    outer: bool = False                     # uses a column of an enclosing query

    @property
    def const(self) -> bool:
        return not self.cols and not self.agg and not self.parts_cols() and not self.outer

    def parts_cols(self):
        return any(p.cols for p in self.parts)


@dataclass
class FromItem:
    alias: str            # as the user wrote it (lower case if regular), or the table's name
    alias_sql: str
    table: Table
    explicit: bool        # the user gave an alias

    @property
    def from_sql(self) -> str:
        t = self.table
        if isinstance(t, DerivedTable) and t.schema == "derived":
            return f"{t.sql} AS {self.alias_sql} (" + ", ".join(c.sql for c in t.columns.values()) + ")"
        return f"{t.sql} AS {self.alias_sql}"


@dataclass
class DerivedColumn(Column):
    """A column of a subquery in FROM, of a WITH query or of a set operation: its ADQL type
    (a category or a geometry) and its unit as the subquery's expression had them."""
    kind: str = NUMBER
    unit: tuple | None = None


@dataclass
class DerivedTable(Table):
    duplicates: set = field(default_factory=set)     # output names used twice (not referable)


@dataclass
class Scope:
    items: list[FromItem] = field(default_factory=list)
    merged: dict = field(default_factory=dict)     # USING column -> (its SQL, type, aliases of the joined tables)
    parent: "Scope | None" = None                  # the query this one is a subquery of (correlated names)

    def add(self, item: FromItem, column: int) -> None:
        if any(i.alias == item.alias for i in self.items):
            raise XmmError(f"the table name '{item.alias}' is used twice in FROM", sqlstate="42712",
                           hint=where(column, "give each table its own alias: FROM xmm.source AS a, xmm.source AS b"))
        self.items.append(item)


def _ident(tok) -> str:
    s = str(tok)
    if s.startswith('"'):
        return s[1:-1].replace('""', '"')
    return s.lower()


class Translator:
    def __init__(self, catalog: Catalog, db=None):
        self.catalog = catalog
        self.db = db                        # for the session's uploads, the tables' Q3C indexes, TAP_SCHEMA's units
        self.uploads: dict[str, Table] | None = None
        self.indexes: dict[str, set] = {}
        self.units: dict | None = None

    # ------------------------------------------------------------ query
    def to_sql(self, q: str) -> str:
        tree = parse(q)
        self.depth = 0
        self.scope = None                   # the query being translated (its FROM), inside its parents
        self.ctes: dict[str, DerivedTable] = {}
        self.refs: list = []                # (scope, column SQL) of every name found in an enclosing query
        self.star = False
        sql, _ = self.statement(tree, top=True)
        return sql

    def deeper(self, column: int = 0) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise XmmError(f"the query nests too deeply (more than {MAX_DEPTH} levels)", sqlstate=SYNTAX,
                           hint=where(column, None))

    def statement(self, node, top: bool = False) -> tuple[str, list]:
        """A query or subquery node: [WITH] a SELECT or a set operation, [ORDER BY] [OFFSET].
        Returns its SQL and its output columns [(name or None, Expr)]. At the top the SQL
        starts with SELECT (a WITH or a set operation is wrapped in SELECT * FROM (...))."""
        self.deeper(node.meta.column if not node.meta.empty else 0)
        saved_ctes, saved_scope, saved_star = self.ctes, self.scope, self.star
        self.ctes = dict(self.ctes)
        try:
            kids = [c for c in node.children if hasattr(c, "data")]
            parts = {c.data: c for c in kids}
            body = next(c for c in kids if c.data not in ("with_clause", "order", "offset"))
            with_sql = self.with_clause(parts["with_clause"]) if "with_clause" in parts else ""
            if body.data == "select_core":
                sql, outs = self.select_core(body, parts.get("order"), parts.get("offset"))
            else:
                sql, outs = self.compound(body, parts.get("order"), parts.get("offset"))
            if with_sql:
                sql = f"{with_sql} {sql}"
                if top:
                    sql = f"SELECT * FROM ({sql}) AS {WHOLE}"
            return sql, outs
        finally:
            self.ctes, self.scope, self.star = saved_ctes, saved_scope, saved_star
            self.depth -= 1

    def with_clause(self, node) -> str:
        """WITH name [(columns)] AS (query), ...: each usable in FROM like a table, by the
        queries after it and the main one."""
        defs = []
        for c in node.children:
            if getattr(c, "type", None) == "RECURSIVE":
                raise XmmError("WITH RECURSIVE is not supported", sqlstate="0A000",
                               hint=where(c.column, "a WITH query may use the ones before it, not itself"))
            name_tok, *rest = c.children
            name = _ident(name_tok)
            if name in self.ctes and self.ctes[name].schema == "cte-new":
                raise XmmError(f"WITH names '{name}' twice", sqlstate="42712", hint=where(name_tok.column, None))
            sub = rest[-1]
            sql, outs = self.statement(sub)
            table = self.derived(name, outs, [_ident(t) for t in rest[:-1]] or None, name_tok.column, "cte-new")
            table.sql = quote_alias(name)
            self.ctes[name] = table
            defs.append(f"{quote_alias(name)} (" + ", ".join(col.sql for col in table.columns.values())
                        + f") AS ({sql})")
        for t in self.ctes.values():
            t.schema = "cte"
        return "WITH " + ", ".join(defs)

    def derived(self, name: str, outs: list, names: list | None, column: int, schema: str) -> DerivedTable:
        """The table a subquery's outputs make (a derived table, a WITH query): every column named
        (its output name, else col<n>), with its ADQL type and unit."""
        if names is not None and len(names) != len(outs):
            raise XmmError(f"'{name}' names {len(names)} columns, its query selects {len(outs)}", sqlstate="42P10",
                           hint=where(column, None))
        table = DerivedTable(name, "", schema=schema)
        for i, (out, e) in enumerate(outs):
            cname = names[i] if names is not None else (out or f"col{i + 1}")
            if cname in table.columns:
                raise XmmError(f"the query of '{name}' yields two columns called {cname}", sqlstate="42701",
                               hint=where(column, "name them apart with AS"))
            pgtype = e.type if e.type in GEOMETRY else _CATEGORY_TYPES.get(e.type, "text")
            table.columns[cname] = DerivedColumn(cname, quote_alias(cname), pgtype, kind=e.type, unit=e.unit)
        return table

    def compound(self, node, order, offset) -> tuple[str, list]:
        """A set operation (or one parenthesised query), as SELECT * FROM (...) AS "q": ORDER BY and
        OFFSET are the whole's; a member's own TOP and ORDER BY need its parentheses."""
        body, outs = self.set_member(node, first=True)
        table = DerivedTable("q", WHOLE, schema="derived")
        for i, (name, e) in enumerate(outs):
            if name is None:
                continue
            if name in table.columns or name in table.duplicates:
                table.columns.pop(name, None)
                table.duplicates.add(name)
                continue
            table.columns[name] = DerivedColumn(name, quote_alias(name), "", kind=e.type, unit=e.unit)
        item = FromItem("q", WHOLE, table, True)
        self.scope = Scope([item], parent=self.scope)
        sql = f"SELECT * FROM ({body}) AS {WHOLE}"
        if order is not None:
            items = [(Expr(quote_alias(n) if n else str(i + 1), e.type, name=n), None) for i, (n, e) in enumerate(outs)]
            orders = self.order(order, items, {}, False)
            sql += " ORDER BY " + ", ".join(e.sql for e, _ in orders)
        if offset is not None:
            sql += " OFFSET " + literal(self.count_token(offset.children[0], "OFFSET"))
        return sql, outs

    def set_member(self, node, first=False) -> tuple[str, list]:
        if node.data == "query":
            sql, outs = self.statement(node)
            return f"({sql})", outs
        if node.data == "select_core":
            top = next((c for c in node.children if getattr(c, "data", None) == "top"), None)
            if top is not None:
                raise XmmError("TOP in a member of UNION, INTERSECT or EXCEPT is ambiguous", sqlstate=SYNTAX,
                               hint=where(top.meta.column, "put the member in parentheses for its own TOP: "
                                          "(SELECT TOP 5 ...) UNION (...); for the whole: SELECT TOP 5 * FROM "
                                          "(... UNION ...) AS t"))
            sql, outs = self.select_core(node, None, None)
            return f"({sql})", outs
        left, op, *rest = node.children
        right = rest[-1]
        everything = len(rest) == 2
        word = str(op).upper()
        self.deeper(op.column)
        try:
            lsql, louts = self.set_member(left)
            rsql, routs = self.set_member(right)
        finally:
            self.depth -= 1
        if len(louts) != len(routs):
            raise XmmError(f"each side of {word} must select as many columns: {len(louts)} and {len(routs)}",
                           sqlstate="42601", hint=where(op.column, None))
        outs = []
        for i, ((name, a), (_, b)) in enumerate(zip(louts, routs)):
            if a.type != b.type:
                raise XmmError(f"column {i + 1} of {word} is {_NAMES.get(a.type, a.type)} on the left and "
                               f"{_NAMES.get(b.type, b.type)} on the right", sqlstate=DATATYPE_MISMATCH,
                               hint=where(op.column, "CAST one side"))
            if a.type in GEOMETRY and not (everything and word == "UNION"):
                raise XmmError(f"{a.type.upper()} values can be combined with UNION ALL only", sqlstate="0A000",
                               hint=where(op.column, f"{word} compares rows, and geometries are not compared"))
            outs.append((name, Expr(a.sql, a.type, name=name, unit=a.unit if a.unit == b.unit else None)))
        return f"{lsql} {word}{' ALL' if everything else ''} {rsql}", outs

    def select_core(self, node, order, offset) -> tuple[str, list]:
        parts = {c.data: c for c in node.children if hasattr(c, "data")}
        select = next(c for c in node.children if getattr(c, "data", None) == "select_list")
        scope = self.from_list(parts["from_list"])
        from_sql = self.from_sql
        self.scope = scope
        quantifier = parts.get("quantifier")
        distinct = quantifier is not None and quantifier.children[0].type == "DISTINCT"
        items = self.select_list(select)                     # [(Expr, alias or None)]
        aliases = {a: i for i, (_, a) in enumerate(items) if a}
        if not items:
            raise XmmError("the query selects no columns", sqlstate=SYNTAX)
        if distinct:
            for e, _ in items:
                if e.type in GEOMETRY:
                    raise XmmError(f"SELECT DISTINCT cannot compare {e.type.upper()} values", sqlstate="0A000",
                                   hint=where(e.column, "select its coordinates (COORD1, COORD2) instead"))
        sql = "SELECT " + ("DISTINCT " if distinct else "") + ", ".join(
            e.sql + (f" AS {quote_alias(a)}" if a else "") for e, a in items)
        sql += " FROM " + from_sql
        if "where" in parts:
            cond = self.cond(parts["where"].children[0])
            self.no_aggregate(cond, "WHERE")
            sql += " WHERE " + cond.sql
        grouped = None
        if "group" in parts:
            cols = [self.column_ref(c) for c in parts["group"].children]
            for c in cols:
                if c.type in GEOMETRY:
                    raise XmmError(f"GROUP BY cannot compare {c.type.upper()} values", sqlstate="0A000",
                                   hint=where(c.column, None))
                if not c.cols:
                    raise XmmError(f"GROUP BY {c.text}: a column of an enclosing query", sqlstate="42803",
                                   hint=where(c.column, "group by this query's own columns"))
            grouped = {c.sql for c in cols}
            sql += " GROUP BY " + ", ".join(c.sql for c in cols)
        having = self.cond(parts["having"].children[0]) if "having" in parts else None
        orders = self.order(order, items, aliases, distinct) if order is not None else []
        aggregated = grouped is not None or having is not None or any(e.agg for e, _ in items) or any(
            e.agg for e, _ in orders)
        if aggregated:
            if self.star:
                raise XmmError("SELECT * cannot be combined with GROUP BY or aggregates", sqlstate="42803",
                               hint="name the grouped columns: SELECT obs_id, count(*) FROM xmm.detection GROUP BY obs_id")
            for e in [e for e, _ in items] + ([having] if having else []) + [e for e, _ in orders]:
                self.grouped(e, grouped or set())
        if having is not None:
            sql += " HAVING " + having.sql
        if orders:
            sql += " ORDER BY " + ", ".join(e.sql for e, _ in orders)
        if "top" in parts:
            sql += " LIMIT " + literal(self.count_token(parts["top"].children[0], "TOP"))
        if offset is not None:
            sql += " OFFSET " + literal(self.count_token(offset.children[0], "OFFSET"))
        return sql, [(a or e.name, e) for e, a in items]

    def count_token(self, tok, what: str) -> int:
        n = parse_number(tok, tok.column)
        if not isinstance(n, int) or n < 0:
            raise XmmError(f"{what} needs a whole number of rows, not {tok}", sqlstate=SYNTAX,
                           hint=where(tok.column, None))
        return n

    # ------------------------------------------------------------ FROM
    def from_list(self, node) -> Scope:
        parent = self.scope
        scope = Scope(parent=parent)
        chains = []
        for chain in node.children:
            first, *joins = chain.children
            local = Scope(parent=parent)
            item = self.table_ref(first, parent)
            scope.add(item, first.meta.column)
            local.add(item, first.meta.column)
            sql = item.from_sql
            for j in joins:
                kind = "JOIN"
                natural = j.data == "natural_join"
                ref = j.children[-1] if natural else j.children[-2]
                typ = j.children[0] if j.children and getattr(j.children[0], "data", None) == "join_type" else None
                if typ is not None:
                    kind = " ".join(str(t).upper() for t in typ.children) + " JOIN"
                    kind = {"LEFT JOIN": "LEFT JOIN", "RIGHT JOIN": "RIGHT JOIN", "FULL JOIN": "FULL JOIN"}.get(kind, kind)
                right = self.table_ref(ref, parent)
                scope.add(right, ref.meta.column)
                local.add(right, ref.meta.column)
                if natural:
                    left_names = {c for i in local.items[:-1] for c in i.table.columns}
                    common = [(c, ref.meta.column) for c in right.table.columns if c in left_names]
                    if not common:
                        raise XmmError("NATURAL JOIN: the tables have no column name in common", sqlstate="42601",
                                       hint=where(j.meta.column, "join with ON, or list the tables with a comma"))
                    sql += self.using(kind, local, scope, right, common)
                    continue
                cond = j.children[-1]
                if cond.data == "on":
                    self.scope = local
                    c = self.cond(cond.children[0])
                    self.scope = parent
                    self.no_aggregate(c, "ON")
                    sql += f" {kind} {right.from_sql} ON {c.sql}"
                else:
                    sql += self.using(kind, local, scope, right, [(_ident(t), t.column) for t in cond.children])
            chains.append(sql)
        self.from_sql = ", ".join(chains)
        return scope

    def using(self, kind: str, local: Scope, scope: Scope, right: FromItem, columns: list) -> str:
        """JOIN ... USING (columns), NATURAL JOIN too (its columns: the names both sides have)."""
        names = []
        for name, pos in columns:
            for side in (local.items[:-1], [right]):
                if not any(name in i.table.columns for i in side):
                    raise unknown("column", name, sorted({c for i in side for c in i.table.columns}),
                                  pos, hint="USING names a column both sides have", sqlstate=UNDEFINED_COLUMN)
            left = [i for i in local.items[:-1] if name in i.table.columns]
            if name not in local.merged and len(left) > 1:
                raise XmmError(f"USING column '{name}' is in more than one table on the left",
                               sqlstate="42702", hint=where(pos, "join with ON instead"))
            rcol = right.table.columns[name]
            lsql, ltype, aliases = local.merged.get(
                name, (f"{left[0].alias_sql}.{left[0].table.columns[name].sql}",
                       kind_of(left[0].table.columns[name]), {left[0].alias}))
            if ltype != kind_of(rcol) or ltype in GEOMETRY:
                raise XmmError(f"USING column '{name}' is {ltype} on the left and {kind_of(rcol)} on "
                               "the right", sqlstate=DATATYPE_MISMATCH, hint=where(pos, None))
            msql = lsql if kind in ("JOIN", "INNER JOIN", "LEFT JOIN") else \
                f"COALESCE({lsql}, {right.alias_sql}.{rcol.sql})"
            names.append(name)
            local.merged[name] = scope.merged[name] = (msql, ltype, aliases | {right.alias})
        return f" {kind} {right.from_sql} USING (" + ", ".join(right.table.columns[n].sql for n in names) + ")"

    def table_ref(self, node, parent: Scope | None) -> FromItem:
        if node.data == "derived_table":
            sub, alias_tok = node.children
            self.scope = parent          # a subquery in FROM sees the enclosing queries, not its siblings
            sql, outs = self.statement(sub)
            alias = _ident(alias_tok)
            table = self.derived(alias, outs, None, alias_tok.column, "derived")
            table.sql = f"({sql})"
            return FromItem(alias, quote_alias(alias), table, True)
        name = node.children[0]
        parts = [_ident(t) for t in name.children]
        if len(parts) > 2:
            raise XmmError(f"'{'.'.join(parts)}' is not a table name", sqlstate=SYNTAX,
                           hint=where(name.meta.column, "write schema.table, e.g. xmm.source"))
        if len(parts) == 1 and parts[0] in self.ctes:
            table = self.ctes[parts[0]]
        elif len(parts) == 2 and parts[0].lower() == UPLOAD_SCHEMA:
            table = self.upload(parts[1], name.meta.column)
        else:
            table = self.catalog.table(".".join(parts), name.meta.column)
        if len(node.children) > 1:
            alias = _ident(node.children[1])
            return FromItem(alias, quote_alias(alias), table, True)
        return FromItem(table.name, quote_alias(table.name), table, False)

    def upload(self, name: str, column: int) -> Table:
        """TAP_UPLOAD.<name>: the session's table tap_upload_<name>, or a human error."""
        if self.uploads is None:
            self.uploads = {}
            for r in (self.db.query(_UPLOADS_SQL) if self.db is not None else []):
                if category(r["type"]) == OTHER:
                    continue        # no ADQL type: the TAP service makes none, a psql session might
                t = self.uploads.setdefault(r["upload"].lower(), Table(
                    r["upload"].lower(), "pg_temp." + r["table_sql"], schema=UPLOAD_SCHEMA))
                t.columns[r["column_name"]] = Column(r["column_name"], r["column_sql"], r["type"])
        found = self.uploads.get(name.lower())
        if found is None:
            known = [f"TAP_UPLOAD.{n}" for n in self.uploads]
            raise unknown("table", f"TAP_UPLOAD.{name}", [k.lower() for k in known], column,
                          sqlstate=UNDEFINED_TABLE_SQLSTATE,
                          hint=("the tables this request uploads: " + ", ".join(known)) if known else
                          "this request uploads no tables (TAP: UPLOAD=name,param:part with the table as that part)")
        return found

    # ------------------------------------------------------------ SELECT, ORDER BY
    def select_list(self, node) -> list:
        """[(Expr, alias or None)]: `*` alone or among other items (SELECT *, DISTANCE(...) AS d,
        as in the Gaia archive's examples), table.*, expressions."""
        out = []
        for item in node.children:
            out += self.star_items() if item.data == "select_star" else self.select_items([item])
        self.star = any(i.data in ("select_star", "select_table_all") for i in node.children)
        return out

    def star_items(self) -> list:
        out, done = [], set()
        for i in self.scope.items:   # as PostgreSQL's *: a USING column once
            for c in i.table.columns.values():
                merged = self.scope.merged.get(c.name)
                if merged and i.alias in merged[2]:
                    if c.name not in done:
                        done.add(c.name)
                        out.append((Expr(merged[0], merged[1], cols=frozenset([merged[0]]), name=c.name),
                                    c.name if merged[0].startswith("COALESCE") else None))
                    continue
                out.append((self.column_expr(i, c), None))
        return out

    def select_items(self, items) -> list:
        out = []
        for item in items:
            if item.data == "select_table_all":
                parts = [_ident(t) for t in item.children[0].children]
                matches = [i for i in self.scope.items if self.names_item(i, parts)]
                if not matches:
                    raise unknown("table", ".".join(parts), [i.alias for i in self.scope.items],
                                  item.meta.column, sqlstate=UNDEFINED_TABLE_SQLSTATE)
                self.star = True
                out += [(self.column_expr(matches[0], c), None) for c in matches[0].table.columns.values()]
                continue
            e = self.expr(item.children[0])       # geometries too: DALI point, circle, polygon
            out.append((e, _ident(item.children[1]) if len(item.children) > 1 else None))
        return out

    def order(self, node, items, aliases, distinct) -> list:
        out = []
        for item in node.children:
            first = item.children[0]
            direction = f" {str(item.children[1]).upper()}" if len(item.children) > 1 else ""
            e = None
            if first.data == "number" and first.children[0].type == "INT":
                n = parse_number(first.children[0])
                if not 1 <= n <= len(items):
                    raise XmmError(f"ORDER BY {n}: the query selects {len(items)} columns", sqlstate="42P10",
                                   hint=where(first.meta.column, None))
                e = Expr(str(n), items[n - 1][0].type, cols=items[n - 1][0].cols, agg=items[n - 1][0].agg)
                if e.type not in VALUE_TYPES:
                    raise self.not_value(items[n - 1][0], "ORDER BY")
            elif first.data == "column_ref" and len(first.children[0].children) == 1 \
                    and _ident(first.children[0].children[0]) in aliases:
                name = _ident(first.children[0].children[0])
                if sum(a == name for _, a in items) > 1:
                    raise XmmError(f"ORDER BY {name}: two output columns are called {name}", sqlstate="42702",
                                   hint=where(first.meta.column, "give them different names with AS"))
                i = aliases[name]
                e = Expr(quote_alias(items[i][1]), items[i][0].type, cols=items[i][0].cols, agg=items[i][0].agg)
                if e.type not in VALUE_TYPES:
                    raise self.not_value(items[i][0], "ORDER BY")
            else:
                e = self.expr(first)
                self.value(e, "ORDER BY")
                if e.const:
                    raise XmmError("ORDER BY needs a column, an output name or a column number",
                                   sqlstate=SYNTAX, hint=where(first.meta.column, "e.g. ORDER BY sc_det_ml DESC"))
                if distinct and e.sql not in {x.sql for x, _ in items}:
                    raise XmmError("with SELECT DISTINCT, ORDER BY must name selected columns", sqlstate="42P10",
                                   hint=where(first.meta.column, None))
            out.append((Expr(e.sql + direction, e.type, cols=e.cols, agg=e.agg), None))
        return out

    # ------------------------------------------------------------ conditions
    def cond(self, node) -> Expr:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise XmmError(f"the query nests too deeply (more than {MAX_DEPTH} levels)", sqlstate=SYNTAX)
            kind = node.data
            if kind in ("or_", "and_"):
                parts = [self.cond(c) for c in node.children]
                if len(parts) == 1:
                    return parts[0]
                op = " OR " if kind == "or_" else " AND "
                return self.combine(op.join(f"({p.sql})" for p in parts), BOOL, *parts)
            if kind == "not_":
                inner = self.cond(node.children[-1])
                return self.combine(f"NOT ({inner.sql})", BOOL, inner)
            return getattr(self, "pred_" + kind)(*node.children)
        finally:
            self.depth -= 1

    def pred_compare(self, left, op, right) -> Expr:
        a, b = self.expr(left), self.expr(right)
        op = "<>" if str(op) == "!=" else str(op)
        for geo, const in ((a, b), (b, a)):   # CONTAINS(...) = 1 and friends use the index
            if geo.predicate and const.value in (0, 1) and op in ("=", "<>"):
                positive = (const.value == 1) == (op == "=")
                return self.combine(geo.predicate if positive else f"NOT ({geo.predicate})", BOOL, geo)
        within = self.distance_within(a, op, b)
        if within is not None:
            return within
        if a.type == NUMBER and b.type == BOOL:
            a, b = b, a
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        self.comparable(a, b, f"'{op}'")
        return self.combine(f"{a.sql} {op} {self.as_type(b, a).sql}", BOOL, a, b)

    def pred_between(self, left, *rest) -> Expr:
        neg = "NOT " if len(rest) == 3 else ""
        lo, hi = rest[-2:]
        a, b, c = self.expr(left), self.expr(lo), self.expr(hi)
        self.comparable(a, b, "BETWEEN")
        self.comparable(a, c, "BETWEEN")
        return self.combine(f"{a.sql} {neg}BETWEEN {self.as_type(b, a).sql} AND {self.as_type(c, a).sql}", BOOL, a, b, c)

    def pred_like(self, left, *rest) -> Expr:
        neg = "NOT " if len(rest) == 3 else ""
        op, pattern = rest[-2], rest[-1]
        a, p = self.expr(left), self.expr(pattern)
        for e in (a, p):
            if e.type != TEXT:
                raise self.mismatch(e, TEXT, str(op).upper())
        return self.combine(f"{a.sql} {neg}{str(op).upper()} {p.sql} ESCAPE ''", BOOL, a, p)

    def pred_in_list(self, left, *rest) -> Expr:
        neg = "NOT " if rest and getattr(rest[0], "type", None) == "NOT" else ""
        values = [self.expr(v) for v in rest if hasattr(v, "data")]
        a = self.expr(left)
        for v in values:
            self.comparable(a, v, "IN")
        return self.combine(f"{a.sql} {neg}IN ({', '.join(self.as_type(v, a).sql for v in values)})", BOOL, a, *values)

    def subquery(self, node, what: str, one_column: bool = True) -> tuple[str, list, frozenset, bool]:
        """A subquery inside an expression: its SQL, its outputs, the columns of this query it
        uses (a correlated subquery: GROUP BY rules apply to them here) and whether it uses
        columns of queries further out."""
        mark = len(self.refs)
        sql, outs = self.statement(node)
        here = frozenset(c for sc, c in self.refs[mark:] if sc is self.scope)
        self.refs[mark:] = [(sc, c) for sc, c in self.refs[mark:] if sc is not self.scope]
        if one_column and len(outs) != 1:
            raise XmmError(f"the subquery of {what} must select one column, not {len(outs)}", sqlstate="42601",
                           hint=where(node.meta.column if not node.meta.empty else 0, None))
        return sql, outs, here, len(self.refs) > mark

    def pred_in_query(self, left, *rest) -> Expr:
        neg = "NOT " if rest and getattr(rest[0], "type", None) == "NOT" else ""
        a = self.expr(left)
        sql, outs, here, further = self.subquery(rest[-1], "IN")
        b = outs[0][1]
        self.comparable(a, Expr("", b.type, a.column, text="its column"), "IN")
        e = self.combine(f"{a.sql} {neg}IN ({sql})", BOOL, a)
        e.cols |= here
        e.outer |= further
        return e

    def pred_exists(self, tok, sub) -> Expr:
        sql, _, here, further = self.subquery(sub, "EXISTS", one_column=False)
        return Expr(f"EXISTS ({sql})", BOOL, tok.column, here, outer=further)

    def pred_is_null(self, left, *rest) -> Expr:
        a = self.expr(left)
        self.value(a, "IS NULL")
        return self.combine(f"{a.sql} IS {'NOT ' if rest else ''}NULL", BOOL, a)

    # ------------------------------------------------------------ expressions
    def expr(self, node) -> Expr:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise XmmError(f"the query nests too deeply (more than {MAX_DEPTH} levels)", sqlstate=SYNTAX)
            if not hasattr(node, "data"):
                raise XmmError(f"syntax error at column {node.column}: unexpected '{node}'", sqlstate=SYNTAX)
            if node.data in ("or_", "and_", "not_", "compare", "between", "like", "in_list", "is_null", "in_query",
                             "exists"):
                raise XmmError(f"syntax error at column {node.meta.column}: a condition where a value is expected",
                               sqlstate=SYNTAX)
            return getattr(self, "ex_" + node.data)(node)
        finally:
            self.depth -= 1

    def ex_number(self, node) -> Expr:
        tok = node.children[0]
        v = parse_number(tok, tok.column)
        return Expr(literal(v), NUMBER, tok.column, value=v, text=str(tok))

    def ex_string(self, node) -> Expr:
        tok = node.children[0]
        s = str(tok)[1:-1].replace("''", "'")
        return Expr(literal(s), TEXT, tok.column, text=str(tok))

    def ex_sign(self, node) -> Expr:
        op, inner = node.children
        e = self.expr(inner)
        if e.type != NUMBER or op == "||":
            raise self.mismatch(e, NUMBER, f"'{op}'")
        if op == "+":
            return e
        value = -e.value if e.value is not None else None
        return Expr(f"(-{e.sql})", NUMBER, e.column, e.cols, e.agg, value, text=f"-{e.text}", unit=e.unit,
                    outer=e.outer)

    def ex_binop(self, node) -> Expr:
        left, op, right = node.children
        a, b = self.expr(left), self.expr(right)
        want = TEXT if op == "||" else NUMBER
        for e in (a, b):
            if e.type != want:
                raise self.mismatch(e, want, f"'{op}'")
        if op == "/":
            if b.value == 0:
                raise XmmError(f"division by zero at column {b.column}", sqlstate="22012")
            e = self.combine(f"(({a.sql})::double precision / {b.sql})", want, a, b)  # ADQL divides as reals
        else:
            e = self.combine(f"({a.sql} {op} {b.sql})", want, a, b)
        if want == NUMBER and a.value is not None and b.value is not None:   # fold constants (regions check them)
            v = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
                 "/": lambda x, y: x / y}[str(op)](float(a.value), float(b.value))
            e.value = v if math.isfinite(v) else None
        return e

    def ex_column_ref(self, node) -> Expr:
        return self.column_ref(node)

    def ex_count_star(self, node) -> Expr:
        return Expr("count(*)", NUMBER, node.meta.column, agg=True)

    def ex_count_quantified(self, node) -> Expr:
        _, quant, arg = node.children
        e = self.expr(arg)
        self.value(e, "COUNT")
        if e.agg:
            raise self.nested(node)
        q = "DISTINCT " if quant.children[0].type == "DISTINCT" else ""
        return Expr(f"count({q}{e.sql})", NUMBER, node.meta.column, agg=True)

    def ex_scalar_query(self, node) -> Expr:
        sql, outs, here, further = self.subquery(node.children[0], "a value")
        out = outs[0][1]
        e = Expr(f"({sql})", out.type, node.meta.column, here, unit=out.unit, text="(SELECT ...)", outer=further)
        return self.geometry_value(e) if e.type in GEOMETRY else e

    def ex_case_searched(self, node) -> Expr:
        kids = node.children
        whens = [(self.cond(kids[i]), self.expr(kids[i + 1])) for i in range(0, len(kids) - 1, 2)]
        default = self.expr(kids[-1]) if len(kids) % 2 else None
        results = [r for _, r in whens] + ([default] if default else [])
        self.same_type(results, "CASE")
        sql = "CASE " + " ".join(f"WHEN {c.sql} THEN {r.sql}" for c, r in whens) + (
            f" ELSE {default.sql}" if default else "") + " END"
        return self.combine(f"({sql})", results[0].type, *[c for c, _ in whens], *results)

    def ex_case_simple(self, node) -> Expr:
        subject, *kids = node.children
        x = self.expr(subject)
        whens = [(self.expr(kids[i]), self.expr(kids[i + 1])) for i in range(0, len(kids) - 1, 2)]
        default = self.expr(kids[-1]) if len(kids) % 2 else None
        for v, _ in whens:
            self.comparable(x, v, "CASE ... WHEN")
        results = [r for _, r in whens] + ([default] if default else [])
        self.same_type(results, "CASE")
        sql = f"CASE {x.sql} " + " ".join(f"WHEN {self.as_type(v, x).sql} THEN {r.sql}" for v, r in whens) + (
            f" ELSE {default.sql}" if default else "") + " END"
        return self.combine(f"({sql})", results[0].type, x, *[v for v, _ in whens], *results)

    def same_type(self, values: list, what: str) -> None:
        for e in values:
            self.value(e, what)
        for e in values[1:]:
            if e.type != values[0].type:
                raise self.mismatch(e, values[0].type, what)

    def ex_cast(self, node) -> Expr:
        tok, arg, *spec = node.children
        x = self.expr(arg)
        words = [str(t).lower() for t in spec if getattr(t, "type", None) != "INT"]
        length = next((t for t in spec if getattr(t, "type", None) == "INT"), None)
        target = " ".join(words)
        if target not in CAST_TYPES:
            raise unknown("type", target.upper(), [t.upper() for t in CAST_TYPES], spec[0].column,
                          hint="CAST to SMALLINT, INTEGER, BIGINT, REAL, DOUBLE PRECISION, CHAR(n), VARCHAR(n) or "
                          "TIMESTAMP", sqlstate="42704")
        pgtype, kind = CAST_TYPES[target]
        if length is not None:
            if kind != TEXT:
                raise XmmError(f"{target.upper()} takes no length", sqlstate=SYNTAX, hint=where(length.column, None))
            n = parse_number(length, length.column)
            if not 1 <= n <= MAX_CHAR_LENGTH:
                raise XmmError(f"{target.upper()}({n}): the length must be 1 to {MAX_CHAR_LENGTH}", sqlstate="22023",
                               hint=where(length.column, None))
            pgtype += f"({n})"
        self.value(x, "CAST")
        allowed = {NUMBER: (NUMBER, TEXT, BOOL), TEXT: (NUMBER, TEXT, BOOL, TIME), TIME: (TEXT, TIME)}[kind]
        if x.type not in allowed:
            raise XmmError(f"CAST of {_NAMES[x.type]} to {target.upper()} is not possible", sqlstate="42846",
                           hint=where(tok.column, None))
        sql = x.sql
        if x.type == BOOL and kind == NUMBER:
            sql = f"CASE WHEN {sql} THEN 1 ELSE 0 END"
        value = None
        if x.type == TEXT and kind == NUMBER and x.const and x.text.startswith("'"):
            try:
                value = parse_number(x.text[1:-1].replace("''", "'"))
            except XmmError:
                raise XmmError(f"CAST: {x.text} is not a number", sqlstate="22P02", hint=where(x.column, None)) from None
        elif x.type == NUMBER and kind == NUMBER:
            value = x.value
        if value is not None and target in _INT_RANGES:
            if not -_INT_RANGES[target] <= round(value) < _INT_RANGES[target]:
                raise XmmError(f"CAST: {value} is out of range for {target.upper()}", sqlstate="22003",
                               hint=where(x.column, None))
        e = self.combine(f"CAST({sql} AS {pgtype})", kind, x)
        e.value = value if kind == NUMBER and value is not None and target not in _INT_RANGES else None
        return e

    def special(self, name: str, args: list, col: int) -> Expr:
        """COALESCE, NULLIF, IN_UNIT."""
        if name == "coalesce":
            if not args:
                raise XmmError("COALESCE takes one or more values", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
            args = [self.as_type(a, args[0]) for a in args]
            self.same_type(args, "COALESCE")
            e = self.combine("COALESCE(" + ", ".join(a.sql for a in args) + ")", args[0].type, *args)
            e.unit = args[0].unit if all(a.unit == args[0].unit for a in args) else None
            return e
        if name == "nullif":
            if len(args) != 2:
                raise XmmError("NULLIF takes two values", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
            self.comparable(args[0], args[1], "NULLIF")
            e = self.combine(f"NULLIF({args[0].sql}, {self.as_type(args[1], args[0]).sql})", args[0].type, *args)
            e.unit = args[0].unit
            return e
        if len(args) != 2 or args[1].type != TEXT or not args[1].const or not args[1].text.startswith("'"):
            raise XmmError("IN_UNIT takes a number and a unit in quotes: IN_UNIT(sc_poserr, 'deg')",
                           sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        x, target = args[0], args[1].text[1:-1].replace("''", "'").strip()
        if x.type != NUMBER:
            raise self.mismatch(x, NUMBER, "IN_UNIT")
        source = self.unit_text(x)
        if not source:
            raise XmmError(f"IN_UNIT: the unit of {x.text or x.sql} is not known", sqlstate="42804",
                           hint=where(col, "IN_UNIT converts a column with a unit in TAP_SCHEMA.columns "
                                      "(or an expression keeping one: ABS, MIN, MAX, AVG, SUM, ...)"))
        factor = convert_unit(source, target, col)
        e = self.combine(f"(({x.sql})::double precision * {literal(factor)})", NUMBER, x)
        e.value = x.value * factor if x.value is not None else None
        e.unit = ("unit", target)
        return e

    def unit_text(self, e: Expr) -> str | None:
        """The unit of an expression, from TAP_SCHEMA.columns for a catalogue column."""
        if e.unit is None:
            return None
        if e.unit[0] == "unit":
            return e.unit[1]
        if self.units is None:
            self.units = {}
            if self.db is not None and self.db.query(
                    "SELECT to_regclass('tap_schema.columns') IS NOT NULL AS has")[0]["has"]:
                for r in self.db.query("SELECT table_name, column_name, unit FROM tap_schema.columns "
                                       "WHERE coalesce(unit, '') <> ''"):
                    name = r["column_name"]
                    if name.startswith('"'):
                        name = name[1:-1].replace('""', '"')
                    self.units[(r["table_name"], name)] = r["unit"]
        return self.units.get((e.unit[1], e.unit[2]))

    def ex_call(self, node) -> Expr:
        name_tok, *arg_nodes = node.children
        name = str(name_tok).lower().strip('"')
        col = name_tok.column
        if name in SPECIAL_FUNCTIONS:
            return self.special(name, [self.expr(a) for a in arg_nodes], col)
        if name == "rand" and arg_nodes:
            raise XmmError("RAND takes no seed here", sqlstate="0A000",
                           hint=where(col, "RAND() is random() of PostgreSQL, a new sequence in each query"))
        if name in GEOMETRY_FUNCTIONS:
            return getattr(self, "geo_" + name)([self.expr(a) for a in arg_nodes], col)
        if name in AGGREGATES:
            if len(arg_nodes) != 1:
                raise XmmError(f"{name.upper()} takes one argument", sqlstate=SYNTAX, hint=where(col, None))
            e = self.expr(arg_nodes[0])
            self.value(e, name.upper())
            if e.agg:
                raise self.nested(node)
            if name in ("avg", "sum") and e.type != NUMBER:
                raise self.mismatch(e, NUMBER, name.upper())
            if name in ("min", "max") and e.type == BOOL:
                raise self.mismatch(e, NUMBER, name.upper())
            if e.outer and not e.cols:
                raise XmmError(f"{name.upper()} of a column of an enclosing query only is not supported",
                               sqlstate="0A000", hint=where(col, "aggregate it in the enclosing query"))
            return Expr(f"{name}({e.sql})", e.type if name in ("min", "max") else NUMBER, col, agg=True,
                        unit=e.unit if name != "count" else None)
        if name not in FUNCTIONS:
            raise unknown("function", str(name_tok), ALL_FUNCTIONS, col, sqlstate=UNDEFINED_FUNCTION)
        template, types, result = FUNCTIONS[name]
        args = [self.expr(a) for a in arg_nodes]
        if name in _ONE_ARG_DEFAULTS and len(args) == 1:
            args.append(Expr(_ONE_ARG_DEFAULTS[name], NUMBER, col, value=0))
        if len(args) != len(types):
            raise XmmError(f"{name.upper()} takes {len(types)} argument{'s' if len(types) != 1 else ''}, "
                           f"not {len(args)}", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        for e, t in zip(args, types):
            if e.type != t:
                raise self.mismatch(e, t, name.upper())
        if name in ("round", "truncate") and (args[1].value is None or not -1000 <= args[1].value <= 1000):
            raise XmmError(f"{name.upper()}: the number of decimals must be a whole number between -1000 and 1000",
                           sqlstate=DATATYPE_MISMATCH, hint=where(col, None))
        e = self.combine(template.format(*(a.sql for a in args)), result, *args)
        if name in _KEEP_UNIT:
            e.unit = args[0].unit
        return e


    # ------------------------------------------------------------ geometry
    def coordsys(self, args: list, n: int, what: str, col: int) -> list:
        """Drops the optional leading coordinate system ('ICRS'); checks it."""
        if len(args) == n + 1 and args[0].type == TEXT:
            system = args[0].sql
            if args[0].const and args[0].text:
                s = args[0].text[1:-1].strip().upper()
                if s.split(" ")[0] in ("", "ICRS", "J2000", "FK5", "UNKNOWNFRAME"):
                    return args[1:]
            raise XmmError(f"{what}: coordinate system {args[0].text or system} is not supported",
                           sqlstate=DATATYPE_MISMATCH, hint=where(col, "xmmdb positions are ICRS: write 'ICRS'"))
        return args

    def numbers(self, args: list, what: str, col: int) -> None:
        for e in args:
            if e.type != NUMBER:
                raise self.mismatch(e, NUMBER, what)

    def geo_point(self, args, col) -> Expr:
        args = self.coordsys(args, 2, "POINT", col)
        if len(args) != 2:
            raise XmmError("POINT takes ('ICRS', ra, dec)", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        self.numbers(args, "POINT", col)
        return self.geometry("point", args, col)

    def geo_circle(self, args, col) -> Expr:
        if len(args) == 2 and args[0].type == "point":
            args = list(args[0].parts) + [args[1]]
        args = self.coordsys(args, 3, "CIRCLE", col)
        if len(args) == 2 and args[0].type == "point":
            args = list(args[0].parts) + [args[1]]
        if len(args) != 3:
            raise XmmError("CIRCLE takes ('ICRS', ra, dec, radius)", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        self.numbers(args, "CIRCLE", col)
        return self.geometry("circle", args, col)

    def geo_box(self, args, col) -> Expr:
        args = self.coordsys(args, 4, "BOX", col)
        if len(args) != 4:
            raise XmmError("BOX takes ('ICRS', ra, dec, width, height)", sqlstate=UNDEFINED_FUNCTION,
                           hint=where(col, None))
        self.numbers(args, "BOX", col)
        if any(a.value is None for a in args):
            raise XmmError("BOX needs numbers (its corners are computed once)", sqlstate=DATATYPE_MISMATCH,
                           hint=where(col, "use POLYGON for a region that depends on columns"))
        ra, dec, w, h = (float(a.value) for a in args)
        if not (0 < w < 180 and 0 < h < 180 and -90 <= dec <= 90):
            raise XmmError("BOX: width and height must be between 0 and 180 degrees, Dec within ±90",
                           sqlstate="22023", hint=where(col, None))
        corners = box_corners(ra, dec, w, h)
        return self.geometry("polygon", [Expr(literal(v), NUMBER, col, value=v) for xy in corners for v in xy], col)

    def geo_polygon(self, args, col) -> Expr:
        flat = []
        for a in args:
            flat += list(a.parts) if a.type == "point" else [a]
        args = self.coordsys(flat, len(flat) - 1, "POLYGON", col) if flat and flat[0].type == TEXT else flat
        self.numbers(args, "POLYGON", col)
        if len(args) % 2 or not 3 <= len(args) // 2 <= MAX_POLYGON_VERTICES:
            raise XmmError(f"POLYGON takes ('ICRS', ra1, dec1, ra2, dec2, ra3, dec3, ...): 3 to "
                           f"{MAX_POLYGON_VERTICES} vertices", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        return self.geometry("polygon", args, col)

    def geometry(self, kind, args, col) -> Expr:
        """A POINT, CIRCLE or POLYGON: its coordinates (parts) for the region tests, and as a value
        (SELECT) PostgreSQL's point, circle or polygon in degrees, which the TAP service writes as
        DALI's point, circle and polygon (double arrays)."""
        self.no_agg_in_geometry(args, col)
        f = [f"({a.sql})::double precision" for a in args]
        if kind == "point":
            sql = f"point({f[0]}, {f[1]})"
        elif kind == "circle":
            sql = f"circle(point({f[0]}, {f[1]}), {f[2]})"
        elif all(a.value is not None for a in args):
            sql = literal("(" + ",".join(f"({float(a.value)!r},{float(b.value)!r})"
                                         for a, b in zip(args[0::2], args[1::2])) + ")") + "::polygon"
        else:
            sql = "('(' || " + " || ',' || ".join(f"'(' || {a}::text || ',' || {b}::text || ')'"
                                                   for a, b in zip(f[0::2], f[1::2])) + " || ')')::polygon"
        return Expr(sql, kind, col, cols=frozenset().union(*(a.cols for a in args)), parts=tuple(args),
                    outer=any(a.outer for a in args))

    @staticmethod
    def geometry_value(e: Expr) -> Expr:
        """A geometry known by its SQL only (a subquery's column): a point's and a circle's
        coordinates are read back from it; a polygon's are not (it can be selected only)."""
        x = f"({e.sql})"
        cols, out = e.cols, e.outer
        if e.type == "point":
            e.parts = (Expr(f"({x})[0]", NUMBER, e.column, cols, outer=out), Expr(f"({x})[1]", NUMBER, e.column, cols,
                                                                                   outer=out))
        elif e.type == "circle":
            e.parts = (Expr(f"(center{x})[0]", NUMBER, e.column, cols, outer=out),
                       Expr(f"(center{x})[1]", NUMBER, e.column, cols, outer=out),
                       Expr(f"radius{x}", NUMBER, e.column, cols, outer=out))
        else:
            e.opaque = True
        return e

    def vertices(self, e: Expr, what: str, col: int) -> None:
        if e.opaque:
            raise XmmError(f"{what}: a POLYGON from a subquery's column has no vertices here", sqlstate="0A000",
                           hint=where(col, "write the POLYGON in the query that tests it"))

    def geo_area(self, args, col) -> Expr:
        """AREA in square degrees (on the sphere)."""
        if len(args) != 1 or args[0].type not in GEOMETRY:
            raise XmmError("AREA takes a POINT, CIRCLE or POLYGON", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        g = args[0]
        if g.type == "point":
            return Expr("0", NUMBER, col, value=0, text="0")
        if g.type == "circle":
            r = g.parts[2]
            if r.value is not None:
                v = circle_area(float(r.value))
                return Expr(literal(v), NUMBER, col, value=v, text=str(v))
            return self.combine(f"(2 * pi() * (1 - cos(radians(({r.sql})::double precision))) * (180 / pi())^2)",
                                NUMBER, r)
        self.vertices(g, "AREA", col)
        if any(p.value is None for p in g.parts):
            raise XmmError("AREA of a POLYGON needs numbers (its area is computed once)", sqlstate="0A000",
                           hint=where(col, None))
        v = polygon_area([float(p.value) for p in g.parts])
        return Expr(literal(v), NUMBER, col, value=v, text=str(v))

    def geo_centroid(self, args, col) -> Expr:
        if len(args) != 1 or args[0].type not in GEOMETRY:
            raise XmmError("CENTROID takes a POINT, CIRCLE or POLYGON", sqlstate=UNDEFINED_FUNCTION,
                           hint=where(col, None))
        g = args[0]
        if g.type == "point":
            return g
        if g.type == "circle":
            return self.geometry("point", list(g.parts[:2]), col)
        self.vertices(g, "CENTROID", col)
        if any(p.value is None for p in g.parts):
            raise XmmError("CENTROID of a POLYGON needs numbers (it is computed once)", sqlstate="0A000",
                           hint=where(col, None))
        ra, dec = polygon_centroid([float(p.value) for p in g.parts])
        return self.geometry("point", [Expr(literal(ra), NUMBER, col, value=ra), Expr(literal(dec), NUMBER, col,
                                                                                       value=dec)], col)

    def geo_region(self, args, col) -> Expr:
        raise XmmError("REGION is not supported", sqlstate="0A000",
                       hint=where(col, "write the region as CIRCLE, BOX or POLYGON"))

    def geo_coord1(self, args, col) -> Expr:
        return self.coord(args, col, 0)

    def geo_coord2(self, args, col) -> Expr:
        return self.coord(args, col, 1)

    def coord(self, args, col, i) -> Expr:
        if len(args) != 1 or args[0].type != "point":
            raise XmmError(f"COORD{i + 1} takes a POINT", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        return args[0].parts[i]

    def geo_coordsys(self, args, col) -> Expr:
        if len(args) != 1 or args[0].type not in GEOMETRY:
            raise XmmError("COORDSYS takes a POINT, CIRCLE or POLYGON", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        return Expr("'ICRS'", TEXT, col, text="'ICRS'")

    def geo_distance(self, args, col) -> Expr:
        if len(args) == 2 and all(a.type == "point" for a in args):
            args = list(args[0].parts) + list(args[1].parts)
        if len(args) != 4:
            raise XmmError("DISTANCE takes two POINTs (or ra1, dec1, ra2, dec2)", sqlstate=UNDEFINED_FUNCTION,
                           hint=where(col, None))
        self.numbers(args, "DISTANCE", col)
        e = self.combine("q3c_dist(" + ", ".join(a.sql for a in args) + ")", NUMBER, *args)
        e.points = tuple(args)
        return e

    def distance_within(self, a: Expr, op: str, b: Expr) -> Expr | None:
        """DISTANCE(p, q) < r (or <= r, r > DISTANCE(p, q), r >= …) with r a number of degrees as
        q3c_join(p, q, r), which finds the pairs through a Q3C index; q3c_dist compared is a scan.
        q3c_join tests distance < r: for <= only a pair exactly r apart would differ."""
        if op in (">", ">="):
            a, b, op = b, a, {">": "<", ">=": "<="}[op]
        if op not in ("<", "<=") or not a.points or a.agg or not any(p.cols for p in a.points):
            return None
        if b.type != NUMBER or not b.const or b.value is None or not 0 <= b.value <= 180 \
                or (op == "<=" and b.value == 0):
            return None
        return self.combine(self.q3c_join(a.points[:2], a.points[2:], b), BOOL, a, b)

    def q3c_join(self, p: tuple, q: tuple, radius: Expr) -> str:
        """q3c_join(p, q, radius): Q3C searches q's table through its index for each row of p's. The
        sides swap when only p's table has a Q3C index on those columns, or when p is a catalogue
        table's position and q an upload's: an upload is the smaller (its rows are bounded)."""
        ip, iq = self.indexed_position(p), self.indexed_position(q)
        if ip is not None and (iq is None or (iq.table.schema == UPLOAD_SCHEMA != ip.table.schema)):
            p, q = q, p
        return f"q3c_join({p[0].sql}, {p[1].sql}, {q[0].sql}, {q[1].sql}, {radius.sql})"

    def indexed_position(self, point: tuple) -> FromItem | None:
        """The FROM item whose columns (ra, dec) the point is, as written, when its table has a
        Q3C index on them (q3c_ang2ipix(ra, dec)), else None."""
        for item in self.scope.items:
            if isinstance(item.table, DerivedTable):
                continue
            columns = {f"{item.alias_sql}.{c.sql}": c for c in item.table.columns.values()}
            if point[0].sql in columns and point[1].sql in columns:
                if self.db is not None and item.table.sql not in self.indexes:
                    self.indexes[item.table.sql] = {r["expr"] for r in query(
                        self.db, _INDEXES_SQL, (item.table.sql,), ("text",))}
                wanted = f"q3c_ang2ipix({columns[point[0].sql].sql}, {columns[point[1].sql].sql})"
                return item if wanted in self.indexes.get(item.table.sql, ()) else None
        return None

    def geo_contains(self, args, col) -> Expr:
        if len(args) != 2 or any(a.type not in GEOMETRY for a in args):
            raise XmmError("CONTAINS takes two geometries: CONTAINS(POINT(...), CIRCLE(...))",
                           sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        a, b = args
        if a.type == "point" and b.type in ("circle", "polygon"):
            self.vertices(b, "CONTAINS", col)
            return self.region_test(a, b, col)
        if a.type == "circle" and b.type == "circle":
            (ra1, de1, r1), (ra2, de2, r2) = a.parts, b.parts
            return self.predicate(f"q3c_dist({ra1.sql}, {de1.sql}, {ra2.sql}, {de2.sql}) + {r1.sql} <= {r2.sql}",
                                  col, *a.parts, *b.parts)
        raise XmmError(f"CONTAINS({a.type.upper()}, {b.type.upper()}) is not supported",
                       sqlstate="0A000", hint=where(col, "CONTAINS(POINT, CIRCLE|BOX|POLYGON) or CONTAINS(CIRCLE, CIRCLE)"))

    def geo_intersects(self, args, col) -> Expr:
        if len(args) != 2 or any(a.type not in GEOMETRY for a in args):
            raise XmmError("INTERSECTS takes two geometries", sqlstate=UNDEFINED_FUNCTION, hint=where(col, None))
        a, b = args
        if b.type == "point":
            a, b = b, a
        if a.type == "point" and b.type != "point":
            self.vertices(b, "INTERSECTS", col)
            return self.region_test(a, b, col)
        if a.type == "circle" and b.type == "circle":
            (ra1, de1, r1), (ra2, de2, r2) = a.parts, b.parts
            return self.predicate(f"q3c_dist({ra1.sql}, {de1.sql}, {ra2.sql}, {de2.sql}) <= {r1.sql} + {r2.sql}",
                                  col, *a.parts, *b.parts)
        raise XmmError(f"INTERSECTS({a.type.upper()}, {b.type.upper()}) is not supported", sqlstate="0A000",
                       hint=where(col, "INTERSECTS of a POINT with a region, or of two CIRCLEs"))

    def region_test(self, point: Expr, region: Expr, col: int) -> Expr:
        ra, dec = point.parts
        spec = self.region_spec(point)
        if region.type == "circle":
            c = region.parts
            template = (spec or {}).get("circle", "q3c_radial_query({ra}, {dec}, {ra0}, {dec0}, {radius})")
            test = template.format(ra=ra.sql, dec=dec.sql, ra0=c[0].sql, dec0=c[1].sql, radius=c[2].sql)
            bound = tuple(p.value for p in c) if all(p.value is not None for p in c) else None
            if spec is None and (c[0].cols or c[1].cols) and c[2].const and c[2].value is not None \
                    and 0 <= c[2].value <= 180:
                # a circle around another row's position (a cross-match): a join, as DISTANCE < r
                test = self.q3c_join((c[0], c[1]), (ra, dec), c[2])
        else:
            test = (f"q3c_poly_query({ra.sql}, {dec.sql}, ARRAY[" + ", ".join(p.sql for p in region.parts)
                    + "]::double precision[])")
            values = [p.value for p in region.parts]
            bound = bounding_circle(values) if all(v is not None for v in values) else None
            if bound and diameter(values) > MAX_POLYGON_DIAMETER:
                raise XmmError(f"the polygon is too large: Q3C takes polygons up to {MAX_POLYGON_DIAMETER:g} degrees "
                               "across", sqlstate="22023", hint=where(col, "split it, or use a CIRCLE"))
        if bound and not (-90 <= bound[1] <= 90 and 0 <= bound[2] <= 180 and math.isfinite(sum(bound))):
            raise XmmError("the region is not on the sky: Dec must be within ±90 degrees, the radius within "
                           "0 and 180 degrees", sqlstate="22023", hint=where(col, None))
        if spec and bound and bound[2] <= spec["max_radius"]:
            ra0, dec0, radius = (literal(float(v)) for v in bound)
            test = spec["prefilter"].format(t=spec["alias"], ra=ra0, dec=dec0, radius=radius) + " AND " + test
        return self.predicate(test, col, point, region)

    def region_spec(self, point: Expr) -> dict | None:
        """REGION_FILTERS of the table whose position columns the point is, with its alias."""
        for item in self.scope.items:
            spec = REGION_FILTERS.get(item.table.key)
            if spec and all(spec[k] in item.table.columns for k in ("ra", "dec")) and [c.sql for c in point.parts] \
                    == [f"{item.alias_sql}.{item.table.columns[spec[k]].sql}" for k in ("ra", "dec")]:
                return dict(spec, alias=item.alias_sql)
        return None

    def predicate(self, test: str, col: int, *parts) -> Expr:
        e = self.combine(f"(CASE WHEN {test} THEN 1 ELSE 0 END)", NUMBER, *parts)
        e.predicate, e.column = test, col
        return e

    # ------------------------------------------------------------ columns
    @staticmethod
    def names_item(item: FromItem, parts: list) -> bool:
        if len(parts) == 1:
            return item.alias == parts[0]
        return not item.explicit and item.table.key == ".".join(parts)

    def column_ref(self, node) -> Expr:
        toks = node.children[0].children
        parts = [_ident(t) for t in toks]
        col = toks[0].column
        if len(parts) > 3:
            raise XmmError(f"'{'.'.join(parts)}' is not a column name", sqlstate=SYNTAX, hint=where(col, None))
        here = self.scope
        scope = here
        while scope is not None:      # this query's tables, then those of the queries it is inside
            if self.resolves(scope, parts):
                break
            scope = scope.parent
        if scope is None or scope is here:
            return self.resolve(here, parts, col)
        self.scope = scope
        try:
            e = self.resolve(scope, parts, col)
        finally:
            self.scope = here
        self.refs.append((scope, e.sql))
        for p in e.parts:
            p.cols, p.outer = frozenset(), True
        e.cols, e.outer = frozenset(), True
        return e

    @staticmethod
    def resolves(scope: Scope, parts: list) -> bool:
        name, prefix = parts[-1], parts[:-1]
        if prefix:
            return any(Translator.names_item(i, prefix) and name in i.table.columns for i in scope.items)
        return any(name in i.table.columns for i in scope.items)

    def resolve(self, scope: Scope, parts: list, col: int) -> Expr:
        name, prefix = parts[-1], parts[:-1]
        if prefix:
            items = [i for i in self.scope.items if self.names_item(i, prefix)]
            if not items:
                raise unknown("table", ".".join(prefix), [i.alias for i in self.scope.items], col,
                              hint="a table of the FROM clause", sqlstate=UNDEFINED_TABLE_SQLSTATE)
        else:
            items = [i for i in self.scope.items if name in i.table.columns]
            if name in self.scope.merged:
                msql, mtype, aliases = self.scope.merged[name]
                if all(i.alias in aliases for i in items):
                    return Expr(msql, mtype, col, frozenset([msql]), text=name, name=name)
            if len(items) > 1:
                raise XmmError(f"column '{name}' is ambiguous: it is in " + " and ".join(i.alias for i in items),
                               sqlstate="42702", hint=where(col, f"write {items[0].alias}.{name}"))
        found = [i for i in items if name in i.table.columns]
        twice = [i for i in (items or self.scope.items) if name in getattr(i.table, "duplicates", ())]
        if not found and twice:
            raise XmmError(f"two columns of '{twice[0].alias}' are called {name}", sqlstate="42702",
                           hint=where(col, "name them apart with AS"))
        if not found:
            known = sorted({c for i in (items or self.scope.items) for c in i.table.columns})
            raise unknown("column", ".".join(parts), known, col, sqlstate=UNDEFINED_COLUMN,
                          hint="the columns are listed in TAP_SCHEMA.columns")
        return self.column_expr(found[0], found[0].table.columns[name], col)

    def column_expr(self, item: FromItem, column, col: int = 0) -> Expr:
        sql = f"{item.alias_sql}.{column.sql}"
        if isinstance(column, DerivedColumn):
            e = Expr(sql, column.kind, col, frozenset([sql]), text=column.name, name=column.name, unit=column.unit)
            return self.geometry_value(e) if e.type in GEOMETRY else e
        unit = ("col", item.table.key, column.name) if item.table.schema != UPLOAD_SCHEMA else None
        return Expr(sql, column.category, col, frozenset([sql]), text=column.name, name=column.name, unit=unit)

    # ------------------------------------------------------------ checks
    @staticmethod
    def combine(sql: str, typ: str, *parts: Expr) -> Expr:
        return Expr(sql, typ, parts[0].column if parts else 0, frozenset().union(*(p.cols for p in parts)),
                    any(p.agg for p in parts), outer=any(p.outer for p in parts))

    def comparable(self, a: Expr, b: Expr, op: str) -> None:
        for e in (a, b):
            self.value(e, op)
        if a.type == b.type:
            return
        if a.type == TIME and b.type == TEXT and b.text.startswith("'") and b.const:
            return  # a timestamp written as a string literal
        if a.type == BOOL and b.type == NUMBER and b.value in (0, 1):
            return
        raise self.mismatch(b, a.type, op)

    @staticmethod
    def as_type(e: Expr, like: Expr) -> Expr:
        """A 1/0 compared with a boolean column reads as true/false."""
        if like.type == BOOL and e.type == NUMBER and e.value in (0, 1):
            return Expr("true" if e.value == 1 else "false", BOOL, e.column)
        return e

    def value(self, e: Expr, where_: str) -> None:
        if e.type not in VALUE_TYPES:
            raise self.not_value(e, where_)

    @staticmethod
    def not_value(e: Expr, where_: str) -> XmmError:
        return XmmError(f"a {e.type.upper()} cannot be used in {where_}", sqlstate=DATATYPE_MISMATCH,
                        hint=where(e.column, "geometries go inside CONTAINS, INTERSECTS and DISTANCE"))

    @staticmethod
    def mismatch(e: Expr, want: str, what: str) -> XmmError:
        names = {NUMBER: "a number", TEXT: "a string", BOOL: "a boolean", TIME: "a time"}
        got = names.get(e.type, f"a {e.type.upper()}")
        return XmmError(f"{what} needs {names.get(want, want)}, not {got} ({e.text or e.sql})",
                        sqlstate=DATATYPE_MISMATCH, hint=where(e.column, None))

    @staticmethod
    def no_aggregate(e: Expr, clause: str) -> None:
        if e.agg:
            raise XmmError(f"aggregates (COUNT, MIN, MAX, AVG, SUM) cannot be used in {clause}", sqlstate="42803",
                           hint=where(e.column, "use HAVING for conditions on aggregates"))

    def no_agg_in_geometry(self, args, col) -> None:
        if any(a.agg for a in args):
            raise XmmError("aggregates cannot be used inside geometries", sqlstate="42803", hint=where(col, None))

    @staticmethod
    def nested(node) -> XmmError:
        return XmmError("aggregates cannot be nested", sqlstate="42803", hint=where(node.meta.column, None))

    @staticmethod
    def grouped(e: Expr, grouped: set) -> None:
        missing = sorted(e.cols - grouped)
        if missing:
            raise XmmError(f"column {missing[0]} must appear in GROUP BY or inside an aggregate", sqlstate="42803",
                           hint=where(e.column, None))


UNDEFINED_TABLE_SQLSTATE = "42P01"
_NAMES = {NUMBER: "a number", TEXT: "a string", BOOL: "a boolean", TIME: "a time", "point": "a POINT",
          "circle": "a CIRCLE", "polygon": "a POLYGON"}


def kind_of(column: Column) -> str:
    """A column's ADQL type: its category, or the geometry a subquery's column holds."""
    return column.kind if isinstance(column, DerivedColumn) else column.category


def convert_unit(source: str, target: str, column: int = 0) -> float:
    """The factor from one unit to another (VOUnit, else astropy's generic format), or a human error."""
    import warnings

    from astropy import units as u

    def parse(text):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fmt in ("vounit", "generic"):
                try:
                    return u.Unit(text, format=fmt, parse_strict="raise")
                except (ValueError, TypeError):
                    continue
        return None

    a, b = parse(source), parse(target)
    if b is None or not target:
        raise XmmError(f"IN_UNIT: unknown unit '{target}'", sqlstate="22023",
                       hint=where(column, "VOUnit strings: deg, arcmin, arcsec, mas, s, d, keV, erg/cm**2/s, ..."))
    if a is None:
        raise XmmError(f"IN_UNIT: the column's unit '{source}' is not one astropy reads", sqlstate="22023",
                       hint=where(column, None))
    try:
        factor = float(a.to(b))
    except u.UnitConversionError:
        raise XmmError(f"IN_UNIT: {source} cannot be converted to {target}", sqlstate="22023",
                       hint=where(column, f"{target} measures {b.physical_type}, the column {a.physical_type}")) from None
    if not math.isfinite(factor) or factor == 0:
        raise XmmError(f"IN_UNIT: {source} to {target} is out of range", sqlstate="22003", hint=where(column, None))
    return factor


def box_corners(ra: float, dec: float, w: float, h: float) -> list[tuple[float, float]]:
    """Corners of an ADQL BOX (centre, width, height in degrees): great-circle
    edges, i.e. a rectangle in the tangent plane at the centre."""
    a0, d0 = math.radians(ra), math.radians(dec)
    out = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        xi, eta = sx * math.tan(math.radians(w / 2)), sy * math.tan(math.radians(h / 2))
        den = math.cos(d0) - eta * math.sin(d0)
        a = a0 + math.atan2(xi, den)
        d = math.atan2(math.sin(d0) + eta * math.cos(d0), math.hypot(xi, den))
        out.append((round(math.degrees(a) % 360.0, 10), round(math.degrees(d), 10)))
    return out


def _unit(ra: float, dec: float) -> tuple[float, float, float]:
    a, d = math.radians(float(ra)), math.radians(float(dec))
    return math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)


def _angle(u, v) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, sum(x * y for x, y in zip(u, v))))))


def diameter(flat: list) -> float:
    """The largest angle (degrees) between two vertices of a polygon."""
    vs = [_unit(ra, dec) for ra, dec in zip(flat[0::2], flat[1::2])]
    return max(_angle(u, v) for u in vs for v in vs)


def bounding_circle(flat: list) -> tuple[float, float, float] | None:
    """(ra, dec, radius) in degrees of a circle holding the polygon's vertices
    (centre: the mean of their unit vectors), or None for a degenerate polygon."""
    vs = [_unit(ra, dec) for ra, dec in zip(flat[0::2], flat[1::2])]
    x, y, z = (sum(v[i] for v in vs) for i in range(3))
    norm = math.sqrt(x * x + y * y + z * z)
    if norm < 1e-9:
        return None
    x, y, z = x / norm, y / norm, z / norm
    radius = max(_angle((x, y, z), v) for v in vs)
    return (math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, z)))),
            min(radius * 1.01 + 1e-6, 180.0))


def circle_area(radius: float) -> float:
    """The area of a circle on the sphere (radius in degrees), square degrees."""
    return 2 * math.pi * (1 - math.cos(math.radians(radius))) * (180 / math.pi) ** 2


def _fan(flat: list):
    """A polygon's triangles from the mean of its vertices: (signed area in steradians, unit
    vectors of the three corners) each."""
    vs = [_unit(ra, dec) for ra, dec in zip(flat[0::2], flat[1::2])]
    c = [sum(v[i] for v in vs) for i in range(3)]
    n = math.sqrt(sum(x * x for x in c)) or 1.0
    c = tuple(x / n for x in c)
    for a, b in zip(vs, vs[1:] + vs[:1]):
        cross = (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])
        triple = sum(x * y for x, y in zip(c, cross))
        dots = 1 + sum(x * y for x, y in zip(c, a)) + sum(x * y for x, y in zip(a, b)) + sum(x * y for x, y in zip(b, c))
        yield 2 * math.atan2(triple, dots), (c, a, b)


def polygon_area(flat: list) -> float:
    """The area of a polygon with great-circle edges, square degrees (Van Oosterom & Strackee)."""
    return abs(sum(e for e, _ in _fan(flat))) * (180 / math.pi) ** 2


def polygon_centroid(flat: list) -> tuple[float, float]:
    """The centre of a polygon: its triangles' centres weighted by their areas (ra, dec degrees)."""
    x = [0.0, 0.0, 0.0]
    for e, (c, a, b) in _fan(flat):
        for i in range(3):
            x[i] += e * (c[i] + a[i] + b[i])
    n = math.sqrt(sum(v * v for v in x))
    if n < 1e-12:
        return bounding_circle(flat)[:2] if bounding_circle(flat) else (float(flat[0]), float(flat[1]))
    return math.degrees(math.atan2(x[1], x[0])) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, x[2] / n))))


def translator(db) -> Translator:
    return Translator(Catalog.load(db, schemas=("xmm", "tap_schema", "ivoa", "usr"), published=True), db)


def to_sql(db, q: str) -> str:
    """The PostgreSQL SELECT an ADQL query becomes (xmm_adql)."""
    return translator(db).to_sql(q)
