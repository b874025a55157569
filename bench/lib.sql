-- bench/lib.sql: data builders and hand-written baselines of the gdpr
-- benchmark.  Loaded by bench/run into the throw-away database "bench" after
-- CREATE EXTENSION gdpr; everything lives in the schema "bench", the tables
-- that the cases time live in "public".

-- bench.clean_gdpr(): empty the markers, the queue and the state
CREATE FUNCTION bench.clean_gdpr() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE gdpr.marker, gdpr.queue;
	DELETE FROM gdpr.state;
END $$;

-- bench.reset(): unregister every table, then clean_gdpr()
CREATE FUNCTION bench.reset() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r regclass;
BEGIN
	FOR r IN SELECT rel FROM gdpr.registered_table LOOP
		PERFORM gdpr.unregister(r);
	END LOOP;
	PERFORM bench.clean_gdpr();
END $$;

-- bench.drop_table(name): drop a public table, unregistering it first
CREATE FUNCTION bench.drop_table(t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r regclass := to_regclass(format('public.%I', t));
BEGIN
	IF r IS NULL THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM gdpr.registered_table WHERE rel = r) THEN
		PERFORM gdpr.unregister(r);
	END IF;
	EXECUTE format('DROP TABLE public.%I CASCADE', t);
END $$;

