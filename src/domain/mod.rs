//! Domain types parsed once at the edge; handlers never re-check strings.
