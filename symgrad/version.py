"""symgrad's version, in a module of its own so that the back end can read it without the front end."""

__version__ = "0.1.0"
