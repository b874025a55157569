"""The shop of t/040_django.pl: the models a Django team registers with gdpr.

Every relation to Person says what the *database* does when a person is
deleted, because gdpr acts in the database:

- Comment: the ORM does nothing (DO_NOTHING); migration 0002 makes the
  foreign key ON DELETE SET NULL and gives it gdpr's ON DELETE ANONYMISE
  rule, so the database anonymises the comment, then unlinks it.
- Order, Profile: the ORM deletes them first (CASCADE); gdpr logs each
  delete.
- Employee: multi-table inheritance; the parent's fields live in
  shop_person, the child's own in shop_employee.
"""
from django.db import models


class Person(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)
    phone = models.CharField(max_length=30, blank=True)
    password = models.CharField(max_length=128)


class Employee(Person):
    staff_number = models.CharField(max_length=20)
    work_phone = models.CharField(max_length=30, blank=True)


class Profile(models.Model):
    person = models.OneToOneField(Person, on_delete=models.CASCADE)
    # required, and anonymised with gdpr's `default` method ('') on purpose:
    # tests.py shows that full_clean() then fails
    bio = models.TextField()
    birth_date = models.DateField(null=True, blank=True)


class Comment(models.Model):
    # the database sets author_id to NULL (and gdpr anonymises the comment
    # first): see migration 0002
    author = models.ForeignKey(Person, null=True, blank=True, on_delete=models.DO_NOTHING)
    body = models.TextField()


class Order(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE)
    shipping_address = models.TextField()
    # anonymised with the `hash` method: a pseudonym, the same in every table
    customer_email = models.CharField(max_length=254)
    total = models.DecimalField(max_digits=10, decimal_places=2)


class AuditEntry(models.Model):
    """Written by a database trigger when gdpr anonymises a comment: what a
    post_save receiver would have done, had Django known."""

    table_name = models.CharField(max_length=63)
    row_key = models.CharField(max_length=40)
