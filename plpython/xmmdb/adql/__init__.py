"""ADQL for xmmdb: an ADQL 2.0/2.1 subset translated to PostgreSQL
with Q3C, under the search language's safety rules (xmmdb.sqlsafe).

    xmm_adql(query)      -> to_sql(db, query)
    xmm_adql_run(query)  -> the rows, as json objects
"""

from .translate import REGION_FILTERS, Translator, to_sql, translator

__all__ = ["REGION_FILTERS", "Translator", "to_sql", "translator"]
