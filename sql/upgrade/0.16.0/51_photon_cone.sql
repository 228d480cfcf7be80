-- The cone decoder takes the packed row and its exposure as rows and applies the
-- event selection and the flare filter itself (one call per packed row instead
-- of a filter and a join per photon); its twin returns the photons as arrays,
-- and xmm_photon_arrays is new.
DROP FUNCTION xmm.cone_photons(double precision, integer, integer, integer[], smallint[], smallint[], smallint[],
                               smallint[], smallint[], integer[], double precision, double precision,
                               double precision, double precision, double precision, double precision,
                               double precision, double precision, double precision, double precision,
                               double precision, double precision, double precision, double precision,
                               double precision);
-- functions of sql/51_photon_cone.sql
-- functions of sql/51_photon_search.sql
