-- Stored spectra and responses as OGIP files again (xmmdb.spectral.files): a spectrum's
-- BACKFILE, RESPFILE and ANCRFILE name the files of its background and responses as these
-- functions hand them out (xmmdb_spectrum_<id>.fits, xmmdb_response_<id>.fits), so that
-- saved side by side they load in XSPEC or Sherpa as they are. DataLink links to them.

-- python front: xmmdb.spectral.files.spectrum_file(db, spectrum_id)
CREATE FUNCTION xmm.xmm_spectrum_file(spectrum_id bigint) RETURNS bytea STABLE;

-- python front: xmmdb.spectral.files.response_file(db, response_id)
CREATE FUNCTION xmm.xmm_response_file(response_id bigint) RETURNS bytea STABLE;

COMMENT ON FUNCTION xmm.xmm_spectrum_file(bigint) IS
  'The stored spectrum as an OGIP PHA type I file (bytea); its BACKFILE/RESPFILE/ANCRFILE name '
  'xmmdb_spectrum_<id>.fits and xmmdb_response_<id>.fits, the files of xmm_spectrum_file and xmm_response_file';
COMMENT ON FUNCTION xmm.xmm_response_file(bigint) IS
  'A stored response as an OGIP file (bytea): an RMF (MATRIX, EBOUNDS) or an ARF (SPECRESP)';
