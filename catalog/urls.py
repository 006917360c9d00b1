from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("models/", views.models, name="models"),
    path("catalog/changes/", views.changes, name="changes"),
    path("catalog/changes/feed/", views.ChangesFeed(), name="changes_feed"),
]
