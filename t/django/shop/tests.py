"""Django's own tests of the shop on gdpr, run by t/040_django.pl as
`manage.py test`, as the non-superuser role that owns the database, in a
test database Django copies from a template that holds the extension and
the grants (the README's "A Django migration").

Each test follows one statement of the README's Django section.
"""
import json
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_save
from django.test import TestCase, TransactionTestCase

from .models import AuditEntry, Comment, Employee, Order, Person, Profile


def one(query, params=()):
    """The first column of the first row of a query."""
    with connection.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchone()[0]


def rows(query, params=()):
    with connection.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def sqlstate(query, params=()):
    """The SQLSTATE a query fails with, in a savepoint; None if it succeeds."""
    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(query, params)
    except DatabaseError as e:
        return e.__cause__.pgcode
    return None


def is_anonymised(rel, key):
    return one("SELECT gdpr.is_anonymised(%s, %s)", [rel, key])


class ShopTestCase(TestCase):
    def setUp(self):
        self.alice = Person.objects.create(
            name="Alice", email="alice@example.com", phone="+44 7700 900123", password="x")
        self.bob = Person.objects.create(name="Bob", email="bob@example.com", password="y")
        self.hi = Comment.objects.create(author=self.alice, body="Hi")
        self.bye = Comment.objects.create(author=self.alice, body="Bye")
        self.hello = Comment.objects.create(author=self.bob, body="Hello")
        self.order = Order.objects.create(
            person=self.alice, shipping_address="12 Acacia Avenue", customer_email="alice@example.com",
            total=Decimal("9.99"))
        self.profile = Profile.objects.create(person=self.alice, bio="Likes cheese")


class DeleteThroughTheOrm(ShopTestCase):
    def test_delete_anonymises_and_unlinks_comments(self):
        saved = []

        def receiver(sender, instance, **kwargs):
            saved.append(instance.pk)

        post_save.connect(receiver, sender=Comment)
        try:
            self.alice.delete()
        finally:
            post_save.disconnect(receiver, sender=Comment)
        for c in (self.hi, self.bye):
            c.refresh_from_db()
            self.assertIsNone(c.author_id)
            self.assertEqual(c.body, "[removed]")
            self.assertTrue(is_anonymised("public.shop_comment", c.pk))
        self.hello.refresh_from_db()
        self.assertEqual((self.hello.author_id, self.hello.body), (self.bob.pk, "Hello"))
        self.assertFalse(is_anonymised("public.shop_comment", self.hello.pk))
        # the ORM cascaded to the order and the profile
        self.assertFalse(Order.objects.exists())
        self.assertFalse(Profile.objects.exists())
        # no Django signal for the database's anonymisation; the trigger of
        # migration 0002 did the receiver's work
        self.assertEqual(saved, [])
        self.assertEqual(
            sorted(AuditEntry.objects.values_list("table_name", "row_key")),
            sorted([("shop_comment", str(self.hi.pk)), ("shop_comment", str(self.bye.pk))]))

    def test_queryset_delete(self):
        Person.objects.filter(email__endswith="@example.com").delete()
        self.assertEqual(
            sorted(Comment.objects.values_list("author_id", "body")),
            [(None, "[removed]")] * 3)

    def test_delete_employee(self):
        carol = Employee.objects.create(
            name="Carol", email="carol@example.com", password="z", staff_number="E1",
            work_phone="+44 7700 900999")
        c = Comment.objects.create(author=carol, body="Lunch?")
        carol.delete()
        self.assertFalse(Person.objects.filter(pk=carol.pk).exists())
        self.assertFalse(Employee.objects.filter(pk=carol.pk).exists())
        c.refresh_from_db()
        self.assertEqual((c.author_id, c.body), (None, "[removed]"))


