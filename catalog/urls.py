from django.urls import path

from catalog import feed, views

app_name = "catalog"

urlpatterns = [
    path("models/", views.models, name="models"),
    path("catalog/changes/", views.changes, name="changes"),
    path("catalog/changes/feed/", feed.changes_feed, name="changes_feed"),
    path("catalog/changes/feed-token/", feed.changes_feed_token, name="changes_feed_token"),
]
