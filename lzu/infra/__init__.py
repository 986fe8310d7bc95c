"""Infrastructure: errors, safe loading, atomic writes, work-dir ownership, config/runtime glue, entry points."""
