"""symgrad's ops: elementwise (SymPy-backed), reductions, matrix products and shape ops."""
