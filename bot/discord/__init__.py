"""The Discord layer: rendering, buttons, delivery and reference images (glue only)."""
