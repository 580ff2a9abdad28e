"""Contract suites: one set of behaviours every adapter of a port must show, run against each adapter."""
