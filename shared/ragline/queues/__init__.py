"""Adapters of the EventQueue port (:class:`ragline.ports.EventQueue`)."""
