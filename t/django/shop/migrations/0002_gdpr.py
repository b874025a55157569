# Registers the shop's personal data with gdpr: the README's "A Django
# migration", on more models.  It runs as the tables' owner, a role that is
# not a superuser and holds only the grants the README's Django section lists.
from django.db import migrations

REGISTER = r"""
-- a 'function' anonymiser: create it, and name it, schema-qualified
CREATE FUNCTION public.shop_anonymous_name(old varchar, key text) RETURNS varchar
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'Anonymous ' || key $$;

SELECT gdpr.register('public.shop_person',
                     fields => ARRAY['name', 'email', 'phone'],
                     search_fields => ARRAY['email'],
                     export_exclude => ARRAY['password']);
SELECT gdpr.set_anonymiser('public.shop_person', 'name', 'function', 'public.shop_anonymous_name');
SELECT gdpr.set_anonymiser('public.shop_person', 'email', 'email');

-- multi-table inheritance: each table with its own columns
SELECT gdpr.register('public.shop_employee', fields => ARRAY['work_phone']);
-- and the export of an employee row takes its parent row with it
SELECT gdpr.export_follow('public.shop_employee', conname)
  FROM pg_constraint
 WHERE conrelid = 'public.shop_employee'::regclass AND contype = 'f';

SELECT gdpr.register('public.shop_profile', fields => ARRAY['bio', 'birth_date']);

SELECT gdpr.register('public.shop_order', fields => ARRAY['shipping_address', 'customer_email']);
SELECT gdpr.set_anonymiser('public.shop_order', 'shipping_address', 'value', '[removed]');
SELECT gdpr.set_anonymiser('public.shop_order', 'customer_email', 'hash');

SELECT gdpr.register('public.shop_comment', fields => ARRAY['body']);
SELECT gdpr.set_anonymiser('public.shop_comment', 'body', 'value', '[removed]');
DO $$
DECLARE
    fk name;
BEGIN
    SELECT c.conname INTO STRICT fk
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.conrelid = 'public.shop_comment'::regclass AND c.contype = 'f'
       AND a.attname = 'author_id';
    -- Django creates NO ACTION foreign keys; make this one SET NULL
    EXECUTE format('ALTER TABLE public.shop_comment DROP CONSTRAINT %I', fk);
    EXECUTE format('ALTER TABLE public.shop_comment ADD CONSTRAINT %I FOREIGN KEY (author_id)
                    REFERENCES public.shop_person (id) ON DELETE SET NULL
                    DEFERRABLE INITIALLY DEFERRED', fk);
    PERFORM gdpr.on_delete_anonymise('public.shop_comment', fk);
END
$$;

-- no Django signal fires when the database anonymises a row: a trigger
-- does the receiver's work (here, an audit entry)
CREATE FUNCTION public.shop_comment_anonymised() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.shop_auditentry (table_name, row_key)
        VALUES (TG_TABLE_NAME, NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER shop_comment_anonymised AFTER UPDATE OF body ON public.shop_comment
    FOR EACH ROW WHEN (NEW.body = '[removed]' AND OLD.body <> '[removed]')
    EXECUTE FUNCTION public.shop_comment_anonymised();
"""

UNREGISTER = r"""
DROP TRIGGER shop_comment_anonymised ON public.shop_comment;
DROP FUNCTION public.shop_comment_anonymised();
SELECT gdpr.drop_on_delete_anonymise('public.shop_comment', conname)
  FROM pg_constraint
 WHERE conrelid = 'public.shop_comment'::regclass AND contype = 'f';
SELECT gdpr.drop_export_follow('public.shop_employee', conname)
  FROM pg_constraint
 WHERE conrelid = 'public.shop_employee'::regclass AND contype = 'f';
SELECT gdpr.unregister('public.shop_comment');
SELECT gdpr.unregister('public.shop_order');
SELECT gdpr.unregister('public.shop_profile');
SELECT gdpr.unregister('public.shop_employee');
SELECT gdpr.unregister('public.shop_person');
DROP FUNCTION public.shop_anonymous_name(varchar, text);
"""


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RunSQL(REGISTER, UNREGISTER)]
