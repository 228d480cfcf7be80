-- The fit cache is bounded: last use and maker of each fit, the policy's
-- functions, and the cached fitting functions that apply it.
ALTER TABLE xmm.fit_cache ADD COLUMN last_used timestamptz NOT NULL DEFAULT now(),
                          ADD COLUMN created_by name NOT NULL DEFAULT session_user;
CREATE INDEX fit_cache_lru_idx ON xmm.fit_cache (created_by, last_used);
CREATE INDEX fit_cache_used_idx ON xmm.fit_cache (last_used);
-- functions of sql/42_fit_cache.sql
