-- Standard event selection and flare filtering for every photon function.
-- new in this version: sql/51_event_selection.sql
DROP FUNCTION xmm.xmm_photons(double precision, double precision, double precision, double precision,
                              double precision, double precision, double precision);
-- functions of sql/51_photon_search.sql
