from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from dashboard import compare_pages, health, model_pages, provider_pages, views
from dashboard import playground as playground_views

admin.site.site_header = admin.site.site_title = "Tokenledger admin"
admin.site.index_title = "Catalogue, keys, upstreams and schedules"

urlpatterns = [
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
        name="favicon",
    ),
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("catalog.urls")),  # catalog:models, catalog:changes, catalog:changes_feed
    path("models/<str:author>/<path:slug>/", model_pages.model_detail, name="model_detail"),
    path("compare/", compare_pages.compare, name="compare"),
    path("providers/refresh/", provider_pages.providers_refresh, name="providers_refresh"),
    path("providers/<path:name>/", provider_pages.provider_detail, name="provider_detail"),
    path("playground/", playground_views.playground, name="playground"),
    path("playground/token/", playground_views.playground_token, name="playground_token"),
    path("playground/ledger-row/", playground_views.playground_ledger_row, name="playground_ledger_row"),
    path("", include("usage.urls")),  # spend, activity, keys
]
