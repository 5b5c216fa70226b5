"""Message bodies the way Discord treats them: validation, attachments on create/edit, embeds.

Pure functions over ``discord_models`` objects; the HTTP layer maps :class:`ApiError` to a
JSON error response.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tests.fakes.discord_models import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    JSON,
    StoredAttachment,
    StoredMessage,
    UploadedFile,
    iso_now,
    walk_components,
)

CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
INTERACTION_CREATE_FLAGS = CREATE_FLAGS | FLAG_EPHEMERAL
EDIT_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ATTACHMENTS = 10
MAX_ACTION_ROWS = 5
MAX_V2_COMPONENTS = 40
MAX_EMBED_FIELDS = 25
SELECT_TYPES = {3, 5, 6, 7, 8}


class ApiError(Exception):
    """An error response: ``status`` with Discord's ``{"message", "code", "errors"}`` body."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def form_error(problems: Iterable[tuple[str, str, str]]) -> ApiError:
    """Build the 50035 "Invalid Form Body" error from ``(dotted.path, CODE, message)`` triples."""
    errors: JSON = {}
    for path, code, message in problems:
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return ApiError(400, 50035, "Invalid Form Body", errors)


def too_long(path: str, limit: int) -> tuple[str, str, str]:
    return path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


# --------------------------------------------------------------------------- validation


