-- Spectral fitting in SQL (Sherpa in PL/Python, plpython/xmmdb/spectral):
--   xmm_fit(srcid, model, options)                    the source's best spectrum (most counts),
--                                                     or with {"joint": true} all EPIC spectra of that detection
--   xmm_fit_detection(detid, instrument, model, options)   one detection: 'PN', 'M1', 'M2' or 'EPIC' (joint)
--   xmm_fit_plot(srcid, model, options), xmm_fit_detection_plot(detid, instrument, model, options)   PNG
-- Results are cached in xmm.fit_cache on (detid, instrument, model, options);
-- {"refit": true} recomputes; loading products for a detection drops its rows.

CREATE TYPE xmm.fit_result AS (
    srcid          bigint,
    detid          bigint,
    obs_id         text,
    instrument     text,               -- PN, M1, M2 or e.g. PN+M1+M2 for a joint fit
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
    PRIMARY KEY (detid, instrument, model, options)
);
CREATE INDEX fit_cache_spectra_idx ON xmm.fit_cache USING gin (spectrum_ids);
COMMENT ON TABLE xmm.fit_cache IS 'Spectral fit results by (detection, instrument, model, options); cleared for a detection when its products are reloaded';

-- The computation (no cache): thin body over xmmdb.spectral.store.
CREATE FUNCTION xmm.fit_compute(detid bigint, instrument text, model text, options jsonb)
RETURNS xmm.fit_result
LANGUAGE plpython3u VOLATILE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import call, Spi; from xmmdb.spectral.store import fit_detection_row
return call(plpy, fit_detection_row, Spi(plpy), detid, instrument, model, options)
$$;

CREATE FUNCTION xmm.fit_plot_png(detid bigint, instrument text, model text, options jsonb)
RETURNS bytea
LANGUAGE plpython3u VOLATILE SET search_path = xmm, public, pg_temp AS $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
from xmmdb.pg import call, Spi; from xmmdb.spectral.store import fit_detection_png
return call(plpy, fit_detection_png, Spi(plpy), detid, instrument, model, options)
$$;

CREATE FUNCTION xmm.fit_options(options jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k text;
BEGIN
  IF options IS NOT NULL AND jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'options: expected a JSON object, got %', jsonb_typeof(options)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. {"emin": 0.5, "group": 20}';
  END IF;
  FOREACH k IN ARRAY ARRAY['refit', 'joint'] LOOP
    IF options ? k AND jsonb_typeof(options->k) <> 'boolean' THEN
      RAISE EXCEPTION 'options: key "%" must be a boolean, got %', k, options->k
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
END $$;

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

-- SECURITY DEFINER: a read-only role (xmm_reader, sql/91_roles.sql) may fit and so fill the
-- cache, but only with results computed here (it has no write access to xmm.fit_cache).
-- The inputs reach Python as parameters and are parsed strictly (no eval, no dynamic SQL).
CREATE FUNCTION xmm.xmm_fit_detection(detid bigint, instrument text, model text, options jsonb DEFAULT '{}')
RETURNS xmm.fit_result
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = xmm, public, pg_temp AS $$
DECLARE
  opts jsonb := coalesce(options, '{}');
  key jsonb;
  inst text := upper(trim(coalesce(instrument, '')));
  m text := lower(trim(coalesce(model, '')));
  res xmm.fit_result;
  msg text; hint text; state text; ctx text;
BEGIN
  PERFORM xmm.fit_options(opts);
  key := opts - 'refit' - 'joint';
  IF inst IN ('JOINT', 'ALL') THEN inst := 'EPIC'; END IF;
  IF inst NOT IN ('PN', 'M1', 'M2', 'EPIC') THEN
    RAISE EXCEPTION 'instrument %: expected PN, M1, M2 or EPIC (joint fit)', quote_literal(instrument)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT coalesce((opts->>'refit')::boolean, false) THEN
    SELECT (c.result).* INTO res FROM xmm.fit_cache c
     WHERE c.detid = xmm_fit_detection.detid AND c.instrument = inst AND c.model = m AND c.options = key;
    IF FOUND THEN
      res.cached := true;
      RETURN res;
    END IF;
  END IF;
  BEGIN
    res := xmm.fit_compute(detid, inst, m, key);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
    PERFORM xmm.raise_error(msg, hint, state, ctx);
  END;
  res.cached := false;
  res.fitted_at := clock_timestamp();
  INSERT INTO xmm.fit_cache AS c (detid, instrument, model, options, result, spectrum_ids)
  VALUES (detid, inst, m, key, res, res.spectrum_ids)
  ON CONFLICT ON CONSTRAINT fit_cache_pkey
  DO UPDATE SET result = excluded.result, spectrum_ids = excluded.spectrum_ids;
  RETURN res;
END $$;

CREATE FUNCTION xmm.xmm_fit(srcid bigint, model text, options jsonb DEFAULT '{}')
RETURNS xmm.fit_result
LANGUAGE sql VOLATILE SET search_path = xmm, public, pg_temp AS $$
  SELECT f.* FROM xmm.best_spectrum(srcid, options) b
   CROSS JOIN LATERAL xmm.xmm_fit_detection(b.detid, b.instrument, model, options) f
$$;

CREATE FUNCTION xmm.xmm_fit_detection_plot(detid bigint, instrument text, model text, options jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE plpgsql VOLATILE SET search_path = xmm, public, pg_temp AS $$
DECLARE
  inst text := upper(trim(coalesce(instrument, '')));
  msg text; hint text; state text; ctx text;
BEGIN
  PERFORM xmm.fit_options(options);
  IF inst IN ('JOINT', 'ALL') THEN inst := 'EPIC'; END IF;
  RETURN xmm.fit_plot_png(detid, inst, lower(trim(coalesce(model, ''))),
                          coalesce(options, '{}') - 'refit' - 'joint');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT, state = RETURNED_SQLSTATE,
                          ctx = PG_EXCEPTION_CONTEXT;
  PERFORM xmm.raise_error(msg, hint, state, ctx);
END $$;

CREATE FUNCTION xmm.xmm_fit_plot(srcid bigint, model text, options jsonb DEFAULT '{}')
RETURNS bytea
LANGUAGE sql VOLATILE SET search_path = xmm, public, pg_temp AS $$
  SELECT xmm.xmm_fit_detection_plot(b.detid, b.instrument, model, options) FROM xmm.best_spectrum(srcid, options) b
$$;

COMMENT ON FUNCTION xmm.xmm_fit(bigint, text, jsonb) IS
  'Fits a source''s best EPIC spectrum (or all of that detection''s spectra with {"joint": true}) with Sherpa; cached';
COMMENT ON FUNCTION xmm.xmm_fit_detection(bigint, text, text, jsonb) IS
  'Fits one detection''s spectrum (PN, M1, M2, or EPIC for a joint fit) with Sherpa; cached';
COMMENT ON FUNCTION xmm.xmm_fit_plot(bigint, text, jsonb) IS
  'PNG of the fit of a source''s best spectrum: counts/s/keV with errors, folded model, residuals in sigma';
