#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "lib/stringinfo.h"
#include "gdpr.h"
PG_FUNCTION_INFO_V1(gdpr_anonymise); Datum gdpr_anonymise(PG_FUNCTION_ARGS); Datum gdpr_anonymise(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_anonymise_db); Datum gdpr_anonymise_db(PG_FUNCTION_ARGS); Datum gdpr_anonymise_db(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_anonymise_many); Datum gdpr_anonymise_many(PG_FUNCTION_ARGS); Datum gdpr_anonymise_many(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_anonymise_search); Datum gdpr_anonymise_search(PG_FUNCTION_ARGS); Datum gdpr_anonymise_search(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_delete_key); Datum gdpr_delete_key(PG_FUNCTION_ARGS); Datum gdpr_delete_key(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_drop_export_follow); Datum gdpr_drop_export_follow(PG_FUNCTION_ARGS); Datum gdpr_drop_export_follow(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_drop_on_delete_anonymise); Datum gdpr_drop_on_delete_anonymise(PG_FUNCTION_ARGS); Datum gdpr_drop_on_delete_anonymise(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_export); Datum gdpr_export(PG_FUNCTION_ARGS); Datum gdpr_export(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_export_follow); Datum gdpr_export_follow(PG_FUNCTION_ARGS); Datum gdpr_export_follow(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_export_search); Datum gdpr_export_search(PG_FUNCTION_ARGS); Datum gdpr_export_search(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_is_anonymised); Datum gdpr_is_anonymised(PG_FUNCTION_ARGS); Datum gdpr_is_anonymised(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_key_exists); Datum gdpr_key_exists(PG_FUNCTION_ARGS); Datum gdpr_key_exists(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_log_delete); Datum gdpr_log_delete(PG_FUNCTION_ARGS); Datum gdpr_log_delete(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_log_truncate); Datum gdpr_log_truncate(PG_FUNCTION_ARGS); Datum gdpr_log_truncate(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_on_delete_anonymise); Datum gdpr_on_delete_anonymise(PG_FUNCTION_ARGS); Datum gdpr_on_delete_anonymise(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_on_delete_anonymise_trigger); Datum gdpr_on_delete_anonymise_trigger(PG_FUNCTION_ARGS); Datum gdpr_on_delete_anonymise_trigger(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_pseudonym); Datum gdpr_pseudonym(PG_FUNCTION_ARGS); Datum gdpr_pseudonym(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_register); Datum gdpr_register(PG_FUNCTION_ARGS); Datum gdpr_register(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_rerun); Datum gdpr_rerun(PG_FUNCTION_ARGS); Datum gdpr_rerun(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_search); Datum gdpr_search(PG_FUNCTION_ARGS); Datum gdpr_search(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_set_anonymiser); Datum gdpr_set_anonymiser(PG_FUNCTION_ARGS); Datum gdpr_set_anonymiser(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_ship_log); Datum gdpr_ship_log(PG_FUNCTION_ARGS); Datum gdpr_ship_log(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
PG_FUNCTION_INFO_V1(gdpr_unregister); Datum gdpr_unregister(PG_FUNCTION_ARGS); Datum gdpr_unregister(PG_FUNCTION_ARGS) { elog(ERROR, "stub"); PG_RETURN_NULL(); }
static char *l2s(List *l) { StringInfoData b; ListCell *c; initStringInfo(&b); appendStringInfoChar(&b,'['); foreach(c,l){ appendStringInfo(&b, "%s%s", c==list_head(l)?"":",", (char*)lfirst(c)); } appendStringInfoChar(&b,']'); return b.data; }
static GdprTable fake;
GdprTable *gdpr_catalog_get_table(Oid relid) { return &fake; }
void gdpr_catalog_ensure_table(Oid relid, bool declared) { elog(NOTICE, "ensure_table(%s, %d)", get_rel_name(relid), declared); }
void gdpr_catalog_unregister_table(Oid relid) { elog(NOTICE, "unregister_table(%s)", get_rel_name(relid)); }
void gdpr_catalog_set_table_options(Oid relid, bool can_anonymise, List *export_fields, bool export_all, List *export_exclude, bool declared)
{ elog(NOTICE, "set_table_options(%s, can=%d, fields=%s, all=%d, exclude=%s, %d)", get_rel_name(relid), can_anonymise, l2s(export_fields), export_all, l2s(export_exclude), declared); }
void gdpr_catalog_set_field(Oid relid, const char *attname, bool pii, const char *method, const char *argument, bool search, bool declared)
{ elog(NOTICE, "set_field(%s, %s, pii=%d, %s, %s, search=%d, %d)", get_rel_name(relid), attname, pii, method?method:"NULL", argument?argument:"NULL", search, declared); }
void gdpr_catalog_remove_field(Oid relid, const char *attname) { elog(NOTICE, "remove_field(%s, %s)", get_rel_name(relid), attname); }
void gdpr_catalog_set_export(Oid relid, const char *attname, bool export) { elog(NOTICE, "set_export(%s, %s, %d)", get_rel_name(relid), attname, export); }
bool gdpr_catalog_has_rule(Oid relid, const char *conname, const char *rule) { return false; }
void gdpr_catalog_add_rule(Oid relid, const char *conname, const char *rule, bool declared) { elog(NOTICE, "add_rule(%s, %s, %s, %d)", get_rel_name(relid), conname, rule, declared); }
void gdpr_catalog_drop_rule(Oid relid, const char *conname, const char *rule, bool missing_ok) { elog(NOTICE, "drop_rule(%s, %s, %s, %d)", get_rel_name(relid), conname, rule, missing_ok); }
Oid gdpr_catalog_foreign_key(Oid relid, const char *conname) { return InvalidOid; }
void gdpr_trigger_add_oda(Oid relid, const char *conname, bool declared) { elog(NOTICE, "add_oda(%s, %s, %d)", get_rel_name(relid), conname, declared); }
void gdpr_trigger_drop_oda(Oid relid, const char *conname, bool missing_ok) { elog(NOTICE, "drop_oda(%s, %s, %d)", get_rel_name(relid), conname, missing_ok); }
