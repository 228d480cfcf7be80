-- Personal sessions of the web interface: local accounts, and what a logged-in
-- user keeps (saved queries, a basket of sources, a history of fits and
-- extractions, read-only links that share a query or the basket).
--
-- Everything lives in schema xmm_accounts, which the reader and loader groups
-- cannot use and which TAP_SCHEMA does not describe (sql/80_tap_schema_refresh.sql
-- publishes xmm, tap_schema, ivoa and usr only). The web shim's login (a member
-- of xmm_tap, loader/roles.py) reaches it only through the SECURITY DEFINER
-- functions granted below, and those act for a session token, never for an
-- account named by the caller: the shim's login cannot read a password hash,
-- nor anyone's items without that person's session (docs/web.md, "Accounts and
-- sessions").
--
-- Passwords are hashed with Argon2id (argon2-cffi) inside the server and
-- verified there: the clear password is a bind parameter of one call and is
-- never stored; hashes never leave this schema. Failed logins are counted here,
-- per account and per address. Bounds: xmm_accounts.limits().
-- Administration (as the superuser): xmm_accounts.allow_registration(bool),
-- xmm_accounts.account_list(), xmm_accounts.reset_password(name),
-- xmm_accounts.remove_account(name).

CREATE SCHEMA xmm_accounts;

CREATE TABLE xmm_accounts.account (
    account_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$'),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created        timestamptz NOT NULL DEFAULT now(),
    password_set   timestamptz NOT NULL DEFAULT now(),
    last_login     timestamptz
);
CREATE UNIQUE INDEX account_username_idx ON xmm_accounts.account (lower(username));
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.account', '');
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.account_account_id_seq', '');
COMMENT ON TABLE xmm_accounts.account IS 'Web accounts: a name and an Argon2id hash of the password (never the password)';

-- A logged-in browser: the SHA-256 of its token (the token itself is only in the signed cookie).
-- Not kept by backups: after a restore, people log in again.
CREATE TABLE xmm_accounts.session (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    account_id  bigint NOT NULL REFERENCES xmm_accounts.account ON DELETE CASCADE,
    created     timestamptz NOT NULL DEFAULT now(),
    seen        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_account_idx ON xmm_accounts.session (account_id, created);

-- Logins that failed and accounts made, by name and address, for the rate limits; kept for
-- the limits' window only, not by backups.
CREATE TABLE xmm_accounts.attempt (
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL CHECK (kind IN ('login', 'register')),
    username  text NOT NULL,
    address   text NOT NULL
);
CREATE INDEX attempt_username_idx ON xmm_accounts.attempt (kind, lower(username), at);
CREATE INDEX attempt_address_idx ON xmm_accounts.attempt (kind, address, at);

-- Settings an administrator changes (allow_registration).
CREATE TABLE xmm_accounts.setting (
    name   text PRIMARY KEY,
    value  jsonb NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.setting', '');

CREATE TABLE xmm_accounts.saved_query (
    item_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES xmm_accounts.account ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    language    text NOT NULL CHECK (language IN ('search', 'adql')),
    query       text NOT NULL CHECK (char_length(query) BETWEEN 1 AND 20000),
    created     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.saved_query', '');
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.saved_query_item_id_seq', '');

-- Sources by SRCID, without a foreign key: a catalogue reload must not be held up by baskets
-- (a source that is gone is shown as gone).
CREATE TABLE xmm_accounts.basket (
    account_id  bigint NOT NULL REFERENCES xmm_accounts.account ON DELETE CASCADE,
    srcid       bigint NOT NULL,
    added       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, srcid)
);
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.basket', '');

-- Fits and extractions run through the web: what was asked (the shim's URL, which redoes it).
CREATE TABLE xmm_accounts.history (
    item_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES xmm_accounts.account ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('fit', 'extraction')),
    what        text NOT NULL CHECK (char_length(what) <= 200),
    url         text NOT NULL CHECK (char_length(url) <= 4000 AND url LIKE '/%'),
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_account_idx ON xmm_accounts.history (account_id, at);
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.history', '');
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.history_item_id_seq', '');

-- Read-only links: an unguessable token (122 random bits) that shows one saved query or the
-- basket to anyone who has it, until its owner deletes it.
CREATE TABLE xmm_accounts.share (
    token       text PRIMARY KEY CHECK (token ~ '^[0-9a-f]{32}$'),
    account_id  bigint NOT NULL REFERENCES xmm_accounts.account ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('query', 'basket')),
    item_id     bigint REFERENCES xmm_accounts.saved_query ON DELETE CASCADE,
    created     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'query') = (item_id IS NOT NULL))
);
CREATE INDEX share_account_idx ON xmm_accounts.share (account_id);
SELECT pg_catalog.pg_extension_config_dump('xmm_accounts.share', '');

-- The bounds, in one place (docs/limits.md).
CREATE FUNCTION xmm_accounts.limits(
    OUT saved_queries int, OUT basket_sources int, OUT history_kept int, OUT shares int, OUT sessions int,
    OUT name_chars int, OUT query_chars int, OUT password_min int, OUT password_max int,
    OUT failures_per_account int, OUT failures_per_address int, OUT failure_window interval,
    OUT registrations_per_address int, OUT registration_window interval,
    OUT session_idle interval, OUT session_lifetime interval)
LANGUAGE sql IMMUTABLE AS $$
  SELECT 100, 1000, 200, 50, 10, 100, 20000, 10, 1024, 5, 20, interval '15 minutes', 5, interval '1 hour',
         interval '7 days', interval '30 days'
$$;
COMMENT ON FUNCTION xmm_accounts.limits() IS
  'Bounds of web accounts: items kept per account, sizes, password length, rate limits, session lifetimes';

-- Argon2id in the server (xmmdb.accounts). Called only by the definer functions below;
-- nobody else may execute them.
-- python: xmmdb.accounts.hash_password(password)
CREATE FUNCTION xmm_accounts.hash_password(password text) RETURNS text VOLATILE;

-- False for a wrong password; a missing hash (no such account) costs the time of a check all the same.
-- python: xmmdb.accounts.verify_password(password_hash, password)
CREATE FUNCTION xmm_accounts.verify_password(password_hash text, password text) RETURNS boolean VOLATILE;

CREATE FUNCTION xmm_accounts.new_token(bits int) RETURNS text LANGUAGE sql VOLATILE AS $$
  -- gen_random_uuid draws from the server's strong random source: 122 random bits per UUID
  SELECT pg_catalog.string_agg(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), '')
    FROM pg_catalog.generate_series(1, (bits + 121) / 122)
