-- TAP asynchronous jobs (UWS 1.1) of the web shim, kept in the database: they
-- survive a restart of the shim, and their results are spooled here rather than
-- held in the shim's memory.
--
-- The jobs live in schema xmm_uws, which the reader and loader groups cannot
-- use: only the web shim's login (a member of xmm_tap, loader/roles.py) reaches
-- them, through the functions below, each of which acts for one owner (the
-- authenticated user, else the client address: docs/web.md). A reader logged
-- in with psql or JDBC sees no one's jobs. Bounds: uws_limits().

CREATE SCHEMA xmm_uws;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'xmm_tap') THEN
    CREATE ROLE xmm_tap NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
END $$;

CREATE TABLE xmm_uws.job (
    job_id       text PRIMARY KEY CHECK (job_id ~ '^[0-9a-f]{32}$'),   -- 128 random bits: not guessable
    owner        text NOT NULL,
    phase        text NOT NULL DEFAULT 'PENDING'
                 CHECK (phase IN ('PENDING', 'QUEUED', 'EXECUTING', 'COMPLETED', 'ERROR', 'ABORTED')),
    run_id       text,
    parameters   jsonb NOT NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    started      timestamptz,
    ended        timestamptz,
    destruction  timestamptz NOT NULL,
    error        text,
    result_mime  text,
    result       bytea,                     -- the spooled result; read in chunks (uws_result_chunk)
    CHECK (octet_length(result) <= 200 * 1024 * 1024)
);
CREATE INDEX job_owner_idx ON xmm_uws.job (owner, created);
CREATE INDEX job_destruction_idx ON xmm_uws.job (destruction);
SELECT pg_catalog.pg_extension_config_dump('xmm_uws.job', '');
COMMENT ON TABLE xmm_uws.job IS 'TAP async jobs (UWS) of the web shim: owner, phase, parameters, spooled result';

-- The bounds of the job service, in one place (docs/web.md).
CREATE FUNCTION xmm_uws.limits(OUT active_per_owner int, OUT jobs_per_owner int, OUT executing int,
                               OUT default_lifetime interval, OUT max_lifetime interval, OUT result_bytes bigint)
LANGUAGE sql IMMUTABLE AS $$ SELECT 4, 100, 2, interval '1 day', interval '7 days', 200::bigint * 1024 * 1024 $$;
COMMENT ON FUNCTION xmm_uws.limits() IS 'Bounds of the TAP job service: per owner, executing at once, lifetimes, result size';

-- Functions for the web shim: each acts for one owner, and sees only that owner's jobs.
CREATE FUNCTION xmm_uws.expire() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM xmm_uws.job WHERE destruction < now()
$$;

