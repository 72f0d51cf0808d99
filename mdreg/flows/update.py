"""``update_model``: merge tag and metadata edits into a model's record."""

from __future__ import annotations

from dataclasses import dataclass, field

from mdreg.catalog.base import Catalog, ModelRecord, ModelUpdate
from mdreg.errors import InputError, UsageError


@dataclass
class ModelEdit:
    display_name: str | None = None
    description: str | None = None
    set_tags: dict[str, str] = field(default_factory=dict)
    remove_tags: list[str] = field(default_factory=list)
    set_metadata: dict[str, str] = field(default_factory=dict)  # custom metadata, category Other
    remove_metadata: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return (
            self.display_name is None
            and self.description is None
            and not self.set_tags
            and not self.remove_tags
            and not self.set_metadata
            and not self.remove_metadata
        )


def update_model(catalog: Catalog, model_id: str, edit: ModelEdit) -> ModelRecord:
    """Apply ``edit`` to the model; the limits are checked before anything changes."""
    if edit.empty:
        raise UsageError(
            "nothing to update: give --display-name, --description, --tag, "
            "--remove-tag, --metadata or --remove-metadata"
        )
    record = catalog.get(model_id)
    changes = ModelUpdate(display_name=edit.display_name, description=edit.description)
    if edit.set_tags or edit.remove_tags:
        tags = dict(record.freeform_tags)
        for key in edit.remove_tags:
            if key not in tags:
                raise InputError(f"{model_id} has no tag {key!r}")
            del tags[key]
        tags.update(edit.set_tags)
        changes.freeform_tags = tags
    if edit.set_metadata or edit.remove_metadata:
        items = [dict(i) for i in record.custom_metadata_list]
        keys = {i["key"] for i in items}
        for key in edit.remove_metadata:
            if key not in keys:
                raise InputError(f"{model_id} has no custom metadata {key!r}")
        items = [i for i in items if i["key"] not in edit.remove_metadata]
        for key, value in edit.set_metadata.items():
            found = next((i for i in items if i["key"] == key), None)
            if found is not None:
                found["value"] = value
            else:
                items.append({"key": key, "value": value, "category": "Other", "description": ""})
        changes.custom_metadata_list = items
    return catalog.update(model_id, changes)
