"""symgrad's back end: from an optimized graph to a compiled callable."""
