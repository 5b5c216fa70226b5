"""Localisation: gettext catalogs compiled from ``bot/locales``, Babel number and date formats."""
