"""Infrastructure, the ground floor: errors, safe loading, atomic writes, work-dir ownership, locks, CLI, CPU settings."""
