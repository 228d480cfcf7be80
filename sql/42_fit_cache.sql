-- The fit cache's policy and the cached fitting functions (the computation is
-- sql/41_spectral_fit.sql). Readers fill the cache through the SECURITY DEFINER
-- xmm_fit_detection, so a reader must not be able to fill the disk with it:
-- the cache holds at most fit_cache_limit() fits, and at most
-- fit_cache_quota() of them made by any one role that is not a loader; past
-- either, the least recently used fits go first.

CREATE FUNCTION xmm.fit_cache_limit() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 100000::bigint $$;
CREATE FUNCTION xmm.fit_cache_quota() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 2000::bigint $$;
COMMENT ON FUNCTION xmm.fit_cache_limit() IS 'Most fits xmm.fit_cache keeps (least recently used go first)';
COMMENT ON FUNCTION xmm.fit_cache_quota() IS 'Most fits of xmm.fit_cache made by one role that is not a loader';

-- What the cache reads of a fit's options before any Python runs: a JSON object of at most
-- 4 kB (it is the cache key) and the flags refit and joint, checked here in the words of
-- xmmdb.options. Every option is declared once, in xmmdb.spectral.fit.OPTIONS.
CREATE FUNCTION xmm.fit_options(options jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k text;
BEGIN
  IF options IS NOT NULL AND jsonb_typeof(options) <> 'object' THEN
    RAISE EXCEPTION 'fit options: options must be a JSON object, not %', jsonb_typeof(options)
      USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. {"emin": 0.5, "group": 20}';
  END IF;
  FOREACH k IN ARRAY ARRAY['refit', 'joint'] LOOP
    IF options ? k AND jsonb_typeof(options->k) NOT IN ('boolean', 'null') THEN
      RAISE EXCEPTION 'fit options: option ''%'' must be a boolean, not %', k, options->k
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  IF octet_length(options::text) > 4096 THEN
    RAISE EXCEPTION 'fit options of % bytes: at most 4096', octet_length(options::text)
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
END $$;

-- The camera a fit is asked for: EPN, EMOS1, EMOS2 in any spelling (xmm.camera), or EPIC
-- (also JOINT, ALL) for a joint fit of the detection's cameras.
CREATE FUNCTION xmm.fit_instrument(instrument text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = xmm, pg_catalog, pg_temp AS $$
DECLARE
  inst text := CASE WHEN upper(btrim(instrument)) IN ('EPIC', 'JOINT', 'ALL') THEN 'EPIC' ELSE xmm.camera(instrument) END;
BEGIN
  IF inst IS NULL THEN
    RAISE EXCEPTION 'instrument %: expected EPN, EMOS1, EMOS2 (or PN, MOS1, MOS2), or EPIC for a joint fit',
      coalesce(quote_literal(instrument), 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN inst;
END $$;

-- Stores a fit, then evicts what is over the role's quota and over the limit.
CREATE FUNCTION xmm.fit_cache_remember(detid bigint, instrument text, model text, options jsonb, res xmm.fit_result)
RETURNS void LANGUAGE plpgsql VOLATILE SET search_path = xmm, pg_catalog, pg_temp AS $$
DECLARE
  who name := session_user;
BEGIN
  INSERT INTO xmm.fit_cache AS c (detid, instrument, model, options, result, spectrum_ids, last_used, created_by)
  VALUES (detid, instrument, model, options, res, res.spectrum_ids, now(), who)
  ON CONFLICT ON CONSTRAINT fit_cache_pkey
  DO UPDATE SET result = excluded.result, spectrum_ids = excluded.spectrum_ids, last_used = now(),
                created_by = excluded.created_by;
  IF NOT pg_has_role(who, 'xmm_loader', 'MEMBER') THEN
    DELETE FROM xmm.fit_cache c WHERE c.ctid IN (
      SELECT c2.ctid FROM xmm.fit_cache c2 WHERE c2.created_by = who
       ORDER BY c2.last_used DESC OFFSET xmm.fit_cache_quota());
  END IF;
  IF (SELECT count(*) FROM (SELECT 1 FROM xmm.fit_cache LIMIT xmm.fit_cache_limit() + 1) n)
     > xmm.fit_cache_limit() THEN
    DELETE FROM xmm.fit_cache c WHERE c.ctid IN (
      SELECT c2.ctid FROM xmm.fit_cache c2 ORDER BY c2.last_used DESC OFFSET xmm.fit_cache_limit());
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
  inst text := xmm.fit_instrument(instrument);
  m text := lower(trim(coalesce(model, '')));
  res xmm.fit_result;
  -- a read-only transaction (TAP) reads the cache and fits, but keeps nothing
  read_only boolean := current_setting('transaction_read_only')::boolean;
  msg text; hint text; state text; ctx text;
BEGIN
  PERFORM xmm.fit_options(opts);
  key := opts - 'refit' - 'joint';
  IF NOT coalesce((opts->>'refit')::boolean, false) THEN
    IF read_only THEN
      SELECT (c.result).* INTO res FROM xmm.fit_cache c
       WHERE c.detid = xmm_fit_detection.detid AND c.instrument = inst AND c.model = m AND c.options = key;
    ELSE
      UPDATE xmm.fit_cache c SET last_used = now()
       WHERE c.detid = xmm_fit_detection.detid AND c.instrument = inst AND c.model = m AND c.options = key
      RETURNING (c.result).* INTO res;
    END IF;
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
  IF NOT read_only THEN
    PERFORM xmm.fit_cache_remember(detid, inst, m, key, res);
  END IF;
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
  inst text := xmm.fit_instrument(instrument);
  msg text; hint text; state text; ctx text;
BEGIN
  PERFORM xmm.fit_options(options);
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
  'Fits one detection''s spectrum (EPN, EMOS1, EMOS2, or EPIC for a joint fit) with Sherpa; cached';
COMMENT ON FUNCTION xmm.xmm_fit_plot(bigint, text, jsonb) IS
  'PNG of the fit of a source''s best spectrum: counts/s/keV with errors, folded model, residuals in sigma';
