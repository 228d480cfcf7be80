"""A grammar's parser without importing lark: lark's own LALR tables, lexer patterns and tree
shaping, written as JSON beside the grammar when the package is installed (`write`, called by
xmmdb.sqlsafe.write_tables_at_install), and run here by a small driver (`Parser`).

Importing lark costs a new session 25-65 ms (typing, inspect, logging, pickle, tempfile, its
grammar loader and Earley parsers), more than a whole search on the sample sky; the driver and
its tables load in about a millisecond. Both query languages use it (xmmdb.search, xmmdb.adql),
through xmmdb.sqlsafe.lalr.

The driver does what lark's LALR parser with the basic lexer does, for the options xmmdb uses
(propagate_positions, no placeholders, no keep_all_tokens): the same terminals in the same order,
the same parse table, the same trees (rule names, aliases, `?rule` and `_rule` inlined, filtered
tokens, positions in each Tree's meta). Any text it cannot parse goes to lark itself (imported
then), so every syntax error is lark's, word for word; and lark's tree is taken should lark
accept what the driver refused.
"""

from __future__ import annotations

import json
import re

FORMAT = 1


class Meta:
    """A tree's position in the text (lark.tree.Meta's attributes)."""

    def __init__(self):
        self.empty = True


class Tree:
    """lark.Tree's data, children and meta."""

    __slots__ = ("data", "children", "_meta")

    def __init__(self, data, children, meta=None):
        self.data = data
        self.children = children
        self._meta = meta

    @property
    def meta(self):
        if self._meta is None:
            self._meta = Meta()
        return self._meta

    def __repr__(self):
        return f"Tree({self.data!r}, {self.children!r})"

    def __eq__(self, other):
        try:
            return self.data == other.data and self.children == other.children
        except AttributeError:
            return False

    def __hash__(self):
        return hash((self.data, tuple(self.children)))


class Token(str):
    """lark.Token: the text, its terminal's name (type) and where it stands."""

    def __new__(cls, type_, value, start_pos=None, line=None, column=None, end_line=None, end_column=None,
                end_pos=None):
        self = super().__new__(cls, value)
        self.type, self.value, self.start_pos, self.line, self.column = type_, value, start_pos, line, column
        self.end_line, self.end_column, self.end_pos = end_line, end_column, end_pos
        return self

    def __repr__(self):
        return f"Token({self.type!r}, {self.value!r})"

    def __eq__(self, other):
        if isinstance(other, Token) and self.type != other.type:
            return False
        return str.__eq__(self, other)

    __hash__ = str.__hash__


class Refused(Exception):
    """The driver cannot parse the text (lark then says why)."""


def _first_meta(children):
    for c in children:
        if isinstance(c, Tree):
            if not c.meta.empty:
                return c.meta
        elif isinstance(c, Token):
            return c
    return None


class Parser:
    """parse(text) -> the tree lark would build; lark itself for what the driver refuses."""

    def __init__(self, tables: dict, fallback):
        self.fallback = fallback          # () -> the lark.Lark of the grammar
        lexer = tables["lexer"]
        self.scanners = [re.compile(p, flags) for p, flags in lexer["patterns"]]
        self.unless = {name: [re.compile(p, flags) for p, flags in pats] for name, pats in lexer["unless"].items()}
        self.ignore = frozenset(lexer["ignore"])
        self.newline = frozenset(lexer["newline"])
        self.states = {int(s): {t: tuple(a) for t, a in actions.items()} for s, actions in tables["states"].items()}
        self.start, self.end = tables["start_state"], tables["end_state"]
        self.rules = [(origin, size, name, expand1, None if include is None else [tuple(x) for x in include])
                      for origin, size, name, expand1, include in tables["rules"]]

    # -- the lexer (lark.lexer.BasicLexer)
    def tokens(self, text: str):
        pos, line, line_start, end = 0, 1, 0, len(text)
        while pos < end:
            for scanner in self.scanners:
                m = scanner.match(text, pos)
                if m:
                    break
            else:
                raise Refused(pos)
            value, kind = m.group(0), m.lastgroup
            column = pos - line_start + 1
            start, start_line = pos, line
            if kind in self.newline:
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = pos + value.rindex("\n") + 1
            pos += len(value)
            if kind in self.ignore:
                continue
            for pattern in self.unless.get(kind, ()):
                found = pattern.fullmatch(value)
                if found:
                    kind = found.lastgroup
                    break
            yield Token(kind, value, start, start_line, column, line, pos - line_start + 1, pos)

    # -- the parser (lark.parsers.lalr_parser_state.ParserState.feed_token)
    def parse(self, text: str):
        try:
            return self._parse(text)
        except Refused:
            return self.fallback().parse(text)   # raises lark's error (or parses, should the driver be wrong)

    def lex(self, text: str):
        return self.fallback().lex(text)

    def _parse(self, text: str):
        states, rules, end_state = self.states, self.rules, self.end
        state_stack, value_stack = [self.start], []
        last = None
        for token in self._with_end(text):
            while True:
                action = states[state_stack[-1]].get(token.type)
                if action is None:
                    raise Refused(token)
                shift, arg = action
                if shift:
                    if token.type == "$END":
                        raise Refused(token)
                    state_stack.append(arg)
                    value_stack.append(token)
                    break
                origin, size, name, expand1, include = rules[arg]
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value = self._build(children, name, expand1, include)
                shift, new_state = states[state_stack[-1]][origin]
                state_stack.append(new_state)
                value_stack.append(value)
                if token.type == "$END" and new_state == end_state:
                    return value_stack[-1]
            last = token
        raise Refused(last)

    def _with_end(self, text):
        token = None
        for token in self.tokens(text):
            yield token
        if token is None:
            yield Token("$END", "", 0, 1, 1, 1, 1, 0)
        else:
            yield Token("$END", "", token.start_pos, token.line, token.column, token.end_line, token.end_column,
                        token.end_pos)

    @staticmethod
    def _build(children, name, expand1, include):
        """lark.parse_tree_builder: PropagatePositions(ChildFilterLALR_NoPlaceholders(ExpandSingleChild(Tree)))."""
        if include is None:
            filtered = children
        else:
            filtered = []
            for i, expand in include:
                if expand:
                    filtered += children[i].children
                else:
                    filtered.append(children[i])
        if expand1 and len(filtered) == 1:
            res = filtered[0]
        else:
            res = Tree(name, filtered)
        if isinstance(res, Tree):
            meta = res.meta
            first = _first_meta(children)
            if first is not None:
                if not hasattr(meta, "line"):
                    meta.line = getattr(first, "container_line", first.line)
                    meta.column = getattr(first, "container_column", first.column)
                    meta.start_pos = getattr(first, "container_start_pos", first.start_pos)
                    meta.empty = False
                meta.container_line = getattr(first, "container_line", first.line)
                meta.container_column = getattr(first, "container_column", first.column)
                meta.container_start_pos = getattr(first, "container_start_pos", first.start_pos)
            last = _first_meta(reversed(children))
            if last is not None:
                if not hasattr(meta, "end_line"):
                    meta.end_line = getattr(last, "container_end_line", last.end_line)
                    meta.end_column = getattr(last, "container_end_column", last.end_column)
                    meta.end_pos = getattr(last, "container_end_pos", last.end_pos)
                    meta.empty = False
                meta.container_end_line = getattr(last, "container_end_line", last.end_line)
                meta.container_end_column = getattr(last, "container_end_column", last.end_column)
                meta.container_end_pos = getattr(last, "container_end_pos", last.end_pos)
        return res


