"""Run and entry-point glue, the top floor (above ``lzu.openmmlab``): configs, data checks, train/test."""