def validate_message(payload: JSON, files: list[UploadedFile], *, creating: bool) -> None:
    """Raise :class:`ApiError` for a message body Discord would reject."""
    problems: list[tuple[str, str, str]] = []
    flags = int(payload.get("flags") or 0)
    content = payload.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        problems.append(too_long("content", MAX_CONTENT))
    problems += _embed_problems(payload.get("embeds") or [])
    problems += _component_problems(
        payload.get("components") or [], v2=bool(flags & FLAG_COMPONENTS_V2)
    )
    if flags & FLAG_COMPONENTS_V2 and (content or payload.get("embeds")):
        legacy = "The 'content' and 'embeds' fields cannot be used with components v2"
        problems.append(("content", "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2", legacy))
    attachments = payload.get("attachments")
    count = len(attachments) if attachments is not None else len(files)
    if count > MAX_ATTACHMENTS:
        problems.append(("attachments", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
    if problems:
        raise form_error(problems)
    if creating and _is_empty(payload, files):
        raise ApiError(400, 50006, "Cannot send an empty message")


def _is_empty(payload: JSON, files: list[UploadedFile]) -> bool:
    content = payload.get("content") or ""
    return not (
        content.strip()
        or payload.get("embeds")
        or files
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
    )


def _embed_problems(embeds: list[JSON]) -> list[tuple[str, str, str]]:
    problems: list[tuple[str, str, str]] = []
    if len(embeds) > MAX_EMBEDS:
        problems.append(("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
    total = 0
    for i, embed in enumerate(embeds):
        for path, text, limit in _embed_texts(i, embed):
            total += len(text)
            if len(text) > limit:
                problems.append(too_long(path, limit))
        problems += _field_problems(i, embed.get("fields") or [])
    if total > MAX_EMBED_TOTAL:
        problems.append(("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds 6000"))
    return problems


def _embed_texts(i: int, embed: JSON) -> Iterator[tuple[str, str, int]]:
    """``(path, text, limit)`` for every length-limited text of embed ``i``."""
    for key, limit in (("title", 256), ("description", 4096)):
        yield f"embeds.{i}.{key}", str(embed.get(key) or ""), limit
    for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
        yield f"embeds.{i}.{key}.{sub}", str((embed.get(key) or {}).get(sub) or ""), limit
    for j, fld in enumerate(embed.get("fields") or []):
        for key, limit in (("name", 256), ("value", 1024)):
            yield f"embeds.{i}.fields.{j}.{key}", str(fld.get(key) or ""), limit


def _field_problems(i: int, fields: list[JSON]) -> list[tuple[str, str, str]]:
    problems = []
    if len(fields) > MAX_EMBED_FIELDS:
        problems.append((f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer."))
    for j, fld in enumerate(fields):
        for key in ("name", "value"):
            if not str(fld.get(key) or ""):
                required = (f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "Required")
                problems.append(required)
    return problems


def _component_problems(components: list[JSON], *, v2: bool) -> list[tuple[str, str, str]]:
    problems: list[tuple[str, str, str]] = []
    if v2:
        if sum(1 for _ in walk_components(components)) > MAX_V2_COMPONENTS:
            problems.append(("components", "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer."))
    else:
        if len(components) > MAX_ACTION_ROWS:
            problems.append(("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer."))
        for i, row in enumerate(components):
            problems += _row_problems(i, row)
    seen: set[str] = set()
    for component in walk_components(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if len(custom_id) > 100:
            problems.append(too_long("components.custom_id", 100))
        if custom_id in seen:
            problems.append(("components", "COMPONENT_CUSTOM_ID_DUPLICATED", custom_id))
        seen.add(custom_id)
        if component.get("type") == 2 and len(component.get("label") or "") > 80:
            problems.append(too_long("components.label", 80))
    return problems


def _row_problems(i: int, row: JSON) -> list[tuple[str, str, str]]:
    if row.get("type") != 1:
        return [(f"components.{i}.type", "UNION_TYPE_CHOICES", "Value must be an action row.")]
    children = row.get("components") or []
    if not 1 <= len(children) <= 5:
        return [(f"components.{i}.components", "BASE_TYPE_BAD_LENGTH", "Must be 1-5 long.")]
    has_select = any(c.get("type") in SELECT_TYPES for c in children)
    if has_select and len(children) > 1:
        return [(f"components.{i}.components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "Too wide")]
    return []


def validate_modal(data: JSON) -> None:
    problems: list[tuple[str, str, str]] = []
    title = data.get("title") or ""
    if not 1 <= len(title) <= 45:
        problems.append(
            ("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
        )
    if not 1 <= len(data.get("custom_id") or "") <= 100:
        problems.append(("data.custom_id", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long."))
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        problems.append(("data.components", "BASE_TYPE_BAD_LENGTH", "Must be 1-5 long."))
    for component in walk_components(components):
        if len(component.get("label") or "") > 45:
            problems.append(too_long("data.components.label", 45))
        if component.get("type") == 4 and len(component.get("value") or "") > 4000:
            problems.append(too_long("data.components.value", 4000))
    if problems:
        raise form_error(problems)


def validate_choices(data: JSON) -> None:
    choices = data.get("choices") or []
    problems = []
    if len(choices) > 25:
        problems.append(("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    for i, choice in enumerate(choices):
        if not 1 <= len(choice.get("name") or "") <= 100:
            problems.append((f"data.choices.{i}.name", "BASE_TYPE_BAD_LENGTH", "1-100"))
    if problems:
        raise form_error(problems)


def check_upload_size(files: list[UploadedFile], limit: int) -> None:
    if any(len(f.data) > limit for f in files):
        raise ApiError(413, 40005, "Request entity too large")


# --------------------------------------------------------------------------- applying bodies

AttachmentFactory = Callable[[UploadedFile, JSON], StoredAttachment]


def apply_message_body(
    message: StoredMessage,
    payload: JSON,
    files: list[UploadedFile],
    new_attachment: AttachmentFactory,
    *,
    creating: bool,
    allowed_flags: int,
) -> None:
    """Apply a create/edit body to ``message`` (content, embeds, components, flags, files)."""
    if "content" in payload:
        message.content = payload["content"] or ""
    if "components" in payload:
        message.components = assign_component_ids(payload["components"] or [])
    if payload.get("flags") is not None:
        requested = int(payload["flags"]) & allowed_flags
        keep = 0 if creating else message.flags & ~EDIT_FLAGS
        message.flags = keep | requested
    if "attachments" in payload or files:
        message.attachments = merge_attachments(
            payload.get("attachments"), files, message.attachments, new_attachment
        )
    if "embeds" in payload:
        message.embeds = [_normalize_embed(e) for e in payload["embeds"] or []]
    message.embeds = resolve_embed_attachments(message.embeds, message.attachments)
    if not creating:
        message.edited_timestamp = iso_now()
        message.edits += 1


def merge_attachments(
    spec: list[JSON] | None,
    files: list[UploadedFile],
    existing: list[StoredAttachment],
    new_attachment: AttachmentFactory,
) -> list[StoredAttachment]:
    """Discord's rule: ``attachments`` lists everything kept (existing ids) plus new uploads
    (``id`` = index ``n`` of ``files[n]``).  Without ``attachments``, uploads are appended."""
    by_index = {(f.index if f.index is not None else pos): f for pos, f in enumerate(files)}
    if spec is None:
        return [*existing, *(new_attachment(f, {}) for f in files)]
    by_id = {a.id: a for a in existing}
    result: list[StoredAttachment] = []
    used: set[int] = set()
    problems = []
    for i, entry in enumerate(spec):
        ref = int(entry.get("id", -1))
        if ref in by_id:
            kept = by_id[ref]
            if "description" in entry:
                kept.description = entry["description"]
            result.append(kept)
        elif ref in by_index:
            used.add(ref)
            result.append(new_attachment(by_index[ref], entry))
        else:
            problems.append((f"attachments.{i}.id", "ATTACHMENT_NOT_FOUND", f"Unknown {ref}"))
    if problems:
        raise form_error(problems)
    result += [new_attachment(f, {}) for n, f in by_index.items() if n not in used]
    return result


def make_attachment(
    attachment_id: int, upload: UploadedFile, entry: JSON, url: str
) -> StoredAttachment:
    filename = entry.get("filename") or upload.filename
    width, height = image_size(upload.data)
    return StoredAttachment(
        id=attachment_id,
        filename=filename,
        data=upload.data,
        url=url,
        content_type=sniff_content_type(filename, upload.content_type),
        description=entry.get("description"),
        width=width,
        height=height,
    )


def sniff_content_type(filename: str, declared: str | None) -> str | None:
    """discord.py uploads everything as octet-stream; Discord derives the real type."""
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or declared


def image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.width, image.height
    except Exception:
        return None, None


def assign_component_ids(components: list[JSON]) -> list[JSON]:
    """Discord numbers components that have no ``id``; it echoes them back in the message."""
    taken = {c["id"] for c in walk_components(components) if isinstance(c.get("id"), int)}
    next_id = 1
    for component in walk_components(components):
        if isinstance(component.get("id"), int):
            continue
        while next_id in taken:
            next_id += 1
        component["id"] = next_id
        taken.add(next_id)
    return components


def _normalize_embed(embed: JSON) -> JSON:
    return {"type": "rich", **embed}


def resolve_embed_attachments(
    embeds: list[JSON], attachments: list[StoredAttachment]
) -> list[JSON]:
    """Point ``attachment://name`` URLs (image, thumbnail, author/footer icons) at the
    attachment's CDN URL, as Discord does when it stores the message."""
    by_name = {a.filename: a for a in attachments}

    def resolve(url: Any) -> StoredAttachment | None:
        if isinstance(url, str) and url.startswith("attachment://"):
            return by_name.get(url.removeprefix("attachment://"))
        return None

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(v) for v in node]
        if not isinstance(node, dict):
            return node
        fixed = {k: fix(v) for k, v in node.items()}
        if found := resolve(fixed.get("url")):
            fixed.update(url=found.url, proxy_url=found.url)
            if found.width and found.height:
                fixed.update(width=found.width, height=found.height)
        if found := resolve(fixed.get("icon_url")):
            fixed["icon_url"] = found.url
        return fixed

    return [fix(e) for e in embeds]
