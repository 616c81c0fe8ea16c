# tests/module.mk: sources of tests/ (explicit list)
