"""Robot links: one small interface (``Robot``, ``Camera``) and a backend per kind of lab setup."""
