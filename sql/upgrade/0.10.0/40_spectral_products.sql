-- Canned on-axis ARFs convert count rates to fluxes (xmm_upper_limit). An ARF that no
-- spectrum uses was loaded into the response store (xmmdb load responses): canned.
-- Stores of releases before 0.3.0 recorded that of RMFs only.
UPDATE xmm.response x SET canned = true
 WHERE x.kind = 'arf' AND NOT x.canned
   AND NOT EXISTS (SELECT FROM xmm.spectrum s WHERE s.arf_id = x.response_id);
