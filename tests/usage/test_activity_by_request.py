"""/activity/request/<request id>/: a request's detail page by our request id (the gateway's
`x-tokenledger-request-id`), for whoever may see that row."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.usage.spend_data import at, make_key
from tests.usage.spend_data import entry as add_entry
from usage.models import LedgerEntry

pytestmark = pytest.mark.django_db

REQUEST_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def rows(member):
    """A served request and a response cache hit copying its generation id: one generation id, two rows."""
    key = make_key("mine", member)
    served = add_entry(at(9, 0), api_key=key, generation_id="gen-1", request_id="a" * 32)
    hit = add_entry(
        at(9, 5), api_key=key, generation_id="gen-1", request_id=REQUEST_ID, status=LedgerEntry.Status.CACHED
    )
    return served, hit


def get(client, user, request_id: str):
    client.login(username=user.username, password=PASSWORD)
    return client.get(f"/activity/request/{request_id}/")


def test_it_redirects_to_the_row_with_that_request_id_not_another_of_its_generation(client, member, rows):
    response = get(client, member, REQUEST_ID)

    assert (response.status_code, response["Location"]) == (302, f"/activity/{rows[1].id}/")
    page = client.get(response["Location"])
    assert f'<dd class="mono" id="request-id">{REQUEST_ID}</dd>' in page.content.decode()


def test_staff_reach_any_row(client, admin_user, rows):
    response = get(client, admin_user, "a" * 32)

    assert (response.status_code, response["Location"]) == (302, f"/activity/{rows[0].id}/")


@pytest.mark.parametrize("request_id", [REQUEST_ID, "f" * 32, "not-an-id"])
def test_another_users_row_and_an_unknown_id_are_not_found(client, outsider, rows, request_id):
    assert get(client, outsider, request_id).status_code == 404
