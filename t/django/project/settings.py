"""Settings of the gdpr test project, run by t/040_django.pl.

The database comes from the environment, the way a deployment gets it:
PGHOST (a host name or a socket directory), PGPORT, GDPR_DJANGO_DBNAME,
GDPR_DJANGO_USER, and GDPR_DJANGO_TEMPLATE (the template database Django's
test runner copies for the test database; see the README's "A Django
migration").
"""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "gdpr-test-project-not-secret"
DEBUG = False
ALLOWED_HOSTS = []
INSTALLED_APPS = ["shop"]
MIDDLEWARE = []
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ["PGHOST"],
        "PORT": os.environ.get("PGPORT", "5432"),
        "NAME": os.environ["GDPR_DJANGO_DBNAME"],
        "USER": os.environ["GDPR_DJANGO_USER"],
        "PASSWORD": os.environ.get("GDPR_DJANGO_PASSWORD", ""),
        "TEST": {"TEMPLATE": os.environ["GDPR_DJANGO_TEMPLATE"]},
    }
}
