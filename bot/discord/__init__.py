"""The Discord layer: the client and its tree, permission checks, replies, the desk every door
uses, posting of cards and results, rendering, views and reference images."""
