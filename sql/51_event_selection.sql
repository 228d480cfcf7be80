-- Which events the photon functions use (docs/photons.md, "Event selection").
--
-- By default each camera's standard selection of SAS, as the SAS threads apply
-- it; the masks are those the event files define in their own XMMEA_* keywords:
--   EPN     #XMMEA_EP  (FLAG & 0x0cfa0000) == 0   and PATTERN <= 4
--   EMOS1/2 #XMMEA_EM  (FLAG & 0x766ba000) == 0   and PATTERN <= 12
-- Keys of the photon functions' options (jsonb) that change it:
--   "pattern": [lo, hi]          the PATTERN range, for every camera (0-31)
--   "flag": "standard"           the masks above (the default)
--           "pn_spectral"        FLAG == 0 for the pn (SAS's choice for pn spectra), #XMMEA_EM for MOS
--           "none"               no FLAG selection
--   "all_events": true           every event as loaded: no PATTERN or FLAG selection
--   "flare_filter": true         only times the pipeline found free of flaring background
--                                (SRC_GTIS of the exposure's FBKTSR file)
--                   r (number)   only the bins of the exposure's flare rate curve at or below
--                                r counts/s (a bin: its centre time +- timedel/2)
--   An exposure without a loaded flare time series has no flare-free time: with
--   a flare filter its photons are left out.

-- The checked options as [pattern_lo, pattern_hi_pn, pattern_hi_mos, flag_mask_pn, flag_mask_mos].
-- IMMUTABLE: with constant options the planner computes it once.
CREATE FUNCTION xmm.event_rule(options jsonb) RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  o jsonb := coalesce(options, '{}');
  k text;
  lo integer := 0; hi_pn integer := 4; hi_mos integer := 12;
  mask_pn integer := x'0cfa0000'::integer; mask_mos integer := x'766ba000'::integer;
BEGIN
  IF jsonb_typeof(o) <> 'object' THEN
    RAISE EXCEPTION 'event selection: options must be a JSON object, got %', jsonb_typeof(o)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR k IN SELECT jsonb_object_keys(o) LOOP
    IF k NOT IN ('pattern', 'flag', 'all_events', 'flare_filter') THEN
      RAISE EXCEPTION 'event selection: unknown option %', quote_literal(k) USING ERRCODE = 'invalid_parameter_value',
        HINT = 'pattern: [lo, hi]; flag: standard, pn_spectral or none; all_events: true; flare_filter: true or a rate';
    END IF;
  END LOOP;
  IF o ? 'all_events' AND jsonb_typeof(o->'all_events') <> 'boolean' THEN
    RAISE EXCEPTION 'event selection: all_events must be true or false, got %', o->'all_events'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF o ? 'pattern' THEN
    IF jsonb_typeof(o->'pattern') <> 'array' OR jsonb_array_length(o->'pattern') <> 2
       OR jsonb_typeof(o->'pattern'->0) <> 'number' OR jsonb_typeof(o->'pattern'->1) <> 'number'
       OR NOT ((o->'pattern'->>0)::numeric BETWEEN 0 AND 31 AND (o->'pattern'->>1)::numeric BETWEEN 0 AND 31)
       OR (o->'pattern'->>0)::numeric > (o->'pattern'->>1)::numeric
       OR (o->'pattern'->>0)::numeric % 1 <> 0 OR (o->'pattern'->>1)::numeric % 1 <> 0 THEN
      RAISE EXCEPTION 'event selection: pattern must be [lo, hi], whole numbers with 0 <= lo <= hi <= 31, got %',
        o->'pattern' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    lo := (o->'pattern'->>0)::integer;
    hi_pn := (o->'pattern'->>1)::integer;
    hi_mos := hi_pn;
  END IF;
  IF o ? 'flag' THEN
    CASE o->>'flag'
      WHEN 'standard' THEN NULL;
      WHEN 'pn_spectral' THEN mask_pn := -1;
      WHEN 'none' THEN mask_pn := 0; mask_mos := 0;
      ELSE RAISE EXCEPTION 'event selection: flag must be "standard", "pn_spectral" or "none", got %', o->'flag'
             USING ERRCODE = 'invalid_parameter_value';
    END CASE;
  END IF;
  IF o ? 'flare_filter' AND NOT (jsonb_typeof(o->'flare_filter') = 'boolean'
                                 OR jsonb_typeof(o->'flare_filter') = 'number' AND (o->>'flare_filter')::float8 > 0
                                    AND (o->>'flare_filter')::float8 < 1e6) THEN
    RAISE EXCEPTION 'event selection: flare_filter must be true, false or a rate in counts/s (0 to 1e6), got %',
      o->'flare_filter' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (o->>'all_events')::boolean THEN
    RETURN ARRAY[0, 32767, 32767, 0, 0];
  END IF;
  RETURN ARRAY[lo, hi_pn, hi_mos, mask_pn, mask_mos];
END $$;

CREATE FUNCTION xmm.event_selected(instrument text, pattern smallint, flag integer, rule integer[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT pattern >= rule[1]
     AND pattern <= CASE WHEN instrument = 'EPN' THEN rule[2] ELSE rule[3] END
     AND flag & CASE WHEN instrument = 'EPN' THEN rule[4] ELSE rule[5] END = 0
$$;

-- For SQL over the photon view:  WHERE xmm.standard_event(instrument, pattern, flag)
CREATE FUNCTION xmm.standard_event(instrument text, pattern smallint, flag integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN instrument = 'EPN' THEN pattern <= 4 AND flag & x'0cfa0000'::integer = 0
              ELSE pattern <= 12 AND flag & x'766ba000'::integer = 0 END
$$;
COMMENT ON FUNCTION xmm.standard_event(text, smallint, integer) IS
  'SAS''s standard event selection: #XMMEA_EP && PATTERN<=4 (pn), #XMMEA_EM && PATTERN<=12 (MOS)';

-- The flare filter of options: 'off', 'pipeline' (SRC_GTIS) or 'rate' (flare_threshold).
CREATE FUNCTION xmm.flare_mode(options jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(options->'flare_filter')
           WHEN 'number' THEN 'rate'
           WHEN 'boolean' THEN CASE WHEN (options->>'flare_filter')::boolean THEN 'pipeline' ELSE 'off' END
           ELSE 'off' END
$$;
CREATE FUNCTION xmm.flare_threshold(options jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(options->'flare_filter') = 'number' THEN (options->>'flare_filter')::float8 END
$$;

-- Is time t free of flaring background? threshold NULL: inside one of the
-- pipeline's intervals [start, stop); else its bin of the rate curve (bins are
-- regular, checked at load) has rate <= threshold.
CREATE FUNCTION xmm.flare_free(gti_start double precision[], gti_stop double precision[],
                               bin_time double precision[], rate real[], timedel double precision,
                               t double precision, threshold double precision)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN threshold IS NULL
              THEN EXISTS (SELECT 1 FROM unnest(gti_start, gti_stop) AS g (a, b) WHERE t >= a AND t < b)
              WHEN abs(t - bin_time[1]) > 1e9 * timedel THEN false
              ELSE coalesce(rate[floor((t - bin_time[1]) / timedel + 0.5)::integer + 1] <= threshold, false) END
$$;

-- The flare-free intervals of an exposure, in time order: the pipeline's
-- (threshold NULL) or the runs of rate-curve bins at or below threshold, each
-- bin its centre +- timedel/2 (the rule of xmm.flare_free); none when no flare
-- time series is loaded for the exposure. The timing functions cut GTIs with it.
CREATE FUNCTION xmm.flare_intervals(obs_id text, instrument text, exp_id text, threshold double precision)
RETURNS TABLE (start double precision, stop double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH f AS (SELECT * FROM xmm.flare_series s WHERE s.obs_id = $1 AND s.instrument = $2 AND s.exp_id = $3),
  quiet AS (SELECT b.t, f.timedel, b.i - row_number() OVER (ORDER BY b.i) AS run
              FROM f, unnest(f.time, f.rate) WITH ORDINALITY AS b (t, r, i)
             WHERE $4 IS NOT NULL AND b.r <= $4)
  SELECT g.a, g.b FROM f, unnest(f.gti_start, f.gti_stop) AS g (a, b) WHERE $4 IS NULL
  UNION ALL
  SELECT min(q.t) - q.timedel / 2, max(q.t) + q.timedel / 2 FROM quiet q GROUP BY q.run, q.timedel
  ORDER BY 1
$$;
