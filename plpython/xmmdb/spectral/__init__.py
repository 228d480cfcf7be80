"""Spectral fitting of XMM-Newton EPIC spectra with Sherpa, inside PostgreSQL.

    models.py  XSPEC-definition components (powerlaw, bbody, diskbb, bremss,
               phabs/tbabs/wabs) as Sherpa models, model expressions
    fit.py     a fit of spectra given as arrays (no Sherpa session state)
    plot.py    the PNG of a fit: data, folded model, residuals
    store.py   reading spectra and responses from the database, the SQL entry points
"""