CREATE FUNCTION xmm_uws.add(owner text, job_id text, parameters jsonb, run_id text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lim record := xmm_uws.limits();
BEGIN
  PERFORM xmm_uws.expire();
  IF (SELECT count(*) FROM xmm_uws.job j WHERE j.owner = add.owner) >= lim.jobs_per_owner THEN
    RAISE EXCEPTION 'you have % jobs, the most kept for one client: delete some first', lim.jobs_per_owner
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  INSERT INTO xmm_uws.job (job_id, owner, parameters, run_id, destruction)
  VALUES (add.job_id, add.owner, add.parameters, add.run_id, now() + lim.default_lifetime);
END $$;

-- The owner's jobs (one, or all when job_id is NULL), without their results.
CREATE FUNCTION xmm_uws.jobs(owner text, job_id text DEFAULT NULL)
RETURNS TABLE (job_id text, phase text, run_id text, parameters jsonb, created timestamptz, started timestamptz,
               ended timestamptz, destruction timestamptz, error text, result_mime text, result_bytes bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT j.job_id, j.phase, j.run_id, j.parameters, j.created, j.started, j.ended, j.destruction, j.error,
         j.result_mime, octet_length(j.result)
    FROM xmm_uws.job j
   WHERE j.owner = jobs.owner AND (jobs.job_id IS NULL OR j.job_id = jobs.job_id) AND j.destruction >= now()
   ORDER BY j.created
$$;

CREATE FUNCTION xmm_uws.set_parameters(owner text, job_id text, parameters jsonb)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE xmm_uws.job j SET parameters = j.parameters || set_parameters.parameters
   WHERE j.owner = set_parameters.owner AND j.job_id = set_parameters.job_id AND j.phase = 'PENDING'
  RETURNING true
$$;

-- A new destruction time, at most max_lifetime from the job's creation.
CREATE FUNCTION xmm_uws.set_destruction(owner text, job_id text, destruction timestamptz)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE xmm_uws.job j SET destruction = least(set_destruction.destruction, j.created + (xmm_uws.limits()).max_lifetime)
   WHERE j.owner = set_destruction.owner AND j.job_id = set_destruction.job_id
  RETURNING true
$$;

CREATE FUNCTION xmm_uws.remove(owner text, job_id text)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM xmm_uws.job j WHERE j.owner = remove.owner AND j.job_id = remove.job_id RETURNING true
$$;

-- PENDING -> QUEUED, unless the owner already has active_per_owner jobs queued or running.
CREATE FUNCTION xmm_uws.queue(owner text, job_id text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lim record := xmm_uws.limits();
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('xmm_uws.queue:' || owner));    -- one count per owner at a time
  IF (SELECT count(*) FROM xmm_uws.job j WHERE j.owner = queue.owner AND j.phase IN ('QUEUED', 'EXECUTING'))
     >= lim.active_per_owner THEN
    RAISE EXCEPTION 'you have % jobs queued or running, the most for one client: wait for one to end',
      lim.active_per_owner USING ERRCODE = 'program_limit_exceeded';
  END IF;
  UPDATE xmm_uws.job j SET phase = 'QUEUED'
   WHERE j.owner = queue.owner AND j.job_id = queue.job_id AND j.phase = 'PENDING';
  RETURN FOUND;
END $$;

CREATE FUNCTION xmm_uws.abort(owner text, job_id text)
RETURNS boolean LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE xmm_uws.job j SET phase = 'ABORTED', ended = now()
   WHERE j.owner = abort.owner AND j.job_id = abort.job_id AND j.phase IN ('PENDING', 'QUEUED', 'EXECUTING')
  RETURNING true
$$;

-- The shim's workers: take the oldest queued job, and store its outcome.
CREATE FUNCTION xmm_uws.claim(OUT job_id text, OUT parameters jsonb)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE xmm_uws.job j SET phase = 'EXECUTING', started = now()
   WHERE j.job_id = (SELECT q.job_id FROM xmm_uws.job q WHERE q.phase = 'QUEUED' ORDER BY q.created
                      LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING j.job_id, j.parameters
$$;

CREATE FUNCTION xmm_uws.finish(job_id text, error text, result_mime text, result bytea)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE xmm_uws.job j
     SET phase = CASE WHEN finish.error IS NULL THEN 'COMPLETED' ELSE 'ERROR' END, ended = now(),
         error = finish.error, result_mime = finish.result_mime, result = finish.result
   WHERE j.job_id = finish.job_id AND j.phase = 'EXECUTING'
$$;

-- At the shim's start: what a dead shim left running ends in ERROR (queued jobs wait on).
CREATE FUNCTION xmm_uws.recover() RETURNS integer LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH ended AS (
    UPDATE xmm_uws.job SET phase = 'ERROR', ended = now(),
           error = 'the service restarted while the job ran; run it again'
     WHERE phase = 'EXECUTING' RETURNING 1)
  SELECT count(*)::int FROM ended
$$;

CREATE FUNCTION xmm_uws.result_chunk(owner text, job_id text, start bigint, length integer)
RETURNS bytea LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT substring(j.result FROM (result_chunk.start + 1)::int FOR least(result_chunk.length, 4 * 1024 * 1024))
    FROM xmm_uws.job j WHERE j.owner = result_chunk.owner AND j.job_id = result_chunk.job_id
$$;

REVOKE ALL ON SCHEMA xmm_uws FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA xmm_uws FROM PUBLIC;
GRANT USAGE ON SCHEMA xmm_uws TO xmm_tap;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA xmm_uws TO xmm_tap;
