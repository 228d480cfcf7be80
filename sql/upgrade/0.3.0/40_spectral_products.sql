-- Spectra name their camera as event lists do (EPN, EMOS1, EMOS2, no longer PN,
-- M1, M2) and their exposure exp_id; cached fits follow. Responses say whether
-- they were loaded into the store (canned: found by name) or with a spectrum
-- (found by content only). Which were canned is not recorded before this
-- version: an RMF no spectrum uses, or one used by spectra of more than one
-- observation, is taken as canned; any other is found by content only (a
-- spectrum that names it and is loaded again without it is refused with a clear
-- message; loading the response store again marks it).
ALTER TABLE xmm.spectrum DROP CONSTRAINT spectrum_instrument_check;
UPDATE xmm.spectrum SET instrument = xmm.camera(instrument) WHERE instrument <> xmm.camera(instrument);
ALTER TABLE xmm.spectrum ADD CONSTRAINT spectrum_instrument_check CHECK (instrument IN ('EPN', 'EMOS1', 'EMOS2'));
ALTER TABLE xmm.spectrum RENAME COLUMN expid TO exp_id;

UPDATE xmm.fit_cache c
   SET instrument = coalesce(xmm.camera(c.instrument), c.instrument),
       result.instrument = (SELECT string_agg(coalesce(xmm.camera(p), p), '+' ORDER BY i)
                              FROM unnest(string_to_array((c.result).instrument, '+')) WITH ORDINALITY AS u (p, i))
 WHERE c.instrument <> 'EPIC' AND c.instrument <> xmm.camera(c.instrument)
    OR (c.result).instrument ~ '(^|\+)(PN|M1|M2)(\+|$)';

ALTER TABLE xmm.response ADD COLUMN canned boolean NOT NULL DEFAULT false;
UPDATE xmm.response x SET canned = true
 WHERE x.kind = 'rmf'
   AND (SELECT count(DISTINCT s.obs_id) FROM xmm.spectrum s WHERE s.rmf_id = x.response_id) <> 1;
COMMENT ON TABLE xmm.response IS 'ARFs and RMFs, stored once per content; canned RMFs are also found by their file names';
UPDATE xmm.response SET instrument = xmm.camera(instrument) WHERE instrument <> xmm.camera(instrument);
