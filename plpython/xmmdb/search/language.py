"""The search language (docs/search.md): parse with lark (search.lark), check
every name against the database catalogue, and write one SELECT.

    to_sql(db, "cone('M31', '1deg') AND sc_det_ml < 100")
    -> SELECT source.* FROM xmm.source WHERE q3c_radial_query(sc_ra, sc_dec, 10.684792, 41.269056, 1.0) AND sc_det_ml < 100

Identifiers come from the catalogue (xmmdb.sqlsafe.Catalog), literals are
quoted by xmmdb.sqlsafe.literal, and names are resolved to positions before
the SQL is written, so positions reach SQL as numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import XmmError
from ..sqlsafe import (BOOL, DATATYPE_MISMATCH, NUMBER, SYNTAX, TEXT, UNDEFINED_FUNCTION, UNDEFINED_TABLE, Catalog,
                       Column, Table, lalr, literal, parse_number, parse_text, unknown)
from .names import DEFAULT_RADIUS_DEG, Position, Resolver, parse_radius

MAX_LENGTH = 20000
MAX_DEPTH = 60
MAX_MATCH_RADIUS_DEG = 5 / 60   # matched(table, radius): a cross-match, not a cone
FUNCTIONS = ["cone", "matched"]

# What a query searches: the table, its position columns and its derived columns
# (documented in docs/search.md; `{t}` is the table's name in the query).
TARGETS = {
    "source": dict(position=("sc_ra", "sc_dec"), derived={
        "has_spectrum": ("boolean", "EXISTS (SELECT 1 FROM xmm.detection d JOIN xmm.spectrum sp ON sp.detid = d.detid "
                                    "WHERE d.srcid = {t}.srcid AND sp.kind = 'source')",
                         "a source spectrum of the source is stored here (xmm_fit can fit it)"),
        "pipeline_spectrum": ("boolean", "EXISTS (SELECT 1 FROM xmm.detection d WHERE d.srcid = {t}.srcid AND d.spectra)",
                              "the catalogue says the pipeline made a spectrum of a detection of the source"),
        "has_lightcurve": ("boolean", "EXISTS (SELECT 1 FROM xmm.detection d WHERE d.srcid = {t}.srcid AND d.tseries)",
                           "a detection of the source has a pipeline light curve"),
        "class": ("text", "(SELECT c.class FROM xmm.source_class c WHERE c.srcid = {t}.srcid "
                          "ORDER BY c.separation, c.catalogue, c.name LIMIT 1)",
                  "the class of the nearest known object matched to the source (xmmdb load classes)"),
    }),
    "detection": dict(position=("ra", "dec"), derived={
        "has_spectrum": ("boolean", "EXISTS (SELECT 1 FROM xmm.spectrum sp WHERE sp.detid = {t}.detid "
                                    "AND sp.kind = 'source')",
                         "a source spectrum of the detection is stored here (xmm_fit_detection can fit it)"),
        "pipeline_spectrum": ("boolean", "coalesce({t}.spectra, false)",
                              "the catalogue says the pipeline made a spectrum of the detection"),
        "has_lightcurve": ("boolean", "coalesce({t}.tseries, false)", "the detection has a pipeline light curve"),
        "class": ("text", "(SELECT c.class FROM xmm.source_class c WHERE c.srcid = {t}.srcid "
                          "ORDER BY c.separation, c.catalogue, c.name LIMIT 1)",
                  "the class of the nearest known object matched to the detection's source"),
        **{c: (typ, f"(SELECT s.{c} FROM xmm.source s WHERE s.srcid = {{t}}.srcid)", f"{c} of the detection's source")
           for c, typ in (("iauname", "text"), ("is_ulx", "boolean"), ("n_detections", "integer"),
                          ("comments", "text"), ("sc_det_ml", "real"), ("sc_ep_8_flux", "real"))},
    }),
}

_TOKEN_WORDS = {"COMP": "a comparison (= != < > <= >=)", "NAME": "a column or a name", "NUMBER": "a number",
                "STRING": "a string", "TRUE": "true", "FALSE": "false", "NULL": "NULL", "SEXA": "a coordinate",
                "WORD": "a word", "_AND": "AND", "_OR": "OR", "_NOT": "NOT", "_IN": "IN", "_IS": "IS",
                "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "COMMA": "','", "$END": ""}


def parse(q: str):
    """The parse tree of a query, or an XmmError saying where it went wrong."""
    return parse_text(lalr(__package__, "search.lark"), q, _TOKEN_WORDS, {"COMP", "_IN", "_IS"},
                      "M82, or cone('M31', '1deg') AND sc_det_ml > 100", MAX_LENGTH)


@dataclass
class Operand:
    kind: str          # 'column' or 'literal'
    category: str      # number / text / boolean / null
    sql: str
    text: str          # as written
    column: int        # position in the query
    value: object = None
    name: str = ""


class Transpiler:
    """One query's translation against one target table (source or detection)."""

    def __init__(self, catalog: Catalog, resolver: Resolver, table: str = "source"):
        self.table, self.position = self.target(catalog, table)
        self.resolver = resolver
        self.q = ""
        self.cones: dict[str, str] = {}   # a cone's condition -> the same cone as rows of xmm.<table>s_in_cone
        self.centres: list[Position] = []   # the cones' centres, in the order written

    @staticmethod
    def target(catalog: Catalog, table: str) -> tuple[Table, tuple[str, str]]:
        """The table a query searches, with its derived columns, and its position columns (kept
        with the catalogue, which the session keeps: a query does not build them again)."""
        kept = catalog.__dict__.setdefault("search_targets", {})
        if table not in kept:
            base = catalog.table(table, allowed=[f"xmm.{t}" for t in TARGETS])
            spec = TARGETS[base.name]
            columns = {n: c for n, c in base.columns.items() if c.category in (NUMBER, TEXT, BOOL)}
            for name, (typ, expr, doc) in spec["derived"].items():
                if name not in columns:
                    columns[name] = Column(name, expr.format(t=base.name), typ, doc, derived=True)
            kept[table] = (Table(base.name, base.sql, columns, base.schema), spec["position"])
        return kept[table]

    # -- entry point
    def to_sql(self, q: str) -> str:
        """SELECT <table>.* FROM xmm.<table> WHERE <the query>; when the query is a cone, or a cone
        AND more, the cone's rows come from xmm.<table>s_in_cone, whose plan the session keeps
        (a cone's q3c_radial_query costs a new plan of 100 index ranges each time)."""
        self.q = q
        self.centres = []
        tree = parse(q)
        conjuncts = ([self.expr(child, 1) for child in tree.children] if tree.data == "and_expr"
                     else [self.expr(tree, 0)])
        cone = next((sql for sql, _ in conjuncts if sql in self.cones), None)
        rest = [sql if p > 1 or len(conjuncts) == 1 else f"({sql})" for sql, p in conjuncts if sql != cone]
        if cone is None:
            return f"SELECT {self.table.name}.* FROM {self.table.sql} WHERE {' AND '.join(rest)}"
        return (f"SELECT {self.table.name}.* FROM {self.cones[cone]} AS {self.table.name}"
                + (f" WHERE {' AND '.join(rest)}" if rest else ""))

    # -- boolean structure: returns (sql, precedence) with 0 OR, 1 AND, 2 NOT, 3 atom
    def expr(self, node, depth):
        if depth > MAX_DEPTH:
            raise XmmError(f"the query nests too deeply (more than {MAX_DEPTH} levels)", sqlstate=SYNTAX)
        kind = node.data
        if kind in ("or_expr", "and_expr"):
            prec, op = (0, " OR ") if kind == "or_expr" else (1, " AND ")
            parts = []
            for child in node.children:
                sql, p = self.expr(child, depth + 1)
                parts.append(sql if p > prec else f"({sql})")
            return op.join(parts), prec
        if kind == "not_":
            sql, p = self.expr(node.children[-1], depth + 1)
            return f"NOT {sql if p >= 2 else '(' + sql + ')'}", 2
        return getattr(self, "atom_" + kind)(*node.children), 3

    # -- atoms
    def atom_true(self, _tok):
        return "true"

    def atom_false(self, _tok):
        return "false"

    def atom_compare(self, left, op, right):
        a, b = self.operand(left, allow_name=False), self.operand(right, allow_name=False)
        if "null" in (a.category, b.category):
            raise XmmError(f"syntax error at column {op.column}: nothing is {op} NULL",
                           hint="write IS NULL or IS NOT NULL", sqlstate=SYNTAX)
        op = {"==": "=", "!=": "<>"}.get(str(op), str(op))
        if a.kind == "literal" and b.kind == "literal":
            raise XmmError(f"syntax error at column {a.column}: a comparison needs a column on one side "
                           f"({a.text} {op} {b.text})", hint="e.g. sc_det_ml > 100", sqlstate=SYNTAX)
        if a.kind == "literal":
            a, b = b, a
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        b = self.coerce(b, a)
        return f"{a.sql} {op} {b.sql}"

    def atom_in_set(self, left, items):
        col = self.column_operand(left, "IN {…}")
        values = [self.coerce(self.item(i), col) for i in items.children]
        if col.category == NUMBER and any(isinstance(v.value, float) for v in values):
            # PostgreSQL types an IN list like its column: a real column would make 1e39 an error
            return f"{col.sql} IN ({', '.join(v.sql + '::double precision' for v in values)})"
        return f"{col.sql} IN ({', '.join(v.sql for v in values)})"

    def atom_words_in(self, items, right):
        col = self.column_operand(right, "{…} IN", want=TEXT)
        words = [self.as_text(self.item(i)) for i in items.children]
        tests = [f"strpos(lower({col.sql}), lower({literal(w)})) > 0" for w in words]
        return tests[0] if len(tests) == 1 else "(" + " AND ".join(tests) + ")"

    def atom_in_text(self, left, right):
        col = self.column_operand(right, "IN", want=TEXT)
        tok = left.children[0]
        if tok.type == "NAME" and tok.lower() in self.table.columns:
            raise XmmError(f"syntax error at column {tok.column}: {tok} IN {col.name} compares two columns",
                           hint='IN with a column on its right finds a string in it: "J0958" IN iauname',
                           sqlstate=SYNTAX)
        word = self.as_text(self.operand(left, allow_name=True))
        return f"strpos(lower({col.sql}), lower({literal(word)})) > 0"

    def atom_is_null(self, left, _null):
        return f"{self.column_operand(left, 'IS NULL').sql} IS NULL"

    def atom_is_not_null(self, left, _null):
        return f"{self.column_operand(left, 'IS NOT NULL').sql} IS NOT NULL"

    def atom_call(self, name, *args):
        if name.lower() not in FUNCTIONS:
            raise unknown("function", str(name), FUNCTIONS, name.column,
                          hint="the functions are cone('name or position', 'radius') and matched(table, 'radius')",
                          sqlstate=UNDEFINED_FUNCTION)
        if name.lower() == "matched":
            return self.matched(name, args)
        if len(args) not in (1, 2):
            raise XmmError(f"syntax error at column {name.column}: cone() takes a position and a radius",
                           hint="e.g. cone('M31', '1deg') or cone('10.68 41.27', '30arcsec')", sqlstate=SYNTAX)
        where, col = self.arg_text(args[0]), args[0].meta.column
        radius = parse_radius(self.arg_text(args[1]), args[1].meta.column) if len(args) == 2 else DEFAULT_RADIUS_DEG
        return self.cone(where, col, radius)

    def atom_bare_string(self, tok):
        return self.cone(_unquote(tok), tok.column, DEFAULT_RADIUS_DEG)

    def atom_bare(self, *tokens):
        text = self.q[tokens[0].start_pos:tokens[-1].end_pos]
        if len(tokens) == 1 and tokens[0].type == "NAME" and tokens[0].lower() in self.table.columns:
            col = self.table.columns[tokens[0].lower()]
            if col.category != BOOL:
                raise XmmError(f"syntax error at column {tokens[0].column}: {col.name} is a {col.category}, "
                               f"not true or false", hint=f"compare it, e.g. {col.name} IS NOT NULL", sqlstate=SYNTAX)
            return col.sql
        return self.cone(text, tokens[0].column, DEFAULT_RADIUS_DEG)

    # -- pieces
    def cone(self, where: str, column: int, radius: float) -> str:
        pos = self.resolver.position(where, column)
        self.centres.append(pos)
        ra, dec = self.position
        c = self.table.columns
        point = f"{literal(float(pos.ra))}, {literal(float(pos.dec))}, {literal(float(radius))}"
        sql = f"q3c_radial_query({c[ra].sql}, {c[dec].sql}, {point})"
        self.cones[sql] = f"xmm.{self.table.name}s_in_cone({point})"
        return sql

    def matched(self, name, args) -> str:
        """matched(table, radius): a row of the user table usr.<table> lies within radius of the
        position, found through the user table's Q3C index (q3c_join)."""
        if len(args) != 2:
            raise XmmError(f"syntax error at column {name.column}: matched() takes a user table and a radius",
                           hint="e.g. matched(atlas, '5arcsec'); the user tables are listed in TAP_SCHEMA "
                                "under schema usr", sqlstate=SYNTAX)
        table, column = self.arg_text(args[0]).strip().lower(), args[0].meta.column
        rows = self.resolver.db.query(
            "SELECT table_name, quote_ident(table_name) AS sql, quote_ident(ra_column) AS ra, "
            "quote_ident(dec_column) AS dec FROM xmm.user_table WHERE ra_column IS NOT NULL")
        tables = {r["table_name"]: r for r in rows}
        if table not in tables:
            raise unknown("user table", table, sorted(tables), column,
                          hint="matched() reads a table loaded with xmmdb load table that has a position",
                          sqlstate=UNDEFINED_TABLE)
        radius = parse_radius(self.arg_text(args[1]), args[1].meta.column)
        if radius > MAX_MATCH_RADIUS_DEG:
            raise XmmError(f"the match radius at column {args[1].meta.column} is at most "
                           f"{MAX_MATCH_RADIUS_DEG * 60:g} arcmin", hint="use cone() for larger regions")
        t = tables[table]
        ra, dec = (self.table.columns[c].sql for c in self.position)
        return (f"EXISTS (SELECT FROM usr.{t['sql']} AS matched WHERE q3c_join({ra}, {dec}, "
                f"matched.{t['ra']}, matched.{t['dec']}, {literal(float(radius))}))")

    def arg_text(self, arg) -> str:
        first = arg.children[0]
        if len(arg.children) == 1 and first.type == "STRING":
            return _unquote(first)
        return self.q[first.start_pos:arg.children[-1].end_pos]

    def item(self, node) -> Operand:
        tok = node.children[0]
        if tok.type in ("NAME", "WORD"):
            return Operand("literal", TEXT, "", str(tok), tok.column, str(tok))
        return self.literal(tok)

    def operand(self, node, allow_name: bool) -> Operand:
        tok = node.children[0]
        if tok.type == "NAME":
            if allow_name and tok.lower() not in self.table.columns:
                return Operand("literal", TEXT, "", str(tok), tok.column, str(tok))
            col = self.table.column(str(tok), tok.column)
            return Operand("column", col.category, col.sql, str(tok), tok.column, name=col.name)
        return self.literal(tok)

    def literal(self, tok) -> Operand:
        if tok.type == "NUMBER":
            value = parse_number(tok, tok.column)
            return Operand("literal", NUMBER, literal(value), str(tok), tok.column, value)
        if tok.type == "STRING":
            return Operand("literal", TEXT, "", str(tok), tok.column, _unquote(tok))
        if tok.type in ("TRUE", "FALSE"):
            return Operand("literal", BOOL, tok.lower(), str(tok), tok.column, tok.type == "TRUE")
        return Operand("literal", "null", "NULL", str(tok), tok.column)

    def column_operand(self, node, what: str, want: str | None = None) -> Operand:
        op = self.operand(node, allow_name=False)
        if op.kind != "column":
            raise XmmError(f"syntax error at column {op.column}: {what} needs a column here, not {op.text}",
                           hint='e.g. srcid IN {3, 4}, "J0958" IN iauname, comments IS NULL', sqlstate=SYNTAX)
        if want and op.category != want:
            raise XmmError(f"{op.name} is a {op.category} column: {what} finds words in text columns "
                           f"(at column {op.column})", hint='e.g. "ULX" IN comments', sqlstate=DATATYPE_MISMATCH)
        return op

    def as_text(self, op: Operand) -> str:
        if op.category == NUMBER or op.category == TEXT:
            return op.value if op.category == TEXT else op.text
        raise XmmError(f"{op.text} at column {op.column} is not a word to search for",
                       hint='quote it: "ULX" IN comments', sqlstate=DATATYPE_MISMATCH)

    def coerce(self, value: Operand, col: Operand) -> Operand:
        """`value` as an operand comparable with the column `col`, or a human error."""
        if value.kind == "column":
            if value.category != col.category:
                raise self.mismatch(col, value)
            return value
        if col.category == value.category and value.category != TEXT:
            return value
        if col.category == TEXT and value.category in (TEXT, NUMBER):
            return Operand("literal", TEXT, literal(self.as_text(value)), value.text, value.column, value.value)
        if col.category == NUMBER and value.category == TEXT:
            try:
                number = parse_number(value.value)
            except XmmError:
                raise self.mismatch(col, value) from None
            return Operand("literal", NUMBER, literal(number), value.text, value.column, number)
        raise self.mismatch(col, value)

    @staticmethod
    def mismatch(col: Operand, value: Operand) -> XmmError:
        article = {"number": "a number", "text": "text", "boolean": "true/false", "null": "NULL"}
        return XmmError(f"cannot compare {col.name} ({article[col.category]}) with {value.text} "
                        f"({article.get(value.category, value.category)}) at column {value.column}",
                        hint={NUMBER: "e.g. sc_det_ml > 100", TEXT: "quote strings: iauname = \"4XMM J…\"",
                              BOOL: "e.g. is_ulx = true"}.get(col.category), sqlstate=DATATYPE_MISMATCH)


def _unquote(tok) -> str:
    s = str(tok)
    return s[1:-1].replace(s[0] * 2, s[0])


def transpiler(db, table: str = "source") -> Transpiler:
    return Transpiler(Catalog.load(db), Resolver(db), table)


def to_sql(db, q: str, table: str = "source") -> str:
    """The SELECT a query becomes (xmm_to_sql, xmm_search, xmm_search_detections)."""
    return transpiler(db, table).to_sql(q)


def search_centre(db, q: str) -> list[dict]:
    """Rows of xmm_search_centre(q): the position a query searches around (its first cone, or the
    name or position it is), resolved; no row for a query without a cone."""
    t = transpiler(db)
    t.to_sql(q)
    return [t.centres[0].row()] if t.centres else []