$$;

CREATE FUNCTION xmm_accounts.token_hash(token text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8'))
$$;

CREATE FUNCTION xmm_accounts.check_password(username text, password text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lim record := xmm_accounts.limits();
BEGIN
  -- never repeat the password in a message
  IF password IS NULL OR char_length(password) < lim.password_min THEN
    RAISE EXCEPTION 'a password needs at least % characters', lim.password_min USING ERRCODE = 'invalid_parameter_value';
  ELSIF char_length(password) > lim.password_max THEN
    RAISE EXCEPTION 'a password has at most % characters', lim.password_max USING ERRCODE = 'invalid_parameter_value';
  ELSIF lower(password) = lower(username) THEN
    RAISE EXCEPTION 'the password must not be the name' USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $$;

-- A new session of an account: its token (the caller keeps it; only its hash is stored).
CREATE FUNCTION xmm_accounts.open_session(account_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  token text := xmm_accounts.new_token(244);
BEGIN
  INSERT INTO xmm_accounts.session (token_hash, account_id) VALUES (xmm_accounts.token_hash(token), open_session.account_id);
  DELETE FROM xmm_accounts.session s            -- the oldest beyond the cap end
   WHERE s.account_id = open_session.account_id
     AND s.token_hash NOT IN (SELECT k.token_hash FROM xmm_accounts.session k WHERE k.account_id = open_session.account_id
                               ORDER BY k.created DESC LIMIT (xmm_accounts.limits()).sessions);
  UPDATE xmm_accounts.account a SET last_login = now() WHERE a.account_id = open_session.account_id;
  RETURN token;
END $$;

-- The account of a session token, or an error when it has ended (SQLSTATE 28000).
CREATE FUNCTION xmm_accounts.account_of(token text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lim record := xmm_accounts.limits();
  s record;
BEGIN
  SELECT k.account_id, k.seen INTO s FROM xmm_accounts.session k
   WHERE k.token_hash = xmm_accounts.token_hash(token)
     AND k.seen > now() - lim.session_idle AND k.created > now() - lim.session_lifetime;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'you are not logged in (or your session has ended)' USING ERRCODE = 'invalid_authorization_specification';
  END IF;
  IF s.seen < now() - interval '5 minutes' THEN
    UPDATE xmm_accounts.session k SET seen = now() WHERE k.token_hash = xmm_accounts.token_hash(token);
  END IF;
  RETURN s.account_id;
END $$;

-- What the web shim calls -------------------------------------------------------------------

CREATE FUNCTION xmm_accounts.registration_open() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT (s.value #>> '{}')::boolean FROM xmm_accounts.setting s WHERE s.name = 'registration'), true)
$$;

-- A new account, logged in: the session token.
CREATE FUNCTION xmm_accounts.register(username text, password text, address text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lim record := xmm_accounts.limits();
  id bigint;
BEGIN
  IF NOT xmm_accounts.registration_open() THEN
    RAISE EXCEPTION 'new accounts are not taken here: the administrator has closed registration'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF username IS NULL OR username !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{2,39}$' THEN
    RAISE EXCEPTION 'a name has 3 to 40 letters, digits, ''_'', ''.'' or ''-'', and starts with a letter or digit'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM xmm_accounts.check_password(username, password);
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('xmm_accounts.register:' || coalesce(address, '')));
  DELETE FROM xmm_accounts.attempt t WHERE t.kind = 'register' AND t.at < now() - lim.registration_window;
  IF (SELECT count(*) FROM xmm_accounts.attempt t WHERE t.kind = 'register' AND t.address = coalesce(register.address, ''))
     >= lim.registrations_per_address THEN
    RAISE EXCEPTION 'too many new accounts from this address: try again within the hour'
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  IF EXISTS (SELECT FROM xmm_accounts.account a WHERE lower(a.username) = lower(register.username)) THEN
    RAISE EXCEPTION 'the name % is taken: choose another', username USING ERRCODE = 'unique_violation';
  END IF;
  INSERT INTO xmm_accounts.account (username, password_hash)
  VALUES (register.username, xmm_accounts.hash_password(password)) RETURNING account_id INTO id;
  INSERT INTO xmm_accounts.attempt (kind, username, address) VALUES ('register', register.username, coalesce(register.address, ''));
  RETURN xmm_accounts.open_session(id);
END $$;

-- A session token for the right password; NULL for a wrong name or password (the failure is
-- counted). Past failures_per_account failures of one name, or failures_per_address from one
-- address, within failure_window, it refuses without looking at the password (SQLSTATE 54000).
CREATE FUNCTION xmm_accounts.login(username text, password text, address text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lim record := xmm_accounts.limits();
  who text := lower(coalesce(username, ''));
  addr text := coalesce(address, '');
  acc record;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('xmm_accounts.login:' || who));
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('xmm_accounts.address:' || addr));
  DELETE FROM xmm_accounts.attempt t WHERE t.kind = 'login' AND t.at < now() - lim.failure_window;
  IF (SELECT count(*) FROM xmm_accounts.attempt t WHERE t.kind = 'login' AND lower(t.username) = who)
       >= lim.failures_per_account
     OR (SELECT count(*) FROM xmm_accounts.attempt t WHERE t.kind = 'login' AND t.address = addr)
       >= lim.failures_per_address THEN
    RAISE EXCEPTION 'too many failed logins for this name or from this address: try again in % minutes',
      extract(epoch FROM lim.failure_window)::int / 60 USING ERRCODE = 'program_limit_exceeded';
  END IF;
  SELECT a.account_id, a.password_hash INTO acc FROM xmm_accounts.account a WHERE lower(a.username) = who;
  IF password IS NOT NULL AND char_length(password) <= lim.password_max
     AND xmm_accounts.verify_password(acc.password_hash, password)
     AND acc.account_id IS NOT NULL THEN
    DELETE FROM xmm_accounts.attempt t WHERE t.kind = 'login' AND lower(t.username) = who;
    RETURN xmm_accounts.open_session(acc.account_id);
  END IF;
  INSERT INTO xmm_accounts.attempt (kind, username, address) VALUES ('login', left(who, 40), addr);
  RETURN NULL;
END $$;

CREATE FUNCTION xmm_accounts.logout(token text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM xmm_accounts.session s WHERE s.token_hash = xmm_accounts.token_hash(token)
$$;

-- The name of the session's account (an error when the session has ended).
CREATE FUNCTION xmm_accounts.whoami(token text) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.username FROM xmm_accounts.account a WHERE a.account_id = xmm_accounts.account_of(token)
$$;

-- A new password: every session of the account ends, and a new one is returned.
CREATE FUNCTION xmm_accounts.change_password(token text, old_password text, new_password text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint := xmm_accounts.account_of(token);
  acc record;
BEGIN
  SELECT a.username, a.password_hash INTO acc FROM xmm_accounts.account a WHERE a.account_id = id;
  IF old_password IS NULL OR char_length(old_password) > (xmm_accounts.limits()).password_max
     OR NOT xmm_accounts.verify_password(acc.password_hash, old_password) THEN
    RAISE EXCEPTION 'the present password is not right' USING ERRCODE = 'invalid_password';
  END IF;
  PERFORM xmm_accounts.check_password(acc.username, new_password);
  UPDATE xmm_accounts.account a SET password_hash = xmm_accounts.hash_password(new_password), password_set = now()
   WHERE a.account_id = id;
  DELETE FROM xmm_accounts.session s WHERE s.account_id = id;
  RETURN xmm_accounts.open_session(id);
END $$;

-- Saved queries.
CREATE FUNCTION xmm_accounts.queries(token text)
RETURNS TABLE (item_id bigint, name text, language text, query text, created timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT q.item_id, q.name, q.language, q.query, q.created FROM xmm_accounts.saved_query q
   WHERE q.account_id = xmm_accounts.account_of(token) ORDER BY q.created DESC, q.item_id DESC
$$;

-- Saves a query under a name (a name already used is replaced): its id.
CREATE FUNCTION xmm_accounts.save_query(token text, name text, language text, query text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint := xmm_accounts.account_of(token);
  lim record := xmm_accounts.limits();
  nm text := btrim(coalesce(name, ''));
  q text := btrim(coalesce(query, ''));
  out_id bigint;
BEGIN
  IF nm = '' OR char_length(nm) > lim.name_chars THEN
    RAISE EXCEPTION 'a name has 1 to % characters', lim.name_chars USING ERRCODE = 'invalid_parameter_value';
  ELSIF q = '' THEN
    RAISE EXCEPTION 'the query is empty' USING ERRCODE = 'invalid_parameter_value';
  ELSIF char_length(q) > lim.query_chars THEN
    RAISE EXCEPTION 'a saved query has at most % characters', lim.query_chars USING ERRCODE = 'program_limit_exceeded';
  ELSIF language IS NULL OR language NOT IN ('search', 'adql') THEN
    RAISE EXCEPTION 'the language of a query is ''search'' or ''adql''' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('xmm_accounts.items:' || id));
  UPDATE xmm_accounts.saved_query s SET language = save_query.language, query = q, created = now()
   WHERE s.account_id = id AND s.name = nm RETURNING s.item_id INTO out_id;
  IF FOUND THEN
    RETURN out_id;
  END IF;
  IF (SELECT count(*) FROM xmm_accounts.saved_query s WHERE s.account_id = id) >= lim.saved_queries THEN
    RAISE EXCEPTION 'you have % saved queries, the most kept for one account: delete some first', lim.saved_queries
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  INSERT INTO xmm_accounts.saved_query (account_id, name, language, query)
  VALUES (id, nm, save_query.language, q) RETURNING item_id INTO out_id;
  RETURN out_id;
END $$;

CREATE FUNCTION xmm_accounts.delete_query(token text, item_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (DELETE FROM xmm_accounts.saved_query s
                 WHERE s.account_id = xmm_accounts.account_of(token) AND s.item_id = delete_query.item_id RETURNING 1)
  SELECT EXISTS (SELECT FROM gone)
$$;

-- The basket.
CREATE FUNCTION xmm_accounts.basket(token text) RETURNS TABLE (srcid bigint, added timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT b.srcid, b.added FROM xmm_accounts.basket b WHERE b.account_id = xmm_accounts.account_of(token)
   ORDER BY b.added, b.srcid
$$;

-- Adds sources (those already in it stay): how many are new.
CREATE FUNCTION xmm_accounts.basket_add(token text, srcids bigint[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint := xmm_accounts.account_of(token);
  lim record := xmm_accounts.limits();
  n integer;
BEGIN
  IF cardinality(srcids) > lim.basket_sources THEN
    RAISE EXCEPTION 'a basket holds at most % sources', lim.basket_sources USING ERRCODE = 'program_limit_exceeded';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('xmm_accounts.items:' || id));
  IF (SELECT count(*) FROM xmm_accounts.basket b WHERE b.account_id = id)
     + (SELECT count(DISTINCT s) FROM unnest(srcids) s
         WHERE s IS NOT NULL AND NOT EXISTS (SELECT FROM xmm_accounts.basket b WHERE b.account_id = id AND b.srcid = s))
     > lim.basket_sources THEN
    RAISE EXCEPTION 'a basket holds at most % sources: remove some first', lim.basket_sources
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  INSERT INTO xmm_accounts.basket (account_id, srcid)
  SELECT DISTINCT id, s FROM unnest(srcids) s WHERE s IS NOT NULL ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE FUNCTION xmm_accounts.basket_remove(token text, srcids bigint[]) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (DELETE FROM xmm_accounts.basket b
                 WHERE b.account_id = xmm_accounts.account_of(token) AND b.srcid = ANY (srcids) RETURNING 1)
  SELECT count(*)::int FROM gone
$$;

-- The history of fits and extractions (the newest history_kept are kept).
CREATE FUNCTION xmm_accounts.history(token text)
RETURNS TABLE (item_id bigint, kind text, what text, url text, at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT h.item_id, h.kind, h.what, h.url, h.at FROM xmm_accounts.history h
   WHERE h.account_id = xmm_accounts.account_of(token) ORDER BY h.at DESC, h.item_id DESC
$$;

CREATE FUNCTION xmm_accounts.history_add(token text, kind text, what text, url text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint := xmm_accounts.account_of(token);
BEGIN
  INSERT INTO xmm_accounts.history (account_id, kind, what, url) VALUES (id, kind, left(what, 200), url);
  DELETE FROM xmm_accounts.history h WHERE h.account_id = id
     AND h.item_id NOT IN (SELECT k.item_id FROM xmm_accounts.history k WHERE k.account_id = id
                            ORDER BY k.at DESC, k.item_id DESC LIMIT (xmm_accounts.limits()).history_kept);
END $$;

CREATE FUNCTION xmm_accounts.history_clear(token text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM xmm_accounts.history h WHERE h.account_id = xmm_accounts.account_of(token)
$$;

-- Shared links.
CREATE FUNCTION xmm_accounts.shares(token text)
RETURNS TABLE (share_token text, kind text, item_id bigint, name text, created timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.token, s.kind, s.item_id, q.name, s.created
    FROM xmm_accounts.share s LEFT JOIN xmm_accounts.saved_query q ON q.item_id = s.item_id
   WHERE s.account_id = xmm_accounts.account_of(shares.token) ORDER BY s.created DESC
$$;

-- A link to one of the account's saved queries (kind 'query', its item_id) or to its basket
-- (kind 'basket'): the link's token. One link per thing: asked again, the same token.
CREATE FUNCTION xmm_accounts.share_link(token text, kind text, item_id bigint DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint := xmm_accounts.account_of(token);
  lim record := xmm_accounts.limits();
  out_token text;
BEGIN
  IF kind IS NULL OR kind NOT IN ('query', 'basket') THEN
    RAISE EXCEPTION 'a link shares a ''query'' or the ''basket''' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF kind = 'query' AND NOT EXISTS (SELECT FROM xmm_accounts.saved_query q
                                     WHERE q.account_id = id AND q.item_id = share_link.item_id) THEN
    RAISE EXCEPTION 'you have no saved query %', share_link.item_id USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('xmm_accounts.items:' || id));
  SELECT s.token INTO out_token FROM xmm_accounts.share s
   WHERE s.account_id = id AND s.kind = share_link.kind AND s.item_id IS NOT DISTINCT FROM
         CASE WHEN share_link.kind = 'query' THEN share_link.item_id END;
  IF FOUND THEN
    RETURN out_token;
  END IF;
  IF (SELECT count(*) FROM xmm_accounts.share s WHERE s.account_id = id) >= lim.shares THEN
    RAISE EXCEPTION 'you have % shared links, the most for one account: delete some first', lim.shares
      USING ERRCODE = 'program_limit_exceeded';
  END IF;
  out_token := xmm_accounts.new_token(122);
  INSERT INTO xmm_accounts.share (token, account_id, kind, item_id)
  VALUES (out_token, id, share_link.kind, CASE WHEN share_link.kind = 'query' THEN share_link.item_id END);
  RETURN out_token;
END $$;

CREATE FUNCTION xmm_accounts.unshare(token text, share_token text) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (DELETE FROM xmm_accounts.share s
                 WHERE s.account_id = xmm_accounts.account_of(unshare.token) AND s.token = unshare.share_token
                RETURNING 1)
  SELECT EXISTS (SELECT FROM gone)
$$;

-- What a shared link shows, to anyone who has it (no row: no such link, or it was deleted).
-- Neither the owner's name nor anything else of the account.
CREATE FUNCTION xmm_accounts.shared(share_token text)
RETURNS TABLE (kind text, name text, language text, query text, srcids bigint[], created timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.kind, q.name, q.language, q.query,
         CASE WHEN s.kind = 'basket' THEN ARRAY(SELECT b.srcid FROM xmm_accounts.basket b
                                                 WHERE b.account_id = s.account_id ORDER BY b.added, b.srcid) END,
         s.created
    FROM xmm_accounts.share s LEFT JOIN xmm_accounts.saved_query q ON q.item_id = s.item_id
   WHERE s.token = share_token
$$;

-- Administration (the superuser's; not granted to anyone) ---------------------------------------

CREATE FUNCTION xmm_accounts.allow_registration(allowed boolean) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO xmm_accounts.setting (name, value) VALUES ('registration', pg_catalog.to_jsonb(allowed))
  ON CONFLICT (name) DO UPDATE SET value = excluded.value
$$;
COMMENT ON FUNCTION xmm_accounts.allow_registration(boolean) IS
  'Opens (true, the default) or closes (false) the creation of accounts on the web pages';

CREATE FUNCTION xmm_accounts.account_list()
RETURNS TABLE (username text, created timestamptz, last_login timestamptz, saved_queries bigint,
               basket_sources bigint, shares bigint, sessions bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.username, a.created, a.last_login,
         (SELECT count(*) FROM xmm_accounts.saved_query q WHERE q.account_id = a.account_id),
         (SELECT count(*) FROM xmm_accounts.basket b WHERE b.account_id = a.account_id),
         (SELECT count(*) FROM xmm_accounts.share s WHERE s.account_id = a.account_id),
         (SELECT count(*) FROM xmm_accounts.session s WHERE s.account_id = a.account_id)
    FROM xmm_accounts.account a ORDER BY lower(a.username)
$$;
COMMENT ON FUNCTION xmm_accounts.account_list() IS 'The web accounts and how much each keeps (no hashes)';

-- There is no e-mail recovery: the administrator sets a new random password, returned once,
-- to hand over; the account's sessions end.
CREATE FUNCTION xmm_accounts.reset_password(username text) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pw text := left(xmm_accounts.new_token(122), 20);
  id bigint;
BEGIN
  UPDATE xmm_accounts.account a SET password_hash = xmm_accounts.hash_password(pw), password_set = now()
   WHERE lower(a.username) = lower(reset_password.username) RETURNING a.account_id INTO id;
  IF id IS NULL THEN
    RAISE EXCEPTION 'no account %', username USING ERRCODE = 'no_data_found';
  END IF;
  DELETE FROM xmm_accounts.session s WHERE s.account_id = id;
  DELETE FROM xmm_accounts.attempt t WHERE t.kind = 'login' AND lower(t.username) = lower(reset_password.username);
  RETURN pw;
END $$;
COMMENT ON FUNCTION xmm_accounts.reset_password(text) IS
  'A new random password for a web account (returned once, not stored); its sessions end';

CREATE FUNCTION xmm_accounts.remove_account(username text) RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  WITH gone AS (DELETE FROM xmm_accounts.account a WHERE lower(a.username) = lower(remove_account.username) RETURNING 1)
  SELECT EXISTS (SELECT FROM gone)
$$;
COMMENT ON FUNCTION xmm_accounts.remove_account(text) IS 'Removes a web account with everything it keeps';

REVOKE ALL ON SCHEMA xmm_accounts FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA xmm_accounts FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA xmm_accounts FROM PUBLIC;
GRANT USAGE ON SCHEMA xmm_accounts TO xmm_tap;
GRANT EXECUTE ON FUNCTION
    xmm_accounts.limits(), xmm_accounts.registration_open(), xmm_accounts.register(text, text, text),
    xmm_accounts.login(text, text, text), xmm_accounts.logout(text), xmm_accounts.whoami(text),
    xmm_accounts.change_password(text, text, text),
    xmm_accounts.queries(text), xmm_accounts.save_query(text, text, text, text), xmm_accounts.delete_query(text, bigint),
    xmm_accounts.basket(text), xmm_accounts.basket_add(text, bigint[]), xmm_accounts.basket_remove(text, bigint[]),
    xmm_accounts.history(text), xmm_accounts.history_add(text, text, text, text), xmm_accounts.history_clear(text),
    xmm_accounts.shares(text), xmm_accounts.share_link(text, text, bigint), xmm_accounts.unshare(text, text),
    xmm_accounts.shared(text)
  TO xmm_tap;