class AnonymiseFromPython(ShopTestCase):
    def test_anonymise_person_passes_full_clean(self):
        self.assertIs(one("SELECT gdpr.anonymise('public.shop_person', %s)", [self.alice.pk]), True)
        self.assertIs(one("SELECT gdpr.anonymise('public.shop_person', %s)", [self.alice.pk]), False)
        self.alice.refresh_from_db()
        pk = self.alice.pk
        self.assertEqual(
            (self.alice.name, self.alice.email, self.alice.phone),
            ("Anonymous %d" % pk, "%d@anonymised.invalid" % pk, ""))
        # the methods chosen for Person keep the model valid
        self.alice.full_clean()
        self.assertTrue(is_anonymised("public.shop_person", pk))
        self.assertTrue(is_anonymised("public.shop_person", str(pk)))

    def test_default_method_fails_full_clean(self):
        # Profile.bio is required, and its method is `default`: ''
        self.assertIs(one("SELECT gdpr.anonymise('public.shop_profile', %s)", [self.profile.pk]), True)
        self.profile.refresh_from_db()
        self.assertEqual(self.profile.bio, "")
        with self.assertRaises(ValidationError) as cm:
            self.profile.full_clean()
        self.assertEqual(list(cm.exception.message_dict), ["bio"])

    def test_stale_instance_writes_personal_data_back(self):
        stale = Person.objects.get(pk=self.alice.pk)
        one("SELECT gdpr.anonymise('public.shop_person', %s)", [self.alice.pk])
        stale.save()
        fresh = Person.objects.get(pk=self.alice.pk)
        # the personal data is back, and the row still counts as anonymised
        self.assertEqual((fresh.name, fresh.email), ("Alice", "alice@example.com"))
        self.assertTrue(is_anonymised("public.shop_person", self.alice.pk))
        # a forced anonymisation repairs it
        self.assertIs(one("SELECT gdpr.anonymise('public.shop_person', %s, force => true)",
                          [self.alice.pk]), True)
        fresh.refresh_from_db()
        self.assertEqual(fresh.name, "Anonymous %d" % self.alice.pk)

    def test_anonymise_many(self):
        # an empty Python list is an untyped '{}': it needs the cast
        self.assertEqual(sqlstate("SELECT gdpr.anonymise_many('public.shop_comment', %s)", [[]]),
                         "42725")
        self.assertEqual(one("SELECT gdpr.anonymise_many('public.shop_comment', %s::text[])", [[]]), 0)
        keys = [self.hi.pk, self.hello.pk]
        self.assertEqual(one("SELECT gdpr.anonymise_many('public.shop_comment', %s::text[])",
                             [[str(k) for k in keys]]), 2)
        keys.append(self.bye.pk)
        self.assertEqual(one("SELECT gdpr.anonymise_many('public.shop_comment', %s)", [keys]), 1)
        self.assertEqual(Comment.objects.exclude(body="[removed]").count(), 0)

    def test_hash_method(self):
        self.assertEqual(one("SELECT gdpr.anonymise_many('public.shop_order', %s)", [[self.order.pk]]), 1)
        self.order.refresh_from_db()
        pseudonym = one("SELECT gdpr.pseudonym(%s)", ["alice@example.com"])
        self.assertRegex(pseudonym, "^[0-9a-f]{64}$")
        self.assertEqual(self.order.customer_email, pseudonym)
        self.assertEqual(self.order.shipping_address, "[removed]")
        self.assertEqual(self.order.total, Decimal("9.99"))

    def test_multi_table_inheritance(self):
        carol = Employee.objects.create(
            name="Carol", email="carol@example.com", password="z", staff_number="E1",
            work_phone="+44 7700 900999")
        # the parent's fields are registered on the parent's table only
        self.assertEqual(
            sqlstate("SELECT gdpr.set_anonymiser('public.shop_employee', 'name', 'null')"), "42703")
        # the export of the parent row holds the child row; the export of
        # the child row follows to its parent (export_follow in 0002)
        doc = one("SELECT gdpr.export('public.shop_employee', %s)::json", [carol.pk])
        self.assertEqual(sorted(doc), ["public.shop_employee", "public.shop_person"])
        self.assertEqual(doc["public.shop_employee"][0]["staff_number"], "E1")
        self.assertEqual(doc["public.shop_person"][0]["name"], "Carol")
        # anonymising an employee is one call per table
        one("SELECT gdpr.anonymise('public.shop_person', %s)", [carol.pk])
        one("SELECT gdpr.anonymise('public.shop_employee', %s)", [carol.pk])
        carol.refresh_from_db()
        self.assertEqual((carol.name, carol.work_phone, carol.staff_number),
                         ("Anonymous %d" % carol.pk, "", "E1"))


