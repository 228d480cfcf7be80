-- Kept search results keep the options they were made with, in this version's spelling.
UPDATE xmm.timing_candidate
   SET options = (options - 'barycenter') || jsonb_build_object('barycentre', options->'barycenter')
 WHERE options ? 'barycenter';
