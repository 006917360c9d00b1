"""The navigation bar: only pages that exist are shown, the current one marked."""

from django.urls import NoReverseMatch, reverse

NAV = [
    ("Models", "catalog:models"),
    ("Compare", "compare"),
    ("Spend", "spend"),
    ("Activity", "activity"),
    ("Keys", "keys"),
    ("Playground", "playground"),
    ("Status", "status"),
    ("Alerts", "alerts"),
]


def navigation(request):
    items = []
    path = getattr(request, "path", "")
    for label, name in NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": path.startswith(url)})
    return {"nav_items": items}
