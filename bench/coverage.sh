#!/usr/bin/env bash
# bench/coverage.sh: timings of classification (SPEC 13).
#
#   sudo bench/coverage.sh [--tables N] [--columns M] [--reps R] [--keep]
#
# Like bench/run, run as root: it builds this tree, installs it into a
# private DESTDIR under /tmp (never into the system PostgreSQL), starts a
# throw-away cluster as the postgres user on a unix socket there, and
# prints the median of R runs (default 5) of:
#
#   coverage      SELECT * FROM gdpr.coverage over N tables of M columns
#                 (default 2,000 x 20 = 40,000 columns; a tenth of the tables
#                 registered, a tenth classified with set_not_pii, a tenth
#                 ignored); target: under a second
#   unclassified  the CI check: SELECT ... WHERE status = 'unclassified'
#   discover      SELECT * FROM gdpr.discover(1000) over Pagila (when
#                 ../shared/data/pagila or GDPR_SHARED_DIR/data/pagila is
#                 there); target: a few seconds
#   dml_gate_*    100,000 single-row INSERTs (one transaction each, via a
#                 procedure that commits; synchronous_commit off, runs
#                 interleaved) into a registered table, with
#                 gdpr.unclassified = error and = off: the gate must cost
#                 DML nothing
#   ddl_gate_*    200 transactions each adding a column to a registered
#                 table and classifying it, gate error and off: the gate's
#                 cost on DDL
set -Eeuo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PGBIN/pg_config LANG=C.UTF-8
unset LC_ALL PGDATABASE PGSERVICE PGOPTIONS PGPASSWORD 2>/dev/null || true

TABLES=2000
COLUMNS=20
REPS=5
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
		--tables) TABLES=$2; shift ;;
		--columns) COLUMNS=$2; shift ;;
		--reps) REPS=$2; shift ;;
		--keep) KEEP=1 ;;
		*) echo "usage: $0 [--tables N] [--columns M] [--reps R] [--keep]" >&2; exit 2 ;;
	esac
	shift
done

