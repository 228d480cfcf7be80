"""The search language and the offline name resolver (docs/search.md).

    xmm_to_sql(q)              -> to_sql(db, q)
    xmm_search(q)              -> RETURN QUERY EXECUTE to_sql(db, q)
    xmm_search_detections(q)   -> the same over detection
    xmm_resolve(name)          -> resolve_rows(db, name)
"""

from .language import TARGETS, Transpiler, parse, to_sql, transpiler
from .names import Position, Resolver, parse_coordinates, parse_radius, resolve_rows

__all__ = ["TARGETS", "Position", "Resolver", "Transpiler", "parse", "parse_coordinates", "parse_radius",
           "resolve_rows", "to_sql", "transpiler"]