def load(path: str, grammar: str, fallback) -> Parser | None:
    """The driver of the tables at `path`, or None when they are missing or were written for
    another grammar, lark or format (the caller then uses lark)."""
    try:
        with open(path, encoding="utf-8") as f:
            tables = json.load(f)
    except (OSError, ValueError):
        return None
    if tables.get("format") != FORMAT or tables.get("grammar") != grammar:
        return None
    if lark_version() != tables.get("lark"):
        return None
    return Parser(tables, fallback)


def lark_version() -> str | None:
    """The installed lark's version, read from its package without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("lark")
        with open(spec.origin, encoding="utf-8") as f:
            found = re.search(r"^__version__\b[^=]*=\s*['\"]([^'\"]+)['\"]", f.read(), re.M)
    except (ImportError, AttributeError, OSError, TypeError):
        return None
    return found and found.group(1)


def write(parser, grammar: str, path: str) -> None:
    """Writes the tables of a lark.Lark (LALR, basic lexer, propagate_positions, no placeholders)."""
    import lark
    from lark.lexer import UnlessCallback
    from lark.parse_tree_builder import maybe_create_child_filter
    from lark.parsers.lalr_analysis import Shift

    opts = parser.options
    if not (opts.parser == "lalr" and opts.lexer == "basic" and opts.propagate_positions is True
            and not opts.maybe_placeholders and not opts.keep_all_tokens and len(opts.start) == 1
            and not opts.lexer_callbacks and opts.tree_class is None and opts.transformer is None):
        raise ValueError("xmmdb.search.lalr: only LALR, the basic lexer, propagate_positions, no placeholders")
    frontend = parser.parser
    lexer = frontend.lexer
    scanner = lexer.scanner
    unless = {}
    for name, callback in lexer.callback.items():
        if not isinstance(callback, UnlessCallback):
            raise ValueError(f"xmmdb.search.lalr: terminal {name} has a callback the driver does not know")
        unless[name] = [(m.pattern, m.flags) for m in callback.scanner._mres]
    table = frontend.parser.parser.parse_table
    start = opts.start[0]
    rules, index = [], {}

    def rule_index(rule):
        if rule not in index:
            o = rule.options
            child_filter = maybe_create_child_filter(rule.expansion, o.keep_all_tokens, False, None)
            include = None if child_filter is None else [list(x) for x in child_filter.args[0]]
            name = rule.alias or o.template_source or rule.origin.name
            index[rule] = len(rules)
            rules.append([str(rule.origin.name), len(rule.expansion), str(name), bool(o.expand1 and not rule.alias),
                          include])
        return index[rule]

    states = {}
    for state, actions in table.states.items():
        states[str(state)] = {str(t): ([True, arg] if action is Shift else [False, rule_index(arg)])
                              for t, (action, arg) in actions.items()}
    tables = {"format": FORMAT, "lark": lark.__version__, "grammar": grammar,
              "lexer": {"patterns": [(m.pattern, m.flags) for m in scanner._mres], "unless": unless,
                        "ignore": sorted(lexer.ignore_types), "newline": sorted(lexer.newline_types)},
              "states": states, "start_state": table.start_states[start], "end_state": table.end_states[start],
              "rules": rules}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tables, f)
