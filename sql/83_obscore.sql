-- ObsCore (IVOA ObsCore 1.1) and DataLink (IVOA DataLink 1.1): the archive's observations
-- and products discoverable the standard way, and every source, detection, observation and
-- spectrum linked to what can be had of it (pages, files, previews, the event-extraction
-- service). docs/web.md, "ObsCore and DataLink", writes down the choices.
--
-- Identifiers: ivo://xmmdb/<kind>?<key>, kind one of source, detection, observation,
-- spectrum (a local authority, not a registered one). URLs start with xmm.service_url():
-- the web shim sets it to its own address for each request; elsewhere they are paths.

CREATE SCHEMA ivoa;
COMMENT ON SCHEMA ivoa IS 'IVOA standard tables: ivoa.obscore (ObsCore 1.1)';

-- The address the web shim serves the archive at ('' outside a request: links are paths).
CREATE FUNCTION xmm.service_url() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT rtrim(coalesce(current_setting('xmm.service_url', true), ''), '/') $$;

-- 0.2-12 keV as wavelengths (m): h c / E, h c = 1.23984198e-6 eV m.
CREATE FUNCTION xmm.ev_to_m(energy_ev double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 1.23984198e-6 / energy_ev $$;

CREATE VIEW ivoa.obscore AS
-- Each observation's X-ray image (all cameras, 0.2-12 keV counts, made from the photons).
SELECT 'image'::text AS dataproduct_type, 3 AS calib_level, 'XMM-Newton EPIC'::text AS obs_collection,
       o.obs_id, 'ivo://xmmdb/observation?' || o.obs_id AS obs_publisher_did,
       xmm.service_url() || '/observation/' || o.obs_id || '/image.fits' AS access_url,
       'application/fits'::text AS access_format, 2100::bigint AS access_estsize,
       o.target AS target_name, o.ra_pnt AS s_ra, o.dec_pnt AS s_dec, 0.5::double precision AS s_fov,
       format('CIRCLE ICRS %s %s 0.25', o.ra_pnt, o.dec_pnt) AS s_region, 6.0::double precision AS s_resolution,
       480::bigint AS s_xel1, 480::bigint AS s_xel2,
       o.mjd_start AS t_min, o.mjd_stop AS t_max,
       greatest(o.pn_ontime, o.m1_ontime, o.m2_ontime)::double precision AS t_exptime,
       (o.mjd_stop - o.mjd_start) * 86400 AS t_resolution, 1::bigint AS t_xel,
       xmm.ev_to_m(12000) AS em_min, xmm.ev_to_m(200) AS em_max, NULL::double precision AS em_res_power,
       1::bigint AS em_xel, 'phot.count'::text AS o_ucd, NULL::text AS pol_states, NULL::bigint AS pol_xel,
       'XMM-Newton'::text AS facility_name, 'EPIC'::text AS instrument_name
  FROM xmm.observation o
 WHERE EXISTS (SELECT FROM xmm.exposure e WHERE e.obs_id = o.obs_id AND e.n_photons > 0)
UNION ALL
-- Every stored spectrum (source and background), with its responses through DataLink.
SELECT 'spectrum', 2, 'XMM-Newton EPIC', s.obs_id, 'ivo://xmmdb/spectrum?' || s.spectrum_id,
       xmm.service_url() || '/spectrum/' || s.spectrum_id || '.fits', 'application/fits',
       (cardinality(s.counts) * 8 / 1024 + 12)::bigint,
       o.target, coalesce(s.ra, d.ra, o.ra_pnt), coalesce(s.dec, d.dec, o.dec_pnt), NULL, NULL, 6.0, NULL, NULL,
       o.mjd_start, o.mjd_stop, s.exposure, NULL, NULL,
       xmm.ev_to_m(12000), xmm.ev_to_m(200), NULL, cardinality(s.counts)::bigint, 'phot.count', NULL, NULL,
       'XMM-Newton', CASE s.instrument WHEN 'EPN' THEN 'EPIC-pn' WHEN 'EMOS1' THEN 'EPIC-MOS1' ELSE 'EPIC-MOS2' END
  FROM xmm.spectrum s
  LEFT JOIN xmm.detection d ON d.detid = s.detid
  LEFT JOIN xmm.observation o ON o.obs_id = s.obs_id;

COMMENT ON VIEW ivoa.obscore IS
  'ObsCore 1.1: each observation''s X-ray image and every stored spectrum; access_url and DataLink give the files';

-- The standard's units, UCDs and utypes (ObsCore 1.1, table 6).
INSERT INTO xmm.column_meta (table_name, column_name, unit, ucd, utype, description) VALUES
  ('ivoa.obscore', 'dataproduct_type', NULL, 'meta.id', 'obscore:ObsDataset.dataProductType', 'data product type: image, spectrum'),
  ('ivoa.obscore', 'calib_level', NULL, 'meta.code;obs.calib', 'obscore:ObsDataset.calibLevel', 'calibration level: 2 calibrated, 3 derived from the photons'),
  ('ivoa.obscore', 'obs_collection', NULL, 'meta.id', 'obscore:DataID.Collection', 'collection'),
  ('ivoa.obscore', 'obs_id', NULL, 'meta.id', 'obscore:DataID.observationID', 'XMM-Newton observation identifier'),
  ('ivoa.obscore', 'obs_publisher_did', NULL, 'meta.ref.ivoid', 'obscore:Curation.PublisherDID', 'dataset identifier (the ID of DataLink)'),
  ('ivoa.obscore', 'access_url', NULL, 'meta.ref.url', 'obscore:Access.Reference', 'URL of the dataset'),
  ('ivoa.obscore', 'access_format', NULL, 'meta.code.mime', 'obscore:Access.Format', 'MIME type of the dataset'),
  ('ivoa.obscore', 'access_estsize', 'kbyte', 'phys.size;meta.file', 'obscore:Access.Size', 'estimated size of the dataset'),
  ('ivoa.obscore', 'target_name', NULL, 'meta.id;src', 'obscore:Target.Name', 'target of the observation'),
  ('ivoa.obscore', 's_ra', 'deg', 'pos.eq.ra', 'obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1', 'right ascension of the centre (ICRS)'),
  ('ivoa.obscore', 's_dec', 'deg', 'pos.eq.dec', 'obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2', 'declination of the centre (ICRS)'),
  ('ivoa.obscore', 's_fov', 'deg', 'phys.angSize;instr.fov', 'obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter', 'diameter of the field covered'),
  ('ivoa.obscore', 's_region', NULL, 'pos.outline;obs.field', 'obscore:Char.SpatialAxis.Coverage.Support.Area', 'region covered (STC-S)'),
  ('ivoa.obscore', 's_resolution', 'arcsec', 'pos.angResolution', 'obscore:Char.SpatialAxis.Resolution.Refval.value', 'spatial resolution (PSF FWHM on axis)'),
  ('ivoa.obscore', 's_xel1', NULL, 'meta.number', 'obscore:Char.SpatialAxis.numBins1', 'pixels along the first axis'),
  ('ivoa.obscore', 's_xel2', NULL, 'meta.number', 'obscore:Char.SpatialAxis.numBins2', 'pixels along the second axis'),
  ('ivoa.obscore', 't_min', 'd', 'time.start;obs.exposure', 'obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime', 'start (MJD, TT)'),
  ('ivoa.obscore', 't_max', 'd', 'time.end;obs.exposure', 'obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime', 'end (MJD, TT)'),
  ('ivoa.obscore', 't_exptime', 's', 'time.duration;obs.exposure', 'obscore:Char.TimeAxis.Coverage.Support.Extent', 'exposure time'),
  ('ivoa.obscore', 't_resolution', 's', 'time.resolution', 'obscore:Char.TimeAxis.Resolution.Refval.value', 'time resolution'),
  ('ivoa.obscore', 't_xel', NULL, 'meta.number', 'obscore:Char.TimeAxis.numBins', 'time bins'),
  ('ivoa.obscore', 'em_min', 'm', 'em.wl;stat.min', 'obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit', 'shortest wavelength (12 keV)'),
  ('ivoa.obscore', 'em_max', 'm', 'em.wl;stat.max', 'obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit', 'longest wavelength (0.2 keV)'),
  ('ivoa.obscore', 'em_res_power', NULL, 'spect.resolution', 'obscore:Char.SpectralAxis.Resolution.ResolPower.refVal', 'spectral resolving power'),
  ('ivoa.obscore', 'em_xel', NULL, 'meta.number', 'obscore:Char.SpectralAxis.numBins', 'spectral bins (channels)'),
  ('ivoa.obscore', 'o_ucd', NULL, 'meta.ucd', 'obscore:Char.ObservableAxis.ucd', 'UCD of the observable'),
  ('ivoa.obscore', 'pol_states', NULL, 'meta.code;phys.polarization', 'obscore:Char.PolarizationAxis.stateList', 'polarisation states (none)'),
  ('ivoa.obscore', 'pol_xel', NULL, 'meta.number', 'obscore:Char.PolarizationAxis.numBins', 'polarisation bins (none)'),
  ('ivoa.obscore', 'facility_name', NULL, 'meta.id;instr.tel', 'obscore:Provenance.ObsConfig.Facility.name', 'observatory'),
  ('ivoa.obscore', 'instrument_name', NULL, 'meta.id;instr', 'obscore:Provenance.ObsConfig.Instrument.name', 'instrument');
UPDATE xmm.column_meta SET xtype = 'adql:REGION' WHERE table_name = 'ivoa.obscore' AND column_name = 's_region';
