"""ADQL (a 2.0/2.1 subset) to PostgreSQL with Q3C (docs/adql.md).

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
_ONE_ARG_DEFAULTS = {"round": "0", "truncate": "0"}
AGGREGATES = {"count", "min", "max", "avg", "sum"}
GEOMETRY_FUNCTIONS = {"point", "circle", "box", "polygon", "contains", "intersects", "distance", "coord1", "coord2",
                      "coordsys"}
ALL_FUNCTIONS = sorted(set(FUNCTIONS) | AGGREGATES | GEOMETRY_FUNCTIONS)

_TOKEN_WORDS = {"COMP": "a comparison", "ADDOP": "an operator", "MULOP": "an operator", "STAR": "'*'",
                "DOTSTAR": "'.*'", "NUMBER": "a number", "INT": "an integer", "STRING": "a string", "REGULAR": "a name",
                "DELIMITED": "a \"quoted\" name", "COUNT": "COUNT", "DIRECTION": "ASC or DESC",
                "_SELECT": "SELECT", "_FROM": "FROM", "_WHERE": "WHERE", "_TOP": "TOP", "_OFFSET": "OFFSET",
                "DISTINCT": "DISTINCT", "ALL": "ALL", "_AS": "AS", "_JOIN": "JOIN", "_NATURAL": "NATURAL",
                "INNER": "INNER", "LEFT": "LEFT", "RIGHT": "RIGHT", "FULL": "FULL", "_OUTER": "OUTER", "_ON": "ON",
                "_USING": "USING", "_GROUP": "GROUP BY", "_ORDER": "ORDER BY", "_BY": "BY", "_HAVING": "HAVING",
                "_AND": "AND", "_OR": "OR", "NOT": "NOT", "_BETWEEN": "BETWEEN", "LIKE": "LIKE", "_IN": "IN",
                "_IS": "IS", "_NULL": "NULL", "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "DOT": "'.'", "$END": ""}


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

    @property
    def const(self) -> bool:
        return not self.cols and not self.agg and not self.parts_cols()

    def parts_cols(self):
        return any(p.cols for p in self.parts)


@dataclass
class FromItem:
    alias: str            # as the user wrote it (lower case if regular), or the table's name
    alias_sql: str
    table: Table
    explicit: bool        # the user gave an alias


@dataclass
class Scope:
    items: list[FromItem] = field(default_factory=list)
    merged: dict = field(default_factory=dict)     # USING column -> (its SQL, type, aliases of the joined tables)

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
        self.db = db                        # for the session's uploads and the tables' Q3C indexes
        self.uploads: dict[str, Table] | None = None
        self.indexes: dict[str, set] = {}

    # ------------------------------------------------------------ query
    def to_sql(self, q: str) -> str:
        tree = parse(q)
        self.depth = 0
        return self.query(tree)

    def query(self, node) -> str:
        parts = {c.data: c for c in node.children if hasattr(c, "data")}
        select = next(c for c in node.children if c.data in ("select_all", "select_list"))
        scope = self.from_list(parts["from_list"])
        self.scope = scope
        quantifier = parts.get("quantifier")
        distinct = quantifier is not None and quantifier.children[0].type == "DISTINCT"
        items = self.select_list(select)                     # [(Expr, alias or None)]
        aliases = {a: i for i, (_, a) in enumerate(items) if a}
        if not items:
            raise XmmError("the query selects no columns", sqlstate=SYNTAX)
        sql = "SELECT " + ("DISTINCT " if distinct else "") + ", ".join(
            e.sql + (f" AS {quote_alias(a)}" if a else "") for e, a in items)
        sql += " FROM " + self.from_sql
        if "where" in parts:
            cond = self.cond(parts["where"].children[0])
            self.no_aggregate(cond, "WHERE")
            sql += " WHERE " + cond.sql
        grouped = None
        if "group" in parts:
            cols = [self.column_ref(c) for c in parts["group"].children]
            grouped = {c.sql for c in cols}
            sql += " GROUP BY " + ", ".join(c.sql for c in cols)
        having = self.cond(parts["having"].children[0]) if "having" in parts else None
        orders = self.order(parts["order"], items, aliases, distinct) if "order" in parts else []
        aggregated = grouped is not None or having is not None or any(e.agg for e, _ in items) or any(
            e.agg for e, _ in orders)
        if aggregated:
            if select.data == "select_all" or getattr(self, "star", False):
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
        if "offset" in parts:
            sql += " OFFSET " + literal(self.count_token(parts["offset"].children[0], "OFFSET"))
        return sql

    def count_token(self, tok, what: str) -> int:
        n = parse_number(tok, tok.column)
        if not isinstance(n, int) or n < 0:
            raise XmmError(f"{what} needs a whole number of rows, not {tok}", sqlstate=SYNTAX,
                           hint=where(tok.column, None))
        return n

    # ------------------------------------------------------------ FROM
    def from_list(self, node) -> Scope:
        scope = Scope()
        chains = []
        for chain in node.children:
            first, *joins = chain.children
            local = Scope()
            item = self.table_ref(first)
            scope.add(item, first.meta.column)
            local.add(item, first.meta.column)
            sql = f"{item.table.sql} AS {item.alias_sql}"
            for j in joins:
                if j.data == "natural_join":
                    raise XmmError("NATURAL JOIN is not supported", sqlstate="0A000",
                                   hint=where(j.meta.column, "name the join columns: JOIN ... USING (srcid)"))
                kind = "JOIN"
                ref, cond = j.children[-2], j.children[-1]
                if len(j.children) == 3:
                    kind = " ".join(str(t).upper() for t in j.children[0].children) + " JOIN"
                    kind = {"LEFT JOIN": "LEFT JOIN", "RIGHT JOIN": "RIGHT JOIN", "FULL JOIN": "FULL JOIN"}.get(kind, kind)
                right = self.table_ref(ref)
                scope.add(right, ref.meta.column)
                local.add(right, ref.meta.column)
                if cond.data == "on":
                    self.scope = local
                    c = self.cond(cond.children[0])
                    self.no_aggregate(c, "ON")
                    sql += f" {kind} {right.table.sql} AS {right.alias_sql} ON {c.sql}"
                else:
                    names = []
                    for tok in cond.children:
                        name = _ident(tok)
                        for side in (local.items[:-1], [right]):
                            if not any(name in i.table.columns for i in side):
                                raise unknown("column", name, sorted({c for i in side for c in i.table.columns}),
                                              tok.column, hint="USING names a column both sides have",
                                              sqlstate=UNDEFINED_COLUMN)
                        left = [i for i in local.items[:-1] if name in i.table.columns]
                        if name not in local.merged and len(left) > 1:
                            raise XmmError(f"USING column '{name}' is in more than one table on the left",
                                           sqlstate="42702", hint=where(tok.column, "join with ON instead"))
                        rcol = right.table.columns[name]
                        lsql, ltype, aliases = local.merged.get(
                            name, (f"{left[0].alias_sql}.{left[0].table.columns[name].sql}",
                                   left[0].table.columns[name].category, {left[0].alias}))
                        if ltype != rcol.category:
                            raise XmmError(f"USING column '{name}' is {ltype} on the left and {rcol.category} on "
                                           "the right", sqlstate=DATATYPE_MISMATCH, hint=where(tok.column, None))
                        msql = lsql if kind in ("JOIN", "INNER JOIN", "LEFT JOIN") else \
                            f"COALESCE({lsql}, {right.alias_sql}.{rcol.sql})"
                        names.append(name)
                        local.merged[name] = scope.merged[name] = (msql, ltype, aliases | {right.alias})
                    sql += f" {kind} {right.table.sql} AS {right.alias_sql} USING (" + ", ".join(
                        right.table.columns[n].sql for n in names) + ")"
            chains.append(sql)
        self.from_sql = ", ".join(chains)
        return scope

    def table_ref(self, node) -> FromItem:
        name = node.children[0]
        parts = [_ident(t) for t in name.children]
        if len(parts) > 2:
            raise XmmError(f"'{'.'.join(parts)}' is not a table name", sqlstate=SYNTAX,
                           hint=where(name.meta.column, "write schema.table, e.g. xmm.source"))
        if len(parts) == 2 and parts[0].lower() == UPLOAD_SCHEMA:
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
        self.star = False
        if node.data == "select_all":
            self.star = True
            out, done = [], set()
            for i in self.scope.items:   # as PostgreSQL's *: a USING column once
                for c in i.table.columns.values():
                    merged = self.scope.merged.get(c.name)
                    if merged and i.alias in merged[2]:
                        if c.name not in done:
                            done.add(c.name)
                            out.append((Expr(merged[0], merged[1], cols=frozenset([merged[0]])),
                                        c.name if merged[0].startswith("COALESCE") else None))
                        continue
                    out.append((self.column_expr(i, c), None))
            return out
        out = []
        for item in node.children:
            if item.data == "select_table_all":
                parts = [_ident(t) for t in item.children[0].children]
                matches = [i for i in self.scope.items if self.names_item(i, parts)]
                if not matches:
                    raise unknown("table", ".".join(parts), [i.alias for i in self.scope.items],
                                  item.meta.column, sqlstate=UNDEFINED_TABLE_SQLSTATE)
                self.star = True
                out += [(self.column_expr(matches[0], c), None) for c in matches[0].table.columns.values()]
                continue
            e = self.expr(item.children[0])
            self.value(e, "SELECT")
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
            if node.data in ("or_", "and_", "not_", "compare", "between", "like", "in_list", "is_null"):
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
        return Expr(f"(-{e.sql})", NUMBER, e.column, e.cols, e.agg, value, text=f"-{e.text}")

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

    def ex_call(self, node) -> Expr:
        name_tok, *arg_nodes = node.children
        name = str(name_tok).lower().strip('"')
        col = name_tok.column
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
            return Expr(f"{name}({e.sql})", e.type if name in ("min", "max") else NUMBER, col, agg=True)
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
        return self.combine(template.format(*(a.sql for a in args)), result, *args)

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
        self.no_agg_in_geometry(args, col)
        return Expr(f"{kind.upper()}(...)", kind, col, cols=frozenset().union(*(a.cols for a in args)),
                    parts=tuple(args))

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
    def names_item(self, item: FromItem, parts: list) -> bool:
        if len(parts) == 1:
            return item.alias == parts[0]
        return not item.explicit and item.table.key == ".".join(parts)

    def column_ref(self, node) -> Expr:
        toks = node.children[0].children
        parts = [_ident(t) for t in toks]
        col = toks[0].column
        name, prefix = parts[-1], parts[:-1]
        if len(parts) > 3:
            raise XmmError(f"'{'.'.join(parts)}' is not a column name", sqlstate=SYNTAX, hint=where(col, None))
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
                    return Expr(msql, mtype, col, frozenset([msql]), text=name)
            if len(items) > 1:
                raise XmmError(f"column '{name}' is ambiguous: it is in " + " and ".join(i.alias for i in items),
                               sqlstate="42702", hint=where(col, f"write {items[0].alias}.{name}"))
        found = [i for i in items if name in i.table.columns]
        if not found:
            known = sorted({c for i in (items or self.scope.items) for c in i.table.columns})
            raise unknown("column", ".".join(parts), known, col, sqlstate=UNDEFINED_COLUMN,
                          hint="the columns are listed in TAP_SCHEMA.columns")
        return self.column_expr(found[0], found[0].table.columns[name], col)

    def column_expr(self, item: FromItem, column, col: int = 0) -> Expr:
        sql = f"{item.alias_sql}.{column.sql}"
        return Expr(sql, column.category, col, frozenset([sql]), text=column.name)

    # ------------------------------------------------------------ checks
    @staticmethod
    def combine(sql: str, typ: str, *parts: Expr) -> Expr:
        return Expr(sql, typ, parts[0].column if parts else 0, frozenset().union(*(p.cols for p in parts)),
                    any(p.agg for p in parts))

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


def translator(db) -> Translator:
    return Translator(Catalog.load(db, schemas=("xmm", "tap_schema"), published=True), db)


def to_sql(db, q: str) -> str:
    """The PostgreSQL SELECT an ADQL query becomes (xmm_adql)."""
    return translator(db).to_sql(q)