TMP=$(mktemp -d /tmp/gdpr-coverage.XXXXXX)
chmod 755 "$TMP"
DATA=$TMP/data
cleanup() {
	if [ -f "$DATA/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ]; then echo "kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

echo "building into $TMP/install"
make -C "$SRC" -s >/dev/null
make -C "$SRC" -s install DESTDIR="$TMP/install" >/dev/null
chown -R postgres:postgres "$TMP"
runuser -u postgres -- "$PGBIN/initdb" -D "$DATA" -A trust >/dev/null
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$TMP'
shared_preload_libraries = 'gdpr'
extension_destdir = '$TMP/install'
dynamic_library_path = '$TMP/install/usr/lib/postgresql/15/lib:\$libdir'
shared_buffers = 256MB
autovacuum = off
jit = off
synchronous_commit = off
EOF
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DATA" -l "$TMP/log" -w start >/dev/null
PSQL=(runuser -u postgres -- "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$TMP")
q() { local db=$1; shift; "${PSQL[@]}" -d "$db" "$@"; }
qv() { "${PSQL[@]}" -d "$1" -At -c "$2"; }

# ms of one statement, measured by the server
timed() {
	local db=$1 sql=$2
	qv "$db" "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN $sql; RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1); END \$\$" 2>&1 |
		sed -n 's/.*ms=//p'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
report() { printf '%-14s %10s ms   %s\n' "$1" "$2" "$3"; }
runs() {
	local db=$1 sql=$2 out=()
	for ((r = 0; r < REPS; r++)); do out+=("$(timed "$db" "$sql")"); done
	median "${out[@]}"
}

# --- coverage over TABLES x COLUMNS ---------------------------------------------
qv postgres "CREATE DATABASE cov" >/dev/null
q cov -c "CREATE EXTENSION gdpr"
echo "creating $TABLES tables of $COLUMNS columns"
q cov >/dev/null <<EOF
DO \$\$
DECLARE
    cols text := (SELECT string_agg(format('c%s text', g), ', ') FROM generate_series(2, $COLUMNS) g);
BEGIN
    FOR i IN 1 .. $TABLES LOOP
        EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, %s)', i, cols);
    END LOOP;
END \$\$;
SET gdpr.unclassified = off;
SELECT FROM (SELECT count(gdpr.register(format('t%s', i)::regclass, ARRAY['c2', 'c3']))
  FROM generate_series(1, $TABLES, 10) i) s;
SELECT FROM (SELECT count(gdpr.set_not_pii(format('t%s', i)::regclass, ARRAY['id', 'c2', 'c3', 'c4']))
  FROM generate_series(2, $TABLES, 10) i) s;
SELECT FROM (SELECT count(gdpr.ignore(format('t%s', i)::regclass)) FROM generate_series(3, $TABLES, 10) i) s;
VACUUM ANALYZE;
EOF
echo "columns listed: $(qv cov 'SELECT count(*) FROM gdpr.coverage')"
report coverage "$(runs cov 'PERFORM count(*) FROM (SELECT * FROM gdpr.coverage) c')" "all $((TABLES * COLUMNS)) columns, every field read"
report unclassified "$(runs cov "PERFORM count(*) FROM gdpr.coverage WHERE status = 'unclassified'")" "the CI check"

# --- discover over Pagila ---------------------------------------------------------
PAGILA=
for d in "${GDPR_SHARED_DIR:-/nonexistent}/data/pagila" "$SRC/../shared/data/pagila" /work/shared/data/pagila; do
	if [ -f "$d/pagila-schema.sql" ] && [ -f "$d/pagila-data.sql" ]; then PAGILA=$d; break; fi
done
if [ -n "$PAGILA" ]; then
	qv postgres "CREATE DATABASE pagila" >/dev/null
	q pagila -c "CREATE EXTENSION gdpr"
	for part in schema data; do
		grep -v 'OWNER TO postgres;' "$PAGILA/pagila-$part.sql" >"$TMP/pagila-$part.sql"
		chown postgres "$TMP/pagila-$part.sql"
		q pagila -f "$TMP/pagila-$part.sql" >/dev/null
	done
	q pagila -c "VACUUM ANALYZE" >/dev/null
	report discover "$(runs pagila 'PERFORM count(*) FROM gdpr.discover(1000)')" \
		"Pagila, $(qv pagila 'SELECT count(*) FROM gdpr.discover(1000)') suspects"
else
	echo "discover: skipped (no pagila data)"
fi

# --- the gate: DML and DDL --------------------------------------------------------
q cov >/dev/null <<'EOF'
CREATE TABLE gated (id bigint PRIMARY KEY, name text, note text);
SELECT FROM gdpr.register('gated', ARRAY['name']);
CREATE PROCEDURE ins(n int) LANGUAGE plpgsql AS $$
DECLARE base bigint := coalesce((SELECT max(id) FROM gated), 0);
BEGIN
    FOR i IN 1 .. n LOOP
        INSERT INTO gated VALUES (base + i, 'x', 'y');
        COMMIT;
    END LOOP;
END $$;
CREATE PROCEDURE ddl(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. n LOOP
        EXECUTE format('ALTER TABLE gated ADD COLUMN x%s int', i);
        PERFORM gdpr.set_not_pii('gated', ARRAY['x' || i]);
        COMMIT;
        EXECUTE format('ALTER TABLE gated DROP COLUMN x%s', i);
        COMMIT;
    END LOOP;
END $$;
EOF
wall_ms() {
	local db=$1 setting=$2 sql=$3 t0 t1
	t0=$(date +%s%N)
	q "$db" -c "SET gdpr.unclassified = $setting" -c "$sql"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
# interleaved, so that the disk's moods fall on both settings alike
dml_error=() dml_off=()
for ((r = 0; r < REPS; r++)); do
	for setting in error off; do
		q cov -c "TRUNCATE gated" >/dev/null
		ms=$(wall_ms cov "$setting" 'CALL ins(100000)')
		if [ "$setting" = error ]; then dml_error+=("$ms"); else dml_off+=("$ms"); fi
	done
done
report dml_gate_error "$(median "${dml_error[@]}")" "100,000 INSERT+COMMIT"
report dml_gate_off "$(median "${dml_off[@]}")" "100,000 INSERT+COMMIT"
for setting in error off; do
	out=()
	for ((r = 0; r < REPS; r++)); do out+=("$(wall_ms cov "$setting" 'CALL ddl(200)')"); done
	report "ddl_gate_$setting" "$(median "${out[@]}")" "200 x (ADD COLUMN + set_not_pii, COMMIT; DROP COLUMN, COMMIT)"
done
