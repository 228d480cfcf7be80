-- The HiPS of the photons (sql/65_hips.sql) is new: its tables and functions as
-- they are. Every cell that holds photons is marked, so the next `xmmdb init`
-- (make run) or SELECT xmm_hips_build() builds the HiPS of what the archive holds.
-- new in this version: sql/65_hips.sql
INSERT INTO xmm.hips_dirty (cell) SELECT DISTINCT cell FROM xmm.photon_cell ON CONFLICT DO NOTHING;
