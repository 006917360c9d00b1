from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from usage.services.freshness import (
            gateway_changes_connect,
        )  # models are loaded only once apps are ready

        gateway_changes_connect()
        from usage.services.alerts.catalog import catalog_alerts_connect

        catalog_alerts_connect()
