-- Pulsation searches (xmmdb.timing.periodogram, docs/timing.md).

-- The result of a search: the row of xmm_periodogram and xmm_periodogram_at.
CREATE TYPE xmm.periodogram AS (frequency double precision[], power double precision[],
                                best_frequency double precision, best_period double precision,
                                best_fdot double precision, best_power double precision, fap double precision,
                                probability double precision, n_trials double precision, n_photons integer,
                                statistic text, obs_ids text[], barycentred boolean, excluded text[],
                                candidates jsonb, combination text);
COMMENT ON TYPE xmm.periodogram IS
  'A pulsation search: the periodogram (frequency, power), its best peak and the false-alarm probability, '
  'the photons and observations used, the exposures excluded and the peak''s harmonic relatives (candidates)';

-- python front: xmmdb.timing.api.periodogram(db, srcid, fmin, fmax, options, notice=notice)
CREATE FUNCTION xmm.xmm_periodogram(srcid bigint, fmin double precision, fmax double precision,
                                    options jsonb DEFAULT '{}')
RETURNS SETOF xmm.periodogram STABLE;

COMMENT ON FUNCTION xmm.xmm_periodogram(bigint, double precision, double precision, jsonb) IS
  'Z^2_n (default n = 2) or H-test periodogram of a source''s barycentred photons between fmin and fmax (Hz): '
  'exposure-corrected for the GTIs, the fundamental among the peak''s harmonic relatives (candidates) and its '
  'trials-corrected false-alarm probability; options: obs_id, '
  'instrument, emin, emax, radius, method (z2 | h), harmonics, oversample, barycentre, combine (auto | coherent | '
  'incoherent), fdot_max (Hz/s: also search frequency derivatives; best_fdot), threads; exposures whose readout '
  'frames are too slow for fmax are left out (excluded)';

-- The same at a position (RA, Dec in degrees): its own name, never an overload.
-- python front: xmmdb.timing.api.periodogram(db, (ra, dec), fmin, fmax, options, notice=notice)
CREATE FUNCTION xmm.xmm_periodogram_at(ra double precision, "dec" double precision, fmin double precision,
                                       fmax double precision, options jsonb DEFAULT '{}')
RETURNS SETOF xmm.periodogram STABLE;

COMMENT ON FUNCTION xmm.xmm_periodogram_at(double precision, double precision, double precision, double precision,
                                           jsonb) IS
  'xmm_periodogram at a position (RA, Dec in degrees): the photons within radius (20") of it, the same options';
