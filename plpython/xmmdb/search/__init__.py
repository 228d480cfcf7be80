"""The search language and the offline name resolver (docs/search.md).

    xmm_to_sql(q)              -> to_sql(db, q)
    xmm_search(q)              -> RETURN QUERY EXECUTE to_sql(db, q)
    xmm_search_detections(q)   -> the same over detection
    xmm_resolve(name)          -> resolve_rows(db, name)
    xmm_search_centre(q)       -> search_centre(db, q)
"""

from .language import TARGETS, Transpiler, parse, search_centre, to_sql, transpiler
from .names import Position, Resolver, parse_coordinates, parse_radius, resolve_rows

__all__ = ["TARGETS", "Position", "Resolver", "Transpiler", "parse", "parse_coordinates", "parse_radius",
           "resolve_rows", "search_centre", "to_sql", "transpiler"]