-- bench.person_src(n): the source of every "person" table, at least n rows.
-- Six PII columns: name (value), phone (null), email (unique, email),
-- note (varchar(40), hash), birthday (NOT NULL date, default), city (blank);
-- two more columns that are not personal.
CREATE FUNCTION bench.person_src(n bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF to_regclass('bench.person_src') IS NOT NULL THEN
		IF (SELECT count(*) FROM bench.person_src) >= n THEN
			RETURN;
		END IF;
		DROP TABLE bench.person_src;
	END IF;
	CREATE TABLE bench.person_src (
		id          bigint      NOT NULL,
		name        text        NOT NULL,
		phone       text,
		email       text        NOT NULL,
		note        varchar(40),
		birthday    date        NOT NULL,
		city        text        NOT NULL,
		created_at  timestamptz NOT NULL,
		status      integer     NOT NULL
	);
	INSERT INTO bench.person_src
	SELECT i,
	       'Person ' || i,
	       '+44 20 ' || lpad((i % 100000000)::text, 8, '0'),
	       'user' || i || '@example.com',
	       md5(i::text),
	       DATE '1940-01-01' + (i % 25000)::int,
	       (ARRAY['London', 'Leeds', 'York', 'Bath', 'Ely'])[1 + i % 5],
	       TIMESTAMPTZ '2020-01-01 00:00+00' + i * INTERVAL '1 minute',
	       (i % 7)::int
	  FROM generate_series(1, n) i;
END $$;

-- bench.person_copy(name, n, register, fields): a fresh copy of the first n
-- rows of bench.person_src as public.<name>, with a primary key and a unique
-- email.  With register, registered: by default with the six PII columns and
-- their methods, or with exactly `fields` (default methods) when given.
CREATE FUNCTION bench.person_copy(t text, n bigint, reg boolean, fields text[] DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r regclass;
BEGIN
	PERFORM bench.drop_table(t);
	EXECUTE format('CREATE TABLE public.%I (LIKE bench.person_src INCLUDING ALL)', t);
	EXECUTE format('INSERT INTO public.%I SELECT * FROM bench.person_src WHERE id <= %s', t, n);
	EXECUTE format('ALTER TABLE public.%I ADD PRIMARY KEY (id), ADD CONSTRAINT %I UNIQUE (email)',
	               t, t || '_email_key');
	r := format('public.%I', t)::regclass;
	IF reg THEN
		IF fields IS NULL THEN
			PERFORM gdpr.register(r, ARRAY['name', 'phone', 'email', 'note', 'birthday', 'city']);
			PERFORM gdpr.set_anonymiser(r, 'name', 'value', 'Anonymous user');
			PERFORM gdpr.set_anonymiser(r, 'phone', 'null');
			PERFORM gdpr.set_anonymiser(r, 'email', 'email');
			PERFORM gdpr.set_anonymiser(r, 'note', 'hash');
			PERFORM gdpr.set_anonymiser(r, 'birthday', 'default');
			PERFORM gdpr.set_anonymiser(r, 'city', 'blank');
		ELSE
			PERFORM gdpr.register(r, fields);
		END IF;
	END IF;
END $$;

-- bench.person_diff(a, b): rows whose values differ between two person tables
CREATE FUNCTION bench.person_diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
BEGIN
	EXECUTE format(
		'SELECT count(*) FROM public.%I x FULL JOIN public.%I y USING (id)
		  WHERE (x.name, x.phone, x.email, x.note, x.birthday, x.city, x.created_at, x.status)
		        IS DISTINCT FROM
		        (y.name, y.phone, y.email, y.note, y.birthday, y.city, y.created_at, y.status)', a, b)
	  INTO c;
	RETURN c;
END $$;

-- bench.od_copy(variant, np): od_parent_<v> with np rows and od_child_<v>
-- with 5 rows per parent (FK ON DELETE SET NULL, indexed); for "ours" the
-- child is registered with 4 PII columns and an ON DELETE ANONYMISE rule.
CREATE FUNCTION bench.od_copy(v text, np bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	p text := 'od_parent_' || v;
	c text := 'od_child_' || v;
BEGIN
	PERFORM bench.drop_table(c);
	PERFORM bench.drop_table(p);
	EXECUTE format('CREATE TABLE public.%I (id bigint PRIMARY KEY, name text NOT NULL)', p);
	EXECUTE format('INSERT INTO public.%I SELECT i, %L || i FROM generate_series(1, %s) i', p, 'Parent ', np);
	EXECUTE format(
		'CREATE TABLE public.%I (
			id bigint PRIMARY KEY,
			parent_id bigint,
			name text NOT NULL,
			phone text,
			email text NOT NULL,
			note varchar(40),
			body text NOT NULL)', c);
	EXECUTE format(
		'INSERT INTO public.%I
		 SELECT i, (i - 1) / 5 + 1, %L || i, %L || i, %L || i || %L, md5(i::text), repeat(%L, 4) || i
		   FROM generate_series(1, %s) i', c, 'Child ', '+44 1 ', 'child', '@example.com', 'Lorem ipsum ', np * 5);
	EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I UNIQUE (email),
	                ADD CONSTRAINT %I FOREIGN KEY (parent_id) REFERENCES public.%I ON DELETE SET NULL',
	               c, c || '_email_key', c || '_parent_fk', p);
	EXECUTE format('CREATE INDEX ON public.%I (parent_id)', c);
	IF v = 'ours' THEN
		PERFORM gdpr.register(format('public.%I', c)::regclass, ARRAY['name', 'phone', 'email', 'note']);
		PERFORM gdpr.set_anonymiser(format('public.%I', c)::regclass, 'name', 'value', 'Anonymous user');
		PERFORM gdpr.set_anonymiser(format('public.%I', c)::regclass, 'phone', 'null');
		PERFORM gdpr.set_anonymiser(format('public.%I', c)::regclass, 'email', 'email');
		PERFORM gdpr.set_anonymiser(format('public.%I', c)::regclass, 'note', 'hash');
		PERFORM gdpr.on_delete_anonymise(format('public.%I', c)::regclass, c || '_parent_fk');
	END IF;
END $$;

-- bench.ex_build(np, nr): four registered tables for the export case.  Person
-- 1 has nr related rows: nr/10 addresses, 4nr/10 orders and the rest order
-- items (grandchildren); every other person has 2 addresses, 3 orders and
-- one item per order.
CREATE FUNCTION bench.ex_build(np bigint, nr bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	na bigint := greatest(nr / 10, 1);
	no bigint := greatest(nr * 4 / 10, 1);
	ni bigint := greatest(nr - nr / 10 - nr * 4 / 10, 1);
BEGIN
	PERFORM bench.drop_table('ex_item');
	PERFORM bench.drop_table('ex_order');
	PERFORM bench.drop_table('ex_address');
	PERFORM bench.drop_table('ex_person');
	CREATE TABLE public.ex_person (
		id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, phone text,
		created_at timestamptz NOT NULL);
	CREATE TABLE public.ex_address (
		id bigint PRIMARY KEY, person_id bigint NOT NULL REFERENCES public.ex_person,
		street text, city text NOT NULL, postcode text);
	CREATE TABLE public.ex_order (
		id bigint PRIMARY KEY, person_id bigint REFERENCES public.ex_person ON DELETE SET NULL,
		placed_at timestamptz NOT NULL, total numeric(10,2) NOT NULL, status text NOT NULL);
	CREATE TABLE public.ex_item (
		id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES public.ex_order,
		product text NOT NULL, qty integer NOT NULL, price numeric(10,2) NOT NULL, gift boolean NOT NULL);

	INSERT INTO public.ex_person
	SELECT i, 'Person ' || i, 'user' || i || '@example.com',
	       CASE WHEN i % 3 = 1 THEN NULL ELSE '+44 7700 ' || i END,
	       TIMESTAMPTZ '2021-01-01 00:00+00' + i * INTERVAL '1 hour'
	  FROM generate_series(1, np) i;
	INSERT INTO public.ex_address
	SELECT row_number() OVER (ORDER BY p, k), p, k || ' High Street', 'Town ' || (p % 100),
	       CASE WHEN k % 4 = 0 THEN NULL ELSE 'AB' || (k % 90 + 10) || ' 1CD' END
	  FROM (SELECT 1::bigint AS p, k FROM generate_series(1, na) k
	        UNION ALL
	        SELECT p, k FROM generate_series(2, np) p, generate_series(1, 2) k) s;
	-- orders 1..no belong to person 1; then 3 per other person
	INSERT INTO public.ex_order
	SELECT row_number() OVER (ORDER BY p, k), p,
	       TIMESTAMPTZ '2023-01-01 00:00+00' + (p * 10 + k) * INTERVAL '1 minute',
	       ((p * 37 + k * 11) % 100000) / 100.0,
	       (ARRAY['new', 'paid', 'shipped'])[1 + k % 3]
	  FROM (SELECT 1::bigint AS p, k FROM generate_series(1, no) k
	        UNION ALL
	        SELECT p, k FROM generate_series(2, np) p, generate_series(1, 3) k) s;
	INSERT INTO public.ex_item
	SELECT row_number() OVER (ORDER BY o, k), o, 'Product ' || (o * 7 + k) % 1000, 1 + k % 3,
	       ((o * 13 + k) % 10000) / 100.0, k % 5 = 0
	  FROM (SELECT 1 + (k - 1) % no AS o, k FROM generate_series(1, ni) k
	        UNION ALL
	        SELECT o, 1 FROM generate_series(no + 1, no + 3 * (np - 1)) o) s;
	CREATE INDEX ON public.ex_address (person_id);
	CREATE INDEX ON public.ex_order (person_id);
	CREATE INDEX ON public.ex_item (order_id);

	PERFORM gdpr.register('public.ex_person', ARRAY['name', 'email', 'phone'], ARRAY['email']);
	PERFORM gdpr.register('public.ex_address', ARRAY['street', 'postcode']);
	PERFORM gdpr.register('public.ex_order', '{}');
	PERFORM gdpr.register('public.ex_item', '{}');
END $$;

-- bench.export_baseline(pid): the export of person pid, written by hand
CREATE FUNCTION bench.export_baseline(pid bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	doc jsonb;
BEGIN
	SELECT jsonb_object_agg(t, rows) INTO doc
	  FROM (SELECT 'public.ex_person' AS t,
	               (SELECT jsonb_agg(to_jsonb(p) ORDER BY p.id) FROM public.ex_person p WHERE p.id = pid) AS rows
	        UNION ALL
	        SELECT 'public.ex_address',
	               (SELECT jsonb_agg(to_jsonb(a) ORDER BY a.id) FROM public.ex_address a WHERE a.person_id = pid)
	        UNION ALL
	        SELECT 'public.ex_order',
	               (SELECT jsonb_agg(to_jsonb(o) ORDER BY o.id) FROM public.ex_order o WHERE o.person_id = pid)
	        UNION ALL
	        SELECT 'public.ex_item',
	               (SELECT jsonb_agg(to_jsonb(i) ORDER BY i.id)
	                  FROM public.ex_item i JOIN public.ex_order o ON o.id = i.order_id
	                 WHERE o.person_id = pid)) s
	 WHERE rows IS NOT NULL;
	RETURN coalesce(doc, '{}');
END $$;

-- bench.jsonb_diff(ours, baseline): where two export documents differ
CREATE FUNCTION bench.jsonb_diff(a jsonb, b jsonb) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT format('%s: ours %s rows, baseline %s rows; %s', k,
	              coalesce(jsonb_array_length(a -> k), -1), coalesce(jsonb_array_length(b -> k), -1),
	              coalesce((SELECT format('first difference at row %s: ours %s baseline %s', x.n, x.e, y.e)
	                          FROM jsonb_array_elements(coalesce(a -> k, '[]')) WITH ORDINALITY x(e, n)
	                          FULL JOIN jsonb_array_elements(coalesce(b -> k, '[]')) WITH ORDINALITY y(e, n)
	                            ON x.n = y.n
	                         WHERE x.e IS DISTINCT FROM y.e
	                         ORDER BY coalesce(x.n, y.n) LIMIT 1), 'equal'))
	  FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) ks(k)
	 ORDER BY k
$$;

-- bench.se_build(n, terms): five registered tables se1..se5 of n rows each,
-- search field email (se5 also phone) with lower() indexes; table k holds the
-- users (k-1)*n/10+1 .. (k-1)*n/10+n, so a user is found in 0 to 5 tables.
-- se_terms: the search terms (10% phones of se5, the rest emails, 1 in 6
-- found nowhere), in mixed case.
CREATE FUNCTION bench.se_build(n bigint, nterms int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR k IN 1 .. 5 LOOP
		PERFORM bench.drop_table('se' || k);
		EXECUTE format(
			'CREATE TABLE public.%I (id bigint NOT NULL, name text NOT NULL, email text NOT NULL,
			                         phone text, created_at timestamptz NOT NULL)', 'se' || k);
		EXECUTE format(
			'INSERT INTO public.%I
			 SELECT i, %L || i,
			        CASE WHEN i %% 2 = 0 THEN %L ELSE %L END || (i + %s) || %L,
			        %L || lpad(i::text, 9, %L),
			        TIMESTAMPTZ %L + i * INTERVAL %L
			   FROM generate_series(1, %s) i',
			'se' || k, 'Name ', 'User', 'user', (k - 1) * (n / 10), '@example.com',
			'+44 ', '0', '2022-01-01 00:00+00', '1 second', n);
		EXECUTE format('ALTER TABLE public.%I ADD PRIMARY KEY (id)', 'se' || k);
		EXECUTE format('CREATE INDEX ON public.%I (lower(email))', 'se' || k);
		IF k = 5 THEN
			CREATE INDEX ON public.se5 (lower(phone));
			PERFORM gdpr.register('public.se5', ARRAY['name', 'email', 'phone'], ARRAY['email', 'phone']);
		ELSE
			PERFORM gdpr.register(format('public.%I', 'se' || k)::regclass,
			                      ARRAY['name', 'email'], ARRAY['email']);
		END IF;
	END LOOP;
	DROP TABLE IF EXISTS public.se_terms;
	CREATE TABLE public.se_terms (n int PRIMARY KEY, term text NOT NULL);
	PERFORM setseed(0.42);
	INSERT INTO public.se_terms
	SELECT i,
	       CASE WHEN i % 10 = 0 THEN '+44 ' || lpad((1 + floor(random() * n))::bigint::text, 9, '0')
	            ELSE 'USER' || (1 + floor(random() * (n * 1.2)))::bigint || '@EXAMPLE.com' END
	  FROM generate_series(1, nterms) i;
END $$;

-- bench.search_baseline(term): gdpr.search written by hand for se1..se5
CREATE FUNCTION bench.search_baseline(t text)
RETURNS TABLE (rel regclass, key text, matched name[]) LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN QUERY
	SELECT 'public.se1'::regclass, s.id::text, ARRAY['email']::name[] FROM public.se1 s WHERE lower(s.email) = lower(t)
	UNION ALL
	SELECT 'public.se2'::regclass, s.id::text, ARRAY['email']::name[] FROM public.se2 s WHERE lower(s.email) = lower(t)
	UNION ALL
	SELECT 'public.se3'::regclass, s.id::text, ARRAY['email']::name[] FROM public.se3 s WHERE lower(s.email) = lower(t)
	UNION ALL
	SELECT 'public.se4'::regclass, s.id::text, ARRAY['email']::name[] FROM public.se4 s WHERE lower(s.email) = lower(t)
	UNION ALL
	SELECT 'public.se5'::regclass, s.id::text,
	       array_remove(ARRAY[CASE WHEN lower(s.email) = lower(t) THEN 'email'::name END,
	                          CASE WHEN lower(s.phone) = lower(t) THEN 'phone'::name END], NULL)
	  FROM public.se5 s WHERE lower(s.email) = lower(t) OR lower(s.phone) = lower(t);
END $$;

-- bench.sorted(names): the names sorted, comma-separated
CREATE FUNCTION bench.sorted(a name[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a) x
$$;

-- bench.rr_snapshot(): the "backup" of the rerun case: the table data, the
-- markers and the gdpr state as they are now
CREATE FUNCTION bench.rr_snapshot() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	DROP TABLE IF EXISTS bench.rr_backup, bench.rr_marker, bench.rr_state;
	CREATE TABLE bench.rr_backup AS SELECT * FROM public.rr_person;
	CREATE TABLE bench.rr_marker AS SELECT * FROM gdpr.marker;
	CREATE TABLE bench.rr_state AS SELECT * FROM gdpr.state;
END $$;

-- bench.rr_restore(): put the snapshot back, in one transaction, as a
-- restore of that backup would: rows, markers, state, and an empty queue
-- (the deletes done here to empty the table queue events that are removed
-- again before the transaction commits, so no worker ever sees them)
CREATE FUNCTION bench.rr_restore() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM public.rr_person;
	INSERT INTO public.rr_person SELECT * FROM bench.rr_backup;
	DELETE FROM gdpr.marker;
	INSERT INTO gdpr.marker SELECT * FROM bench.rr_marker;
	DELETE FROM gdpr.state;
	INSERT INTO gdpr.state SELECT * FROM bench.rr_state;
	DELETE FROM gdpr.queue;
END $$;

-- bench.rt_copy(name, n, register): the table of the retention cases, a
-- fresh copy of the first n rows of bench.person_src plus last_seen
-- timestamptz NOT NULL (indexed).  The rows whose id ends in 0, 1 or 2 (30%)
-- were last seen 100 to 400 days ago, the others at most 80 days ago, so a
-- policy keeping 90 days makes exactly those 30% due, whenever it runs.
-- With register, registered with the 4 PII columns of the other 4-column
-- cases: name (value 'Anonymous user'), phone (null), email (email), note
-- (hash).
CREATE FUNCTION bench.rt_copy(t text, n bigint, reg boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r regclass;
BEGIN
	PERFORM bench.drop_table(t);
	EXECUTE format('CREATE TABLE public.%I (LIKE bench.person_src INCLUDING ALL, last_seen timestamptz NOT NULL)', t);
	EXECUTE format(
		'INSERT INTO public.%I
		 SELECT s.*,
		        date_trunc(%L, now())
		        - CASE WHEN s.id %% 10 < 3 THEN 100 + s.id %% 300 ELSE s.id %% 80 END * INTERVAL %L
		        + (s.id %% 86400) * INTERVAL %L
		   FROM bench.person_src s WHERE s.id <= %s', t, 'day', '1 day', '1 second', n);
	EXECUTE format('ALTER TABLE public.%I ADD PRIMARY KEY (id), ADD CONSTRAINT %I UNIQUE (email)',
	               t, t || '_email_key');
	EXECUTE format('CREATE INDEX %I ON public.%I (last_seen)', t || '_last_seen_idx', t);
	IF reg THEN
		r := format('public.%I', t)::regclass;
		PERFORM gdpr.register(r, ARRAY['name', 'phone', 'email', 'note']);
		PERFORM gdpr.set_anonymiser(r, 'name', 'value', 'Anonymous user');
		PERFORM gdpr.set_anonymiser(r, 'phone', 'null');
		PERFORM gdpr.set_anonymiser(r, 'email', 'email');
		PERFORM gdpr.set_anonymiser(r, 'note', 'hash');
	END IF;
END $$;

-- bench.mix_copy(variant, n): the four tables of the anonymise_db_mix case,
-- mix_{anonymise,delete,truncate,keep}_<variant>, each a person_copy of n
-- rows; for "ours" registered with the six PII columns and each given the
-- scrub action of its name.
CREATE FUNCTION bench.mix_copy(v text, n bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	a text;
BEGIN
	FOREACH a IN ARRAY ARRAY['anonymise', 'delete', 'truncate', 'keep'] LOOP
		PERFORM bench.person_copy(format('mix_%s_%s', a, v), n, v = 'ours');
		IF v = 'ours' THEN
			PERFORM gdpr.set_scrub_action(format('public.%I', format('mix_%s_%s', a, v))::regclass, a);
		END IF;
	END LOOP;
END $$;

-- bench.scrub_copy(name, n, register, mode): the table of the two scrub-mode
-- cases, a person_copy of n rows without the unique constraint on email.
-- With register, registered with the six PII columns and, by mode,
--   constants: name value 'Anonymous user', phone null, email value
--              'nobody@anonymised.invalid', note null, birthday default,
--              city blank (constants and NULLs only);
--   hashed:    name, email and note hash, phone null, birthday default,
--              city blank (3 columns hashed, the rest constants).
CREATE FUNCTION bench.scrub_copy(t text, n bigint, reg boolean, mode text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r regclass;
BEGIN
	PERFORM bench.person_copy(t, n, false);
	EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', t, t || '_email_key');
	IF NOT reg THEN
		RETURN;
	END IF;
	r := format('public.%I', t)::regclass;
	PERFORM gdpr.register(r, ARRAY['name', 'phone', 'email', 'note', 'birthday', 'city']);
	PERFORM gdpr.set_anonymiser(r, 'phone', 'null');
	PERFORM gdpr.set_anonymiser(r, 'birthday', 'default');
	PERFORM gdpr.set_anonymiser(r, 'city', 'blank');
	IF mode = 'constants' THEN
		PERFORM gdpr.set_anonymiser(r, 'name', 'value', 'Anonymous user');
		PERFORM gdpr.set_anonymiser(r, 'email', 'value', 'nobody@anonymised.invalid');
		PERFORM gdpr.set_anonymiser(r, 'note', 'null');
	ELSIF mode = 'hashed' THEN
		PERFORM gdpr.set_anonymiser(r, 'name', 'hash');
		PERFORM gdpr.set_anonymiser(r, 'email', 'hash');
		PERFORM gdpr.set_anonymiser(r, 'note', 'hash');
	ELSE
		RAISE EXCEPTION 'unknown mode %', mode;
	END IF;
END $$;

-- bench.exs_build(np, nr): the two registered tables of the export_small
-- case: exs_person (np persons) and exs_item (a child by foreign key, 3 PII
-- columns); person 1 has nr items, every other person 2.
CREATE FUNCTION bench.exs_build(np bigint, nr bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM bench.drop_table('exs_item');
	PERFORM bench.drop_table('exs_person');
	CREATE TABLE public.exs_person (
		id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, phone text,
		created_at timestamptz NOT NULL);
	CREATE TABLE public.exs_item (
		id bigint PRIMARY KEY, person_id bigint NOT NULL REFERENCES public.exs_person,
		street text, city text NOT NULL, postcode text, added_at timestamptz NOT NULL);
	INSERT INTO public.exs_person
	SELECT i, 'Person ' || i, 'user' || i || '@example.com',
	       CASE WHEN i % 3 = 1 THEN NULL ELSE '+44 7700 ' || i END,
	       TIMESTAMPTZ '2021-01-01 00:00+00' + i * INTERVAL '1 hour'
	  FROM generate_series(1, np) i;
	INSERT INTO public.exs_item
	SELECT row_number() OVER (ORDER BY p, k), p, k || ' High Street', 'Town ' || (p % 100),
	       CASE WHEN k % 4 = 0 THEN NULL ELSE 'AB' || (k % 90 + 10) || ' 1CD' END,
	       TIMESTAMPTZ '2022-01-01 00:00+00' + (p * 10 + k) * INTERVAL '1 minute'
	  FROM (SELECT 1::bigint AS p, k FROM generate_series(1, nr) k
	        UNION ALL
	        SELECT p, k FROM generate_series(2, np) p, generate_series(1, 2) k) s;
	CREATE INDEX ON public.exs_item (person_id);
	PERFORM gdpr.register('public.exs_person', ARRAY['name', 'email', 'phone'], ARRAY['email']);
	PERFORM gdpr.register('public.exs_item', ARRAY['street', 'city', 'postcode']);
END $$;

-- bench.drop_all(): unregister everything, drop every table of public, and
-- clean_gdpr(): the clean slate before every case
CREATE FUNCTION bench.drop_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t text;
BEGIN
	PERFORM bench.reset();
	FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
		EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', t);
	END LOOP;
END $$;
