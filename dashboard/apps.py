from django.apps import AppConfig
from django.db.models.signals import post_migrate

from dashboard import checks  # noqa: F401 - registers the system checks


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        # Imported here, not above: it imports models, which Django loads only once the app registry is
        # ready (this method is its place for connecting signal handlers).
        from dashboard.schedules import schedules_after_migrate

        # sender=self: migrate (and flush) send post_migrate once per app; the schedules apply once.
        post_migrate.connect(schedules_after_migrate, sender=self, dispatch_uid="dashboard.schedules")
