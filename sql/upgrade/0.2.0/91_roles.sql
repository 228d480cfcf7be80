-- xmm_reader and xmm_loader become groups that cannot log in (login roles of
-- their own belong to them: `xmmdb user add`); their per-role settings move to
-- the login roles, where a user's own ALTER ROLE changes only themselves.
ALTER ROLE xmm_reader NOLOGIN;
ALTER ROLE xmm_loader NOLOGIN;
ALTER ROLE xmm_reader RESET ALL;
ALTER ROLE xmm_loader RESET ALL;
