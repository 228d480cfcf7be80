-- The radius of a spectrum's extraction region, from its BACKSCAL.
ALTER TABLE xmm.spectrum
  ADD COLUMN region_radius double precision GENERATED ALWAYS AS (sqrt(backscal / pi()) * 0.05) STORED;
