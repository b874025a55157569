# gdpr/Makefile
EXTENSION   = gdpr
MODULE_big  = gdpr
OBJS        = $(WIN32RES) src/gdpr.o src/guc.o src/util.o src/cache.o src/identity.o src/keys.o \
              src/catalog.o src/register.o src/rules.o src/methods.o src/hmac.o src/anonymise.o src/events.o \
              src/trigger.o src/ddl.o src/declare.o src/export.o src/search.o \
              src/shipper.o src/worker.o src/lineage.o src/rerun.o \
              src/retention.o src/scrub.o src/classify.o src/discover.o src/hold.o src/hold_commands.o \
              src/ranges.o src/jsonb_build.o
DATA        = gdpr--1.0.sql gdpr--1.0--1.1.sql
PGFILEDESC  = "gdpr - GDPR data-protection tooling"

PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK  = -lcjson

# -Wextra's -Wclobbered is off: which variables it flags around PG_TRY
# changes with the GCC release and the PostgreSQL major (GCC 14 and 15 flag
# variables that are never assigned after the setjmp); the rule it stands
# for is kept by hand: a local assigned inside PG_TRY and read in PG_CATCH or
# after it is volatile.
PG_CFLAGS   = -Wextra -Wno-unused-parameter -Wno-sign-compare \
              -Wno-missing-field-initializers -Wshadow=compatible-local \
              -Wno-clobbered
ifdef WERROR
PG_CFLAGS  += -Werror
endif

REGRESS     = install registry methods anonymise declare delete_trigger \
              on_delete export search log rerun anonymise_db security \
              injection privileges rule_lifecycle retention scrub_actions config_dump coverage discover upgrade readme hardening secrets cache_memory holds marker_ranges cleanup
REGRESS_OPTS   = --temp-config=$(srcdir)/gdpr.conf --temp-instance=$(CURDIR)/tmp_check_regress
ISOLATION      = delete_vs_update shared_children rerun_vs_rerun truncate_vs_writes \
                 hold_vs_delete release_vs_anonymise mark_race forget_race \
                 mark_one_race
ISOLATION_OPTS = --temp-config=$(srcdir)/gdpr.conf --temp-instance=$(CURDIR)/tmp_check_iso
TAP_TESTS   = 1
EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso results regression.diffs regression.out log

PG_CONFIG  ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
