"""Aliases in the admin (validation shown on the page, nothing saved) and their loading for the gateway."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils.html import escape

from usage.models import Alias, AliasMember, Upstream
from usage.routing import AliasMemberSpec, AliasSpec
from usage.selectors.aliases import aliases_load
from usage.services.aliases import alias_validate

from .gateway_data import make_catalogue

GPT = "openai/gpt-4o-mini"
CLAUDE = "anthropic/claude-sonnet-4"
DEEPSEEK = "deepseek/deepseek-r1"
ADD_URL = "/admin/usage/alias/add/"


@pytest.fixture
def catalogue(db):
    make_catalogue()
    Upstream.objects.create(name="local", base_url="http://127.0.0.1:8001/v1", model_prefix="local/")
    Upstream.objects.create(
        name="spare", base_url="http://127.0.0.1:8002/v1", model_prefix="spare/", enabled=False
    )


@pytest.fixture
def admin_client(client, admin_user, catalogue):
    client.force_login(admin_user)
    return client


def form_data(name: str, members: list, *, strategy: str = "ordered", initial: int = 0) -> dict:
    """The add/change form's POST: members are model ids or dicts of member fields."""
    data = {
        "name": name,
        "strategy": strategy,
        "description": "",
        "enabled": "on",
        "members-TOTAL_FORMS": str(len(members)),
        "members-INITIAL_FORMS": str(initial),
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    for index, member in enumerate(members):
        fields = {"model": member} if isinstance(member, str) else member
        row = {"position": "0", "weight": "1", "max_price_per_million": "", **fields}
        for field, value in row.items():
            data[f"members-{index}-{field}"] = value
    return data


def make_alias(name: str, *models: str, enabled: bool = True, strategy: str = "ordered") -> Alias:
    alias = Alias.objects.create(name=name, enabled=enabled, strategy=strategy)
    for position, model in enumerate(models):
        AliasMember.objects.create(alias=alias, model=model, position=position)
    return alias


def assert_rejected(response, *messages: str) -> None:
    assert response.status_code == 200  # the form again, not a redirect
    page = response.content.decode()
    for message in messages:
        assert escape(message) in page


# ---- the admin form ----


def test_a_valid_alias_is_saved_with_members_numbered_in_row_order(admin_client):
    make_alias("team/base", GPT)
    members = [
        DEEPSEEK,
        {"model": f"{GPT}:nitro", "weight": "3"},
        {"model": "local/llama-3-8b", "max_price_per_million": "2.5"},
        "team/base",
        "openrouter/auto",
    ]
    response = admin_client.post(ADD_URL, form_data("team/fast", members, strategy="weighted"))

    assert response.status_code == 302
    alias = Alias.objects.get(name="team/fast")
    assert alias.strategy == "weighted"
    rows = alias.members.order_by("position").values_list(
        "position", "model", "weight", "max_price_per_million"
    )
    assert list(rows) == [
        (0, DEEPSEEK, 1, None),
        (1, f"{GPT}:nitro", 3, None),
        (2, "local/llama-3-8b", 1, Decimal("2.5")),
        (3, "team/base", 1, None),
        (4, "openrouter/auto", 1, None),
    ]


def test_given_positions_are_kept(admin_client):
    members = [{"model": GPT, "position": "5"}, {"model": CLAUDE, "position": "2"}]
    response = admin_client.post(ADD_URL, form_data("team/two", members))

    assert response.status_code == 302
    rows = Alias.objects.get().members.order_by("position").values_list("model", "position")
    assert list(rows) == [(CLAUDE, 2), (GPT, 5)]


def test_a_name_that_is_a_catalogue_model_id_is_rejected(admin_client):
    response = admin_client.post(ADD_URL, form_data(GPT, [CLAUDE]))

    assert_rejected(response, f"{GPT} is a model id in the catalogue: choose another alias name.")
    assert Alias.objects.count() == 0


def test_a_name_under_an_upstream_prefix_is_rejected(admin_client):
    response = admin_client.post(ADD_URL, form_data("local/fast", [CLAUDE]))

    assert_rejected(
        response,
        "local/fast starts with local/, the prefix of upstream 'local': choose another alias name.",
    )
    assert Alias.objects.count() == 0


def test_a_disabled_upstream_prefix_is_free_for_names_but_not_for_members(admin_client):
    response = admin_client.post(ADD_URL, form_data("spare/fast", ["spare/model"]))

    assert_rejected(response, "spare/model is neither a model in the catalogue nor an alias.")
    assert "prefix of upstream" not in response.content.decode()
    assert Alias.objects.count() == 0


def test_an_alias_without_members_is_rejected(admin_client):
    response = admin_client.post(ADD_URL, form_data("team/empty", []))

    assert_rejected(response, "An alias needs at least one model.")
    assert Alias.objects.count() == 0


def test_deleted_rows_do_not_count_as_members(admin_client):
    response = admin_client.post(ADD_URL, form_data("team/empty", [{"model": GPT, "DELETE": "on"}]))

    assert_rejected(response, "An alias needs at least one model.")
    assert Alias.objects.count() == 0


def test_unknown_members_are_rejected_each_by_name(admin_client):
    members = [GPT, "foo/bar", "openai/gpt-9:nitro", f"{CLAUDE}:floor"]
    response = admin_client.post(ADD_URL, form_data("team/x", members))

    assert_rejected(
        response,
        "foo/bar is neither a model in the catalogue nor an alias.",
        "openai/gpt-9:nitro is neither a model in the catalogue nor an alias.",
    )
    assert f"{CLAUDE}:floor is neither" not in response.content.decode()
    assert (Alias.objects.count(), AliasMember.objects.count()) == (0, 0)


def test_a_retired_model_is_not_a_valid_member(admin_client):
    from catalog.models import CatalogModel

    CatalogModel.objects.filter(model_id=DEEPSEEK).update(retired_at="2026-02-01T00:00:00Z")
    response = admin_client.post(ADD_URL, form_data("team/x", [DEEPSEEK]))

    assert_rejected(response, f"{DEEPSEEK} is neither a model in the catalogue nor an alias.")
    assert Alias.objects.count() == 0


def test_every_problem_is_shown_at_once(admin_client):
    response = admin_client.post(ADD_URL, form_data(CLAUDE, ["foo/bar"]))

    assert_rejected(
        response,
        f"{CLAUDE} is a model id in the catalogue: choose another alias name.",
        "foo/bar is neither a model in the catalogue nor an alias.",
    )
    assert Alias.objects.count() == 0


def test_a_loop_through_another_alias_is_rejected_naming_its_path(admin_client):
    make_alias("team/b", GPT, "team/c")
    make_alias("team/c", "team/a")  # saved before team/a existed (by hand): the loop closes with team/a
    response = admin_client.post(ADD_URL, form_data("team/a", [CLAUDE, "team/b"]))

    assert_rejected(response, "Alias loop: team/a → team/b → team/c → team/a.")
    assert not Alias.objects.filter(name="team/a").exists()


def test_an_alias_naming_itself_is_a_loop_on_the_change_form(admin_client):
    alias = make_alias("team/a", GPT)
    member = alias.members.get()
    data = form_data("team/a", [{"model": GPT, "id": str(member.pk), "alias": str(alias.pk)}], initial=1)
    data.update({"members-1-model": "team/a", "members-1-position": "1", "members-1-weight": "1"})
    data.update({"members-1-max_price_per_million": "", "members-TOTAL_FORMS": "2"})
    response = admin_client.post(f"/admin/usage/alias/{alias.pk}/change/", data)

    assert_rejected(response, "Alias loop: team/a → team/a.")
    assert list(AliasMember.objects.values_list("model", flat=True)) == [GPT]


def test_editing_an_alias_keeps_its_own_name_and_members_valid(admin_client):
    alias = make_alias("team/a", GPT)
    make_alias("team/b", "team/a")
    member = alias.members.get()
    data = form_data("team/a", [{"model": CLAUDE, "id": str(member.pk), "alias": str(alias.pk)}], initial=1)
    response = admin_client.post(f"/admin/usage/alias/{alias.pk}/change/", data)

    assert response.status_code == 302
    assert list(alias.members.values_list("model", flat=True)) == [CLAUDE]


def test_the_list_shows_strategy_and_member_count(admin_client):
    make_alias("team/fast", GPT, CLAUDE, DEEPSEEK, strategy="fastest")
    response = admin_client.get("/admin/usage/alias/?q=fast")

    page = response.content.decode()
    assert response.status_code == 200
    assert "team/fast" in page
    assert '<td class="field-strategy">fastest (p50 latency in our ledger over the last hour)</td>' in page
    assert '<td class="field-member_count">3</td>' in page


# ---- alias_validate (the same rules, called directly) ----


def test_validate_accepts_members_of_every_kind(catalogue):
    make_alias("team/other", GPT, enabled=False)
    alias_validate(
        name="team/new", members=[GPT, f"{CLAUDE}:nitro", "local/x", "team/other", "openrouter/auto"]
    )


def test_validate_reports_a_loop_through_a_disabled_alias_too(catalogue):
    make_alias("team/b", "team/a", enabled=False)
    with pytest.raises(ValidationError) as caught:
        alias_validate(name="team/a", members=["team/b"])
    assert caught.value.messages == ["Alias loop: team/a → team/b → team/a."]


def test_validate_ignores_the_saved_members_of_the_alias_being_edited(catalogue):
    alias = make_alias("team/a", "team/b")
    make_alias("team/b", GPT)
    alias_validate(name="team/b", members=[GPT], alias_id=Alias.objects.get(name="team/b").pk)
    with pytest.raises(ValidationError) as caught:
        alias_validate(name="team/b", members=["team/a"], alias_id=Alias.objects.get(name="team/b").pk)
    assert caught.value.messages == ["Alias loop: team/b → team/a → team/b."]
    alias_validate(name="team/a", members=[CLAUDE], alias_id=alias.pk)


# ---- aliases_load ----


def test_load_flattens_nested_aliases_in_place_with_the_stricter_ceiling(
    catalogue, django_assert_num_queries
):
    inner = Alias.objects.create(name="team/inner", strategy="cheapest")
    AliasMember.objects.create(alias=inner, model=CLAUDE, position=1)
    AliasMember.objects.create(alias=inner, model=DEEPSEEK, position=0, max_price_per_million=Decimal("3"))
    AliasMember.objects.create(alias=inner, model="local/x", position=2, max_price_per_million=Decimal("1"))
    make_alias("team/off", "local/off", enabled=False)
    outer = Alias.objects.create(name="team/outer", strategy="weighted")
    AliasMember.objects.create(alias=outer, model=GPT, position=0, weight=2)
    AliasMember.objects.create(
        alias=outer, model="team/inner", position=1, max_price_per_million=Decimal("2")
    )
    AliasMember.objects.create(alias=outer, model="team/off", position=2)
    AliasMember.objects.create(alias=outer, model=DEEPSEEK, position=3, weight=9)

    with django_assert_num_queries(2):
        loaded = aliases_load()

    assert loaded == {
        "team/inner": AliasSpec(
            "team/inner",
            "cheapest",
            (
                AliasMemberSpec(DEEPSEEK, 1, Decimal("3")),
                AliasMemberSpec(CLAUDE, 1, None),
                AliasMemberSpec("local/x", 1, Decimal("1")),
            ),
        ),
        "team/outer": AliasSpec(
            "team/outer",
            "weighted",
            (
                AliasMemberSpec(GPT, 2, None),
                AliasMemberSpec(DEEPSEEK, 1, Decimal("2")),
                AliasMemberSpec(CLAUDE, 1, Decimal("2")),
                AliasMemberSpec("local/x", 1, Decimal("1")),
            ),
        ),
    }


def test_load_orders_members_by_position_then_id(catalogue):
    alias = Alias.objects.create(name="team/a")
    for model in (DEEPSEEK, GPT, CLAUDE):
        AliasMember.objects.create(alias=alias, model=model, position=1 if model == DEEPSEEK else 0)

    assert [m.model for m in aliases_load()["team/a"].members] == [GPT, CLAUDE, DEEPSEEK]


def test_load_cuts_loops(catalogue):
    make_alias("team/x", "team/y", GPT)
    make_alias("team/y", "team/x", DEEPSEEK)
    make_alias("team/self", "team/self", CLAUDE)

    loaded = aliases_load()

    assert [m.model for m in loaded["team/x"].members] == [DEEPSEEK, GPT]
    assert [m.model for m in loaded["team/y"].members] == [GPT, DEEPSEEK]
    assert [m.model for m in loaded["team/self"].members] == [CLAUDE]


def test_load_keeps_an_enabled_alias_whose_members_are_all_disabled_aliases_empty(catalogue):
    make_alias("team/off", GPT, enabled=False)
    make_alias("team/on", "team/off")

    assert aliases_load() == {"team/on": AliasSpec("team/on", "ordered", ())}


def test_a_model_listed_twice_is_rejected(admin_client):
    response = admin_client.post(ADD_URL, form_data("team/d", [GPT, CLAUDE, GPT]))

    assert_rejected(response, "Please correct the duplicate data for model.")
    assert Alias.objects.count() == 0
