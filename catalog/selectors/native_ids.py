"""Other names of current catalogue models: a provider's own model id (Anthropic's `claude-sonnet-4-...`)
as OpenRouter records it in `canonical_slug` or `hugging_face_id`, for the gateway's Messages endpoint."""

from __future__ import annotations

from catalog.models import CatalogModel


def native_model_ids() -> dict[str, str | None]:
    """name -> the one current model id it names, or None when it names several. The names of a model are
    its canonical_slug and hugging_face_id, each also without its `author/` part; a model's own id is not
    among them (it is known as it is)."""
    names: dict[str, str | None] = {}
    rows = CatalogModel.objects.filter(retired_at__isnull=True).values_list(
        "model_id", "canonical_slug", "hugging_face_id"
    )
    ids = set()
    for model_id, slug, hugging_face in rows:
        ids.add(model_id)
        own = set()
        for name in (slug, hugging_face):
            if name:
                own.add(name)
                own.add(name.rsplit("/", 1)[-1])
        for name in own:
            names[name] = model_id if names.get(name, model_id) == model_id else None
    return {name: model_id for name, model_id in names.items() if name not in ids}
