from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from catalog.changes import catalog_changes_connect  # models are loaded only once apps are ready

        catalog_changes_connect()
