"""The spend, activity and keys pages (no namespace: the navigation reverses `spend`, `activity`, `keys`)."""

from django.urls import path

from usage import views

urlpatterns = [
    path("spend/", views.spend, name="spend"),
    path("spend/export/<str:group>.csv", views.spend_export, name="spend_export"),
    path("activity/", views.activity, name="activity"),
    path("activity/export.csv", views.activity_export, name="activity_export"),
    path("activity/<int:entry_id>/", views.activity_detail, name="activity_detail"),
    path("activity/request/<str:request_id>/", views.activity_by_request, name="activity_by_request"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("keys/<int:key_id>/alerts/", views.key_alerts, name="key_alerts"),
    path("status/", views.status, name="status"),
    path("alerts/", views.alerts, name="alerts"),
]
