"""Theano's ``theano.sparse`` is deliberately left out; importing it says so and what to use instead."""

raise ImportError(
    "symgrad has no sparse tensors (Theano's theano.sparse): sparse kernels and their gradients are left "
    "out. Use dense tensors (T.dot of a dense matrix), or keep the sparse product outside the graph with "
    "scipy.sparse and pass its result in as an input"
)
