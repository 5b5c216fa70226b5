"""The provider registry: adding a provider is adding one module and one line here."""

from __future__ import annotations

from bot.providers.apikley import ApikleyProvider
from bot.providers.apiyi import ApiyiProvider
from bot.providers.ark import ArkProvider
from bot.providers.base import Capabilities, ModelSpec, Provider, ProviderConfig
from bot.providers.pixazo import PixazoProvider
from bot.providers.poyo import PoyoProvider
from bot.providers.vidgo import VidgoProvider

#: every known provider, in the default failover order
PROVIDER_TYPES: dict[str, type[Provider]] = {
    cls.name: cls
    for cls in (
        PoyoProvider,
        VidgoProvider,
        PixazoProvider,
        ApikleyProvider,
        ApiyiProvider,
        ArkProvider,
    )
}

__all__ = ["PROVIDER_TYPES", "Capabilities", "ModelSpec", "Provider", "ProviderConfig"]
