"""Person linkage, households and stable ids."""
