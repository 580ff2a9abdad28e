"""Tests against real services outside the repository, each skipped unless its service is named."""
