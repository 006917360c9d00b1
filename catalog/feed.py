"""The catalogue changes as Atom, for a feed reader: with the session of a logged-in user, or with a user's
feed token in the URL (`?token=tlfeed_…`: read-only, stored hashed, revocable; see
catalog/services/feed_tokens.py). The token rides in the query string, which neither Django's request log
(it logs the path) nor our servers (uvicorn runs without an access log) write down.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.contrib.syndication.views import Feed
from django.http import HttpResponseNotFound
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from catalog.selectors import catalogue as selectors
from catalog.selectors.feed_tokens import feed_token_lookup
from catalog.services.feed_tokens import feed_token_create, feed_token_revoke, feed_token_used
from catalog.views import FEED_SECRET_SESSION_KEY, run_view


class ChangesFeed(Feed):
    """/catalog/changes/feed/: the same, as Atom (one entry per sync run that changed something)."""

    feed_type = Atom1Feed
    title = "Tokenledger: OpenRouter catalogue changes"
    subtitle = "Models added, repriced and retired, per catalogue sync."

    def link(self):
        return reverse("catalog:changes")

    def items(self):
        return selectors.catalog_changes()[:30]

    def item_title(self, run):
        view = run_view(run)
        if view["initial"]:
            return f"Catalogue sync {run.started_at:%Y-%m-%d %H:%M} UTC: {_initial_line(run, view)}"
        return (
            f"Catalogue sync {run.started_at:%Y-%m-%d %H:%M} UTC: {run.added} added, "
            f"{run.repriced} repriced, {run.retired} retired"
        )

    def item_description(self, run):
        view = run_view(run)
        if view["initial"]:
            return format_html_join("", "<p>{}.</p>", [(_initial_line(run, view),)])
        parts = [format_html_join("", "<p>From {}.</p>", [(view["source"],)])]
        for label, ids in (
            ("Added", view["added"]),
            ("Retired", view["retired"]),
            ("Back", view["returned"]),
        ):
            if ids:
                parts.append(
                    format_html_join("", "<p>{}: {}</p>", [(label, ", ".join(ids))]),
                )
        for entry in view["repriced"]:
            text = "; ".join(f"{c['label']} {c['old']} → {c['new']}" for c in entry["changes"])
            parts.append(format_html_join("", "<p>Repriced {}: {}</p>", [(entry["model_id"], text)]))
        return "".join(parts)

    def item_link(self, run):
        return f"{reverse('catalog:changes')}#sync-{run.pk}"

    def item_pubdate(self, run):
        return run.finished_at or run.started_at

    def item_updateddate(self, run):
        return run.finished_at or run.started_at


def _initial_line(run, view) -> str:
    return f"initial import: {run.models_count} models, from {view['source']}"


@login_not_required
@require_GET
def changes_feed(request):
    """/catalog/changes/feed/: the Atom feed, for the logged-in user or for a valid `?token=`."""
    secret = request.GET.get("token", "")
    if secret:
        token = feed_token_lookup(secret=secret)
        if token is None:
            return HttpResponseNotFound("No feed for this token: it was revoked or replaced.\n", "text/plain")
        feed_token_used(token=token)
        response = ChangesFeed()(request)
        response["Cache-Control"] = "private, max-age=300"
        response["Referrer-Policy"] = "no-referrer"
        return response
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return ChangesFeed()(request)


@require_POST
def changes_feed_token(request):
    """Make (or replace) the user's feed token, shown once on the changes page; or revoke it."""
    if request.POST.get("action") == "revoke":
        if feed_token_revoke(user=request.user):
            messages.success(request, "Feed link revoked: a reader using it gets 404 from now on.")
    else:
        request.session[FEED_SECRET_SESSION_KEY] = feed_token_create(user=request.user)
    return redirect(f"{reverse('catalog:changes')}#feed-link")
