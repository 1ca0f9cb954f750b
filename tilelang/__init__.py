"""tilelang: a tile DSL compiler."""
