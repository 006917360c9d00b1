"""The Celery app: settings from Django (CELERY_*), tasks autodiscovered, schedules in django-celery-beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("tokenledger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
