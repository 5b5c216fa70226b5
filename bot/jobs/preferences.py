"""Members' `/settings` defaults and the styles their prompts may use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.core.asked import (
    DEFAULT_STYLES,
    MemberDefaults,
    check_style_name,
    check_template,
    parse_styles,
)
from bot.core.errors import ConfigError, RequestValidationError
from bot.core.localizable import N_
from bot.storage.protocols import PreferenceStore

#: a server's own styles: enough for any community, few enough to list and autocomplete
MAX_SERVER_STYLES = 50


def load_styles(path: Path | None) -> dict[str, str]:
    """The operator's styles from ``STYLES_PATH`` (TOML), or the shipped set when unset."""
    if path is None:
        return dict(DEFAULT_STYLES)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("STYLES_PATH", f"cannot read {path}: {exc.__class__.__name__}") from None
    try:
        styles = parse_styles(text)
    except ValueError as exc:
        raise ConfigError("STYLES_PATH", f"{path}: {exc}") from None
    if not styles:
        raise ConfigError("STYLES_PATH", f"{path} defines no style")
    return styles


class Preferences:
    """Reads and changes members' defaults and servers' styles through the store."""

    def __init__(self, store: PreferenceStore, operator_styles: Mapping[str, str]) -> None:
        self._store = store
        self.operator_styles = dict(operator_styles)

    async def defaults(self, guild_id: int, user_id: int) -> MemberDefaults:
        """The member's defaults in the guild."""
        return await self._store.member_defaults(guild_id, user_id)

    async def save(self, guild_id: int, user_id: int, defaults: MemberDefaults) -> None:
        """Store the member's defaults (already checked by the caller)."""
        await self._store.set_member_defaults(guild_id, user_id, defaults)

    async def reset(self, guild_id: int, user_id: int) -> bool:
        """Forget the member's defaults; True when there were any."""
        return await self._store.clear_member_defaults(guild_id, user_id)

    async def styles(self, guild_id: int) -> dict[str, str]:
        """Every style usable in the guild: the server's, then the operator's it doesn't shadow."""
        server = await self._store.guild_styles(guild_id)
        return {**server, **{k: v for k, v in self.operator_styles.items() if k not in server}}

    async def server_styles(self, guild_id: int) -> dict[str, str]:
        """The styles the guild's moderators added."""
        return await self._store.guild_styles(guild_id)

    async def template(self, guild_id: int, name: str) -> tuple[str, str]:
        """The style's name (normalised) and template; a clear error naming the choices."""
        styles = await self.styles(guild_id)
        key = name.strip().lower()
        if key not in styles:
            raise RequestValidationError(
                "style", N_("there is no style `{name}` here."), sorted(styles)[:25], name=name[:40]
            )
        return key, styles[key]

    async def add_style(self, guild_id: int, name: str, template: str, by: int) -> tuple[str, bool]:
        """Add or replace a server style: its checked name, and whether it replaced one."""
        key = check_style_name(name)
        template = check_template(template)
        server = await self._store.guild_styles(guild_id)
        if key not in server and len(server) >= MAX_SERVER_STYLES:
            raise RequestValidationError(
                "name",
                N_("this server has {count} styles, the most it may keep; remove one first."),
                count=MAX_SERVER_STYLES,
            )
        replaced = await self._store.put_guild_style(guild_id, key, template, by)
        return key, replaced

    async def remove_style(self, guild_id: int, name: str) -> bool:
        """Remove a server style; True when it existed."""
        return await self._store.remove_guild_style(guild_id, name.strip().lower())