class FindAndExport(ShopTestCase):
    def test_export(self):
        raw = one("SELECT gdpr.export('public.shop_person', %s)", [self.alice.pk])
        # jsonb arrives as a string through Django's connection
        self.assertIsInstance(raw, str)
        doc = one("SELECT gdpr.export('public.shop_person', %s)::json", [self.alice.pk])
        self.assertEqual(json.loads(raw), doc)
        self.assertEqual(
            sorted(doc),
            ["public.shop_comment", "public.shop_order", "public.shop_person", "public.shop_profile"])
        person = doc["public.shop_person"][0]
        self.assertEqual(person["email"], "alice@example.com")
        self.assertNotIn("password", person)
        self.assertEqual([c["body"] for c in doc["public.shop_comment"]], ["Hi", "Bye"])
        self.assertEqual(doc["public.shop_order"][0]["total"], 9.99)

    def test_search(self):
        found = rows("SELECT rel::text, key, matched FROM gdpr.search(%s)", ["ALICE@example.com"])
        self.assertEqual(found, [("shop_person", str(self.alice.pk), ["email"])])
        doc = one("SELECT gdpr.export_search(%s)::json", ["alice@example.com"])
        self.assertEqual([p["id"] for p in doc["public.shop_person"]], [self.alice.pk])
        done = rows("SELECT rel::text, anonymised, skipped FROM gdpr.anonymise_search(%s)",
                    ["bob@example.com"])
        self.assertEqual(done, [("shop_person", 1, 0)])

    def test_function_names_are_schema_qualified(self):
        found = rows("SELECT column_name::text, method, argument FROM gdpr.registered_columns"
                     " WHERE rel = 'public.shop_person'::regclass AND pii ORDER BY 1")
        self.assertEqual([r[:2] for r in found],
                         [("email", "email"), ("name", "function"), ("phone", "default")])
        self.assertTrue(found[1][2].startswith("public.shop_anonymous_name("), found[1][2])
        # gdpr resolves the name with search_path = pg_catalog, pg_temp: the
        # function in public is not found without its schema
        self.assertEqual(
            sqlstate("SELECT gdpr.set_anonymiser('public.shop_person', 'name', 'function',"
                     " 'shop_anonymous_name')"), "42883")

    def test_operations_are_not_granted(self):
        # replay and the log are for the operators, not the application
        self.assertEqual(sqlstate("SELECT * FROM gdpr.rerun()"), "42501")
        self.assertEqual(sqlstate("SELECT gdpr.ship_log()"), "42501")
        self.assertEqual(sqlstate("SELECT * FROM gdpr.log_status"), "42501")


class FlushQueuesDeletes(TransactionTestCase):
    """A TransactionTestCase commits, and its flush TRUNCATEs every table:
    each row deleted is a queued `delete` event of the test database, which
    t/040_django.pl checks never reaches the log."""

    def test_commit(self):
        p = Person.objects.create(name="Dave", email="dave@example.com", password="w")
        Comment.objects.create(author=p, body="Committed")
        Person.objects.create(name="Erin", email="erin@example.com", password="v")
        p.delete()
        self.assertEqual(list(Comment.objects.values_list("author_id", "body")), [(None, "[removed]")])
