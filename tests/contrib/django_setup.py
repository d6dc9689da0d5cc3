"""Configure Django once per process, for every test folder with a Django project.

tests/contrib/ and tests/drf/ share one settings module (tests.contrib.django_settings):
Django can be configured only once per process.
"""

import os

import django
from django.apps import apps
from django.conf import settings

if not settings.configured:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_settings")
if not apps.ready:
    django.setup()
