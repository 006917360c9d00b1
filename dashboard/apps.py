from django.apps import AppConfig

from dashboard import checks  # noqa: F401 - registers the system checks


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"
