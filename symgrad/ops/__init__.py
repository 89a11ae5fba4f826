"""symgrad's ops: elementwise (SymPy-backed), reductions, matrix products, shape ops, integer-array
indexing, arange/alloc, and the gradient stop."""
