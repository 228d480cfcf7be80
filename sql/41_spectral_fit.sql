-- Spectral fitting in SQL (Sherpa in PL/Python, plpython/xmmdb/spectral):
--   xmm_fit(srcid, model, options)                    the source's best spectrum (most counts),
--                                                     or with {"joint": true} all EPIC spectra of that detection
--   xmm_fit_detection(detid, instrument, model, options)   one detection: 'EPN', 'EMOS1', 'EMOS2' or 'EPIC' (joint)
--   xmm_fit_plot(srcid, model, options), xmm_fit_detection_plot(detid, instrument, model, options)   PNG
--   xmm_fit_spectrum(spectrum_id, model, options)      any stored spectrum (sql/44_spectrum_fit.sql)
-- Results are cached in xmm.fit_cache on (detid, instrument, model, options);
-- {"refit": true} recomputes; loading products for a detection drops its rows.

CREATE TYPE xmm.fit_result AS (
    srcid          bigint,
    detid          bigint,
    obs_id         text,
    instrument     text,               -- EPN, EMOS1, EMOS2 or e.g. EPN+EMOS1+EMOS2 for a joint fit
    model          text,               -- as asked (named model or expression)
    expression     text,               -- the components, e.g. phabs*(powerlaw+bbody)
    statistic      text,
    stat           double precision,
    dof            integer,
    rstat          double precision,   -- reduced statistic (chi2 statistics)
    qval           double precision,   -- null-hypothesis probability (chi2 statistics)
    emin           double precision,   -- keV
    emax           double precision,
    nbins          integer,
    params         jsonb,              -- [{name, value, error_lo, error_hi, frozen, min, max, unit}]
    flux           double precision,   -- absorbed 0.2-12 keV, erg/cm2/s
    flux_err       double precision,
    flux_unabs     double precision,   -- unabsorbed 0.2-12 keV
    flux_unabs_err double precision,
    fit_time       double precision,   -- s
    succeeded      boolean,
    spectrum_ids   bigint[],
    cached         boolean,
    fitted_at      timestamptz
);

CREATE TABLE xmm.fit_cache (
    detid        bigint NOT NULL REFERENCES xmm.detection ON DELETE CASCADE,
    instrument   text NOT NULL,
    model        text NOT NULL,
    options      jsonb NOT NULL,
    result       xmm.fit_result NOT NULL,
    spectrum_ids bigint[] NOT NULL,
    last_used    timestamptz NOT NULL DEFAULT now(),    -- eviction: least recently used first
    created_by   name NOT NULL DEFAULT session_user,    -- whose fits: quota per role (sql/42_fit_cache.sql)
    PRIMARY KEY (detid, instrument, model, options)
);
CREATE INDEX fit_cache_spectra_idx ON xmm.fit_cache USING gin (spectrum_ids);
CREATE INDEX fit_cache_lru_idx ON xmm.fit_cache (created_by, last_used);
CREATE INDEX fit_cache_used_idx ON xmm.fit_cache (last_used);
COMMENT ON TABLE xmm.fit_cache IS 'Spectral fit results by (detection, instrument, model, options); cleared for a detection when its products are reloaded';

-- The computation (no cache): thin body over xmmdb.spectral.store.
-- python: xmmdb.spectral.store.fit_detection_row(db, detid, instrument, model, options)
CREATE FUNCTION xmm.fit_compute(detid bigint, instrument text, model text, options jsonb)
RETURNS xmm.fit_result VOLATILE;

-- python: xmmdb.spectral.store.fit_detection_png(db, detid, instrument, model, options)
CREATE FUNCTION xmm.fit_plot_png(detid bigint, instrument text, model text, options jsonb)
RETURNS bytea VOLATILE;

-- (detid, instrument) of a source's best spectrum: the source spectrum with the most
-- counts; with {"joint": true} in the options, 'EPIC' (all cameras of that detection).
CREATE FUNCTION xmm.best_spectrum(srcid bigint, options jsonb DEFAULT '{}',
                                  OUT detid bigint, OUT instrument text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM xmm.fit_options(options);
  SELECT d.detid, CASE WHEN options->'joint' = 'true' THEN 'EPIC' ELSE s.instrument END INTO detid, instrument
    FROM xmm.detection d JOIN xmm.spectrum s ON s.detid = d.detid AND s.kind = 'source'
   WHERE d.srcid = best_spectrum.srcid
   ORDER BY s.total_counts DESC, d.detid, s.instrument LIMIT 1;
  IF NOT FOUND THEN
    IF NOT EXISTS (SELECT 1 FROM xmm.source WHERE source.srcid = best_spectrum.srcid) THEN
      RAISE EXCEPTION 'source % does not exist', srcid USING ERRCODE = 'no_data_found';
    END IF;
    RAISE EXCEPTION 'source % has no spectrum in the database', srcid USING ERRCODE = 'no_data_found',
      HINT = 'load its pipeline spectra: xmmdb load products FILE...';
  END IF;
END $$;
