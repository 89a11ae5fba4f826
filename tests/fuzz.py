"""Random well-typed expression graphs, their NumPy reference, and the comparison rules.

A graph is grown from the output down (:class:`GraphBuilder`): asked for an expression with
given dimensions, the builder picks an op that can produce them and asks recursively for its
operands' dimensions, down to fresh or reused inputs. A dimension is an id with one run-time
length shared by every tensor that has it (0 to 4, so size-0 and size-1 dimensions occur), or
``None``: a dimension of static length 1 that broadcasts. Ops: every elementwise function of
``SCALAR_OPS``, reductions over one or two axes with and without ``keepdims`` (sum, prod, max, min,
mean, var, std, logsumexp), ``dot`` in all its 1-d/2-d forms, ``outer``, transposes, broadcasting
dimshuffles, slices, integer indices and gathers, set_subtensor and inc_subtensor, concatenate and
stack, ``flatten``, softmax, log_softmax, argmax and argmin, switch, ifelse and clip, and random
draws (uniform or normal, under a shared state) multiplying an expression. With
``arrays=True`` (the "arrays" kind) also the linear algebra (solves, Cholesky, ``cho_solve``, inverse,
determinants, ``eigvalsh``, QR's R, singular values; square operands built well-conditioned, ``X X^T
+ (n + 1) I`` from an expression ``X``) and NumPy's array functions (cumsum, cumprod, sort, diff,
flip, roll, tril/triu, stacked ``@``, ``einsum``).

Discontinuous functions (floor, ceil, sign, //, %, comparisons, argmax) are applied to inputs
only: on a computed value, a rounding difference of one ulp could move it across a jump, which is
no bug.

The reference is the graph evaluated node by node with each op's ``perform`` (its NumPy
implementation). The comparison rules, and why:

- where the reference is nan, the compiled value must be nan, and only there; where it is
  +-inf, the same inf;
- elsewhere ``|got - want| <= rtol * (|want| + scale)``, rtol 1e-12 for float64 and 1e-5 for
  float32. ``scale`` is the largest magnitude among the output's ancestors (inputs included),
  times the number of elements of the largest of them: fused kernels reassociate ('reassoc'
  fastmath) and contract to FMAs, and SymPy combines terms when it substitutes one node into
  another, so a rounding error of a large intermediate (or of a sum's terms) can surface in a
  small result.

Gradients (float64 only) are checked against central differences of ``sum(w * output)`` for a
fixed random ``w``, except where the graph is not differentiable at the point: near a kink (abs,
relu, maximum, minimum, clip, max/min reductions and argmax/argmin with a near tie, switch and
ifelse conditions, jumps of discontinuous functions, zeros of prod) or where a value is not finite.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import hypothesis
import numpy as np
from hypothesis import strategies as st

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import Constant, Variable, toposort
from symgrad.ifelse import IfElse, ifelse
from symgrad.ops.elemwise import SCALAR_OPS, elemwise
from symgrad.ops.random import random_draw
from symgrad.shared import SharedVariable

RTOL = {"float64": 1e-12, "float32": 1e-5}
# Continuous, float-valued elementwise functions, with the ones defined only on part of the line
# included on purpose: they give nan (or inf) there in the reference as in the compiled code.
# (invert, NumPy's bitwise not, takes integers and booleans only: its reference raises for floats.)
UNARY = sorted(
    name
    for name, op in SCALAR_OPS.items()
    if op.arity == 1
    and name not in ("sign", "floor", "ceil", "round", "identity")
    and op.dtype_rule in ("promote", "float")
)
BINARY = ["add", "sub", "mul", "true_div", "pow", "maximum", "minimum", "arctan2"]
JUMPS = ["sign", "floor", "ceil", "round"]
CONSTANTS = [-2.5, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0]
LENGTHS = [0, 1, 2, 3, 4]
# Slices, each with the length of a dimension it gives a result of length n.
SLICES = {
    "1:": (slice(1, None), lambda n: n + 1),
    ":-1": (slice(None, -1), lambda n: n + 1),
    "::2": (slice(None, None, 2), lambda n: 2 * n),
    "::-1": (slice(None, None, -1), lambda n: n),
}


@dataclass
class GraphBuilder:
    """Grows one random graph; ``draw`` is Hypothesis's ``data.draw``."""

    draw: object
    dtype: str
    lengths: dict[int, int] = field(default_factory=dict)
    inputs: list[tuple[Variable, tuple]] = field(default_factory=list)
    # With shared=True about half the new inputs are shared variables (their values are set later).
    shared: bool = False
    # With a list, every expression built is recorded there, and an operand may be one of them, so
    # that several outputs share subgraphs. Only expressions: the discontinuous functions still
    # take inputs (``leaf``).
    pool: list[tuple[Variable, tuple]] | None = None
    # With arrays=True, the linear algebra and NumPy's array functions are drawn too.
    arrays: bool = False

    def pick(self, options):
        """One of ``options``, all about equally likely (``sampled_from`` favours the first ones)."""
        options = list(options)
        return options[self.draw(st.integers(0, 2**16)) % len(options)]

    def new_dim(self, length: int | None = None) -> int:
        dim = len(self.lengths)
        self.lengths[dim] = self.pick(LENGTHS) if length is None else length
        return dim

    def shape(self, dims: tuple) -> tuple[int, ...]:
        return tuple(1 if d is None else self.lengths[d] for d in dims)

    # --- leaves -----------------------------------------------------------------------------
    def leaf(self, dims: tuple) -> Variable:
        """An input with exactly these dimensions: one made before, or a new one."""
        same = [v for v, d in self.inputs if d == dims]
        if same and self.draw(st.booleans()):
            return self.pick(same)
        static = [1 if d is None else None for d in dims]
        if self.shared and self.draw(st.booleans()):
            var = theano.shared(np.zeros(self.shape(dims), self.dtype), name=f"s{len(self.inputs)}", shape=static)
        else:
            var = T.tensor(self.dtype, static, name=f"x{len(self.inputs)}")
        self.inputs.append((var, dims))
        return var

    def operand(self, dims: tuple) -> Variable:
        """An expression built before with these dimensions (with a pool), or an input."""
        same = [v for v, d in self.pool or () if d == dims]
        if same and self.draw(st.booleans()):
            return self.pick(same)
        return self.leaf(dims)

    def constant(self) -> float:
        return self.pick(CONSTANTS)

    # --- the recursive choice of an op --------------------------------------------------------
    def expr(self, dims: tuple, depth: int) -> Variable:
        out = self._expr(dims, depth)
        if self.pool is not None and out.owner is not None:
            self.pool.append((out, dims))
        return out

    def _expr(self, dims: tuple, depth: int) -> Variable:
        if depth <= 0:
            return self.operand(dims)
        choices = ["leaf", "unary", "binary", "binary", "jump", "switch", "clip", "reduce", "reduce"]
        if any(d is not None for d in dims):
            choices += ["slice", "softmax"]
        if len(dims) <= 2 and all(d is not None for d in dims):
            choices += ["dot", "dot"]
        if len(dims) >= 2:
            choices += ["transpose"]
        if None in dims:
            choices += ["broadcast"]
        if dims and dims[-1] is not None:
            choices += ["flatten"]
        if any(d is not None for d in dims):
            choices += ["join", "set_subtensor"]
        if len(dims) == 2 and None not in dims:
            choices += ["outer"]
        if len(dims) < 4:
            choices += ["index", "argmax", "ifelse"]
        choices += ["random"]
        if self.arrays:
            choices += self.array_choices(dims)
        kind = self.pick(choices)
        return getattr(self, f"make_{kind}")(dims, depth - 1)

    def make_leaf(self, dims: tuple, depth: int) -> Variable:
        return self.operand(dims)

    def make_unary(self, dims: tuple, depth: int) -> Variable:
        return elemwise(self.pick(UNARY), self.expr(dims, depth))

    def operand_dims(self, dims: tuple) -> tuple:
        """Dimensions of an operand that broadcasts to ``dims``: some dropped on the left, some 1."""
        drop = self.draw(st.integers(0, len(dims)))
        return tuple(None if d is None or self.draw(st.integers(0, 3)) == 0 else d for d in dims[drop:])

    def make_binary(self, dims: tuple, depth: int) -> Variable:
        name = self.pick(BINARY)
        a = self.expr(self.operand_dims(dims), depth)
        b = self.constant() if self.draw(st.integers(0, 3)) == 0 else self.expr(self.operand_dims(dims), depth)
        if self.draw(st.booleans()):
            a, b = b, a
        return self.fit(elemwise(name, a, b), dims)

    def fit(self, x: Variable, dims: tuple) -> Variable:
        """``x``, whose operands all broadcast, with exactly the dimensions ``dims``: padded on the
        left, and added to an input that has the dimensions it lacks."""
        if x.ndim < len(dims):
            x = x.dimshuffle(*(["x"] * (len(dims) - x.ndim) + list(range(x.ndim))))
        if x.broadcastable != tuple(d is None for d in dims):
            x = elemwise("add", x, self.leaf(dims))
        return x

    def make_jump(self, dims: tuple, depth: int) -> Variable:
        name = self.pick([*JUMPS, "floor_div", "mod", "comparison"])
        x = self.leaf(self.operand_dims(dims))
        if name in JUMPS:
            out = elemwise(name, x)
        elif name == "comparison":
            op = self.pick(["lt", "le", "gt", "ge", "eq", "neq"])
            out = T.cast(elemwise(op, x, self.constant()), self.dtype)
        else:
            out = elemwise(name, x, self.pick([0.75, 1.5, -2.0, 3.0]))
        return self.fit(out, dims)

    def make_switch(self, dims: tuple, depth: int) -> Variable:
        op = self.pick(["lt", "gt", "ge"])
        condition = elemwise(op, self.leaf(self.operand_dims(dims)), self.constant())
        a = self.expr(dims, depth)
        b = self.constant() if self.draw(st.booleans()) else self.expr(self.operand_dims(dims), depth)
        return T.switch(condition, a, b)

    def make_clip(self, dims: tuple, depth: int) -> Variable:
        low = self.pick([-2.0, -0.5, 0.0])
        return T.clip(self.expr(dims, depth), low, low + self.pick([0.5, 1.0, 3.0]))

    def make_reduce(self, dims: tuple, depth: int) -> Variable:
        how = self.pick(["sum", "prod", "max", "min", "mean", "var", "std", "logsumexp"])
        keepdims = None in dims and self.draw(st.booleans())
        if keepdims:  # a static-1 dimension of the result is the reduced one
            position = self.pick([i for i, d in enumerate(dims) if d is None])
            operand = dims[:position] + (self.new_dim(),) + dims[position + 1 :]
            axis: int | tuple[int, ...] = position
        else:
            position = self.draw(st.integers(0, len(dims)))
            extra = tuple(self.new_dim() for _ in range(self.draw(st.integers(1, 2 if len(dims) < 3 else 1))))
            operand = dims[:position] + extra + dims[position:]
            axis = tuple(range(position, position + len(extra)))
            axis = axis[0] if len(axis) == 1 and self.draw(st.booleans()) else axis
        x = self.expr(operand, depth)
        if how == "logsumexp":
            return T.logsumexp(x, axis=axis, keepdims=keepdims)
        return getattr(T, how)(x, axis=axis, keepdims=keepdims)

    def make_dot(self, dims: tuple, depth: int) -> Variable:
        inner = self.new_dim()
        if len(dims) == 2:
            forms = [((dims[0], inner), (inner, dims[1]))]
        elif len(dims) == 1:
            forms = [((dims[0], inner), (inner,)), ((inner,), (inner, dims[0]))]
        else:
            forms = [((inner,), (inner,))]
        a_dims, b_dims = self.pick(forms)
        return T.dot(self.expr(a_dims, depth), self.expr(b_dims, depth))

    def make_transpose(self, dims: tuple, depth: int) -> Variable:
        order = self.draw(st.permutations(range(len(dims))))
        source = [None] * len(dims)
        for position, d in enumerate(order):
            source[d] = dims[position]
        return self.expr(tuple(source), depth).dimshuffle(*order)

    def make_broadcast(self, dims: tuple, depth: int) -> Variable:
        kept = tuple(d for d in dims if d is not None)
        pattern, k = [], 0
        for d in dims:
            if d is None:
                pattern.append("x")
            else:
                pattern.append(k)
                k += 1
        return self.expr(kept, depth).dimshuffle(*pattern)

    def make_slice(self, dims: tuple, depth: int) -> Variable:
        position = self.pick([i for i, d in enumerate(dims) if d is not None])
        length = self.lengths[dims[position]]
        item, source_length = SLICES[self.pick(sorted(SLICES))]
        source = dims[:position] + (self.new_dim(source_length(length)),) + dims[position + 1 :]
        return self.expr(source, depth)[(slice(None),) * position + (item,)]

    def make_flatten(self, dims: tuple, depth: int) -> Variable:
        length = self.lengths[dims[-1]]
        splits = [(1, length), (length, 1)] + [(a, length // a) for a in (2, 3) if length and length % a == 0]
        a, b = self.pick(splits)
        source = dims[:-1] + (self.new_dim(a), self.new_dim(b))
        if len(source) > 4:
            return self.make_unary(dims, depth)
        return T.flatten(self.expr(source, depth), ndim=len(dims))

    def make_join(self, dims: tuple, depth: int) -> Variable:
        """Two operands concatenated along a dimension split in two (a part may be empty), or, for
        a dimension of length 2, stacked along it."""
        position = self.pick([i for i, d in enumerate(dims) if d is not None])
        length = self.lengths[dims[position]]
        if length == 2 and self.draw(st.booleans()):
            rest = dims[:position] + dims[position + 1 :]
            return T.stack([self.expr(rest, depth), self.expr(rest, depth)], axis=position)
        first = self.draw(st.integers(0, length))
        parts = [dims[:position] + (self.new_dim(n),) + dims[position + 1 :] for n in (first, length - first)]
        return T.concatenate([self.expr(part, depth) for part in parts], axis=position)

    def make_outer(self, dims: tuple, depth: int) -> Variable:
        return T.outer(self.expr(dims[:1], depth), self.expr(dims[1:], depth))

    def make_index(self, dims: tuple, depth: int) -> Variable:
        """An integer index that drops a dimension (negative ones too), or a gather along the first
        dimension by a constant index array (repeats and negative indices included)."""
        if dims and dims[0] is not None and self.draw(st.booleans()):
            wanted = self.lengths[dims[0]]
            source = self.new_dim(self.draw(st.integers(1 if wanted else 0, 4)))
            n = self.lengths[source]
            index = np.array([self.draw(st.integers(-n, n - 1)) for _ in range(wanted)], dtype="int64")
            return self.expr((source, *dims[1:]), depth)[index]
        position = self.draw(st.integers(0, len(dims)))
        n = self.draw(st.integers(1, 4))
        source = dims[:position] + (self.new_dim(n),) + dims[position:]
        return self.expr(source, depth)[(slice(None),) * position + (self.draw(st.integers(-n, n - 1)),)]

    def make_set_subtensor(self, dims: tuple, depth: int) -> Variable:
        """set_subtensor or inc_subtensor of a slice, by a value that may broadcast into it."""
        position = self.pick([i for i, d in enumerate(dims) if d is not None])
        item = SLICES[self.pick(sorted(SLICES))][0]
        region = (
            dims[:position] + (self.new_dim(len(range(self.lengths[dims[position]])[item])),) + dims[position + 1 :]
        )
        x = self.expr(dims, depth)
        value = self.expr(self.operand_dims(region), depth)
        update = self.pick([T.set_subtensor, T.inc_subtensor])
        return update(x[(slice(None),) * position + (item,)], value)

    def make_argmax(self, dims: tuple, depth: int) -> Variable:
        """argmax or argmin of an input (piecewise constant: of inputs only, as the jumps), as a float."""
        position = self.draw(st.integers(0, len(dims)))
        source = dims[:position] + (self.new_dim(self.draw(st.integers(1, 4))),) + dims[position:]
        which = self.pick([T.argmax, T.argmin])
        return T.cast(which(self.leaf(source), axis=position), self.dtype)

    def make_ifelse(self, dims: tuple, depth: int) -> Variable:
        condition = elemwise(self.pick(["lt", "gt"]), self.leaf(()), self.constant())
        return ifelse(condition, self.expr(dims, depth), self.expr(dims, depth))

    def make_random(self, dims: tuple, depth: int) -> Variable:
        """An expression times a draw of its shape (known now: the lengths are drawn first), under a
        state of its own; the reference reads the state's value."""
        state = theano.shared(np.array([self.draw(st.integers(0, 2**64 - 1)), self.draw(st.integers(0, 99))],
                                       dtype=np.uint64), name=f"rng{len(self.inputs)}")  # fmt: skip
        drawn = random_draw(self.pick(["uniform", "normal"]), state, self.shape(dims), self.dtype)
        return self.fit(elemwise("mul", drawn, self.expr(dims, depth)), dims)

    def make_softmax(self, dims: tuple, depth: int) -> Variable:
        axis = self.pick([i for i, d in enumerate(dims) if d is not None])
        fn = self.pick([T.nnet.softmax, T.nnet.log_softmax])
        return fn(self.expr(dims, depth), axis=axis)

    # --- linear algebra and NumPy's array functions (arrays=True) ------------------------------
    def array_choices(self, dims: tuple) -> list[str]:
        """The kinds that can give ``dims``, each twice: the other kinds outnumber them."""
        kinds = ["linalg_scalar"] if not dims else []
        if len(dims) in (1, 2) and dims[0] is not None:
            kinds += ["linalg_solve"]
        if len(dims) == 1 and dims[0] is not None:
            kinds += ["linalg_vector"]
        if any(d is not None for d in dims):
            kinds += ["cumulative", "diff", "flip_roll"]
        if len(dims) == 2:
            kinds += ["triangle", "einsum"]
        if len(dims) == 3 and None not in dims[1:]:
            kinds += ["stacked_matmul"]
        return kinds * 2

    def positive_definite(self, n) -> Variable:
        """``X X^T + (n + 1) I`` for an expression ``X`` of ``n`` rows: symmetric, well conditioned."""
        x = self.expr((n, self.new_dim(self.pick([1, 2, 3]))), 1)
        return T.dot(x, x.T) + (self.lengths[n] + 1.0) * T.eye(self.lengths[n], dtype=self.dtype)

    def make_linalg_solve(self, dims: tuple, depth: int) -> Variable:
        """A solve with a well-conditioned matrix (general, positive definite, triangular, by the
        inverse or the Cholesky factor), or a product with the Cholesky factor."""
        a = self.positive_definite(dims[0])
        b = self.expr(dims, depth)
        how = self.pick(["solve", "pos", "sym", "cho_solve", "triangular", "inv", "cholesky"])
        if how == "cho_solve":
            return T.slinalg.cho_solve((T.slinalg.cholesky(a), True), b)
        if how == "triangular":
            return T.slinalg.solve_triangular(T.slinalg.cholesky(a), b, lower=True, trans=self.pick([0, 1]))
        if how == "inv":
            return T.dot(T.nlinalg.inv(a), b)
        if how == "cholesky":
            return T.dot(T.slinalg.cholesky(a), b)
        return T.slinalg.solve(a, b, assume_a={"solve": "gen"}.get(how, how), lower=self.draw(st.booleans()))

    def make_linalg_scalar(self, dims: tuple, depth: int) -> Variable:
        """A determinant or log-determinant of a well-conditioned matrix (scaled to stay small)."""
        a = self.positive_definite(self.new_dim(self.pick([1, 2, 3])))
        how = self.pick(["det", "slogdet", "logdet", "logdet_psd"])
        if how == "det":
            return T.log(T.nlinalg.det(a))
        if how == "slogdet":
            return T.nlinalg.slogdet(a)[1]
        return T.nlinalg.logdet(a, psd=how == "logdet_psd")

    def make_linalg_vector(self, dims: tuple, depth: int) -> Variable:
        """Eigenvalues of a well-conditioned symmetric matrix, or its R factor's diagonal, or
        singular values."""
        a = self.positive_definite(dims[0])
        how = self.pick(["eigvalsh", "qr", "svd"])
        if how == "eigvalsh":
            return T.slinalg.eigvalsh(a)
        if how == "qr":  # squared: the signs of R's diagonal are LAPACK's choice
            return T.sqr(T.diagonal(T.nlinalg.qr(a, mode="r")))
        return T.nlinalg.svd(a, compute_uv=False)

    def make_cumulative(self, dims: tuple, depth: int) -> Variable:
        axis = self.pick([i for i, d in enumerate(dims) if d is not None])
        fn = self.pick([T.cumsum, T.cumprod, T.sort])
        return fn(self.expr(dims, depth), axis=axis)

    def make_diff(self, dims: tuple, depth: int) -> Variable:
        axis = self.pick([i for i, d in enumerate(dims) if d is not None])
        source = dims[:axis] + (self.new_dim(self.lengths[dims[axis]] + 1),) + dims[axis + 1 :]
        return T.diff(self.expr(source, depth), axis=axis)

    def make_flip_roll(self, dims: tuple, depth: int) -> Variable:
        axis = self.pick([i for i, d in enumerate(dims) if d is not None])
        x = self.expr(dims, depth)
        return T.flip(x, axis) if self.draw(st.booleans()) else T.roll(x, self.pick([-1, 1, 2]), axis)

    def make_triangle(self, dims: tuple, depth: int) -> Variable:
        return self.pick([T.tril, T.triu])(self.expr(dims, depth), self.pick([-1, 0, 1]))

    def make_einsum(self, dims: tuple, depth: int) -> Variable:
        inner = self.new_dim()
        if self.draw(st.booleans()):
            return T.einsum("ik,kj->ij", self.expr((dims[0], inner), depth), self.expr((inner, dims[1]), depth))
        return T.einsum("ki,jk->ij", self.expr((inner, dims[0]), depth), self.expr((dims[1], inner), depth))

    def make_stacked_matmul(self, dims: tuple, depth: int) -> Variable:
        inner = self.new_dim()
        return self.expr((dims[0], dims[1], inner), depth) @ self.expr((dims[0], inner, dims[2]), depth)


@st.composite
def graphs(draw, max_depth: int = 4, arrays: bool = False):
    """``(dtype, inputs, outputs, values)``: a random graph and random values for its inputs."""
    dtype = draw(st.sampled_from(["float64", "float32"]))
    builder = GraphBuilder(draw, dtype, arrays=arrays)
    outputs = []
    for _ in range(draw(st.integers(1, 2))):
        ndim = draw(st.integers(0, 3))
        dims = tuple(None if draw(st.integers(0, 4)) == 0 else builder.new_dim() for _ in range(ndim))
        outputs.append(builder.expr(dims, draw(st.integers(1, max_depth))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = [rng.uniform(-3.0, 3.0, size=builder.shape(dims)).astype(dtype) for _, dims in builder.inputs]
    return dtype, [v for v, _ in builder.inputs], outputs, values


# ------------------------------------------------------------------------------------------------
# The oracle


def evaluate(outputs: list[Variable], inputs: list[Variable], values: list[np.ndarray]) -> dict[int, np.ndarray]:
    """The value (by id) of every variable the outputs need, each node's computed by its op's
    ``perform``; constants (an output may have folded to one) hold their data. As in the compiled
    code, an ifelse evaluates its condition and then only the branch it selects (the other may
    raise: a max over an empty axis)."""
    memo = {id(v): value for v, value in zip(inputs, values)}
    for out in outputs:
        _evaluate(out, memo)
    return memo


def _evaluate(var: Variable, memo: dict[int, np.ndarray]) -> np.ndarray:
    if isinstance(var, Constant):
        memo[id(var)] = var.data
    if isinstance(var, SharedVariable) and id(var) not in memo:  # a random draw's state
        memo[id(var)] = var.get_value()
    if id(var) not in memo:
        node = var.owner
        if isinstance(node.op, IfElse):
            condition, then, otherwise = node.inputs
            taken = then if _evaluate(condition, memo) else otherwise
            args = [memo[id(condition)], *(_evaluate(i, memo) if i is taken else None for i in (then, otherwise))]
        else:
            args = [_evaluate(i, memo) for i in node.inputs]
        with np.errstate(all="ignore"):
            memo[id(var)] = np.asarray(node.op.perform(*args))
    return memo[id(var)]


def evaluated_nodes(outputs: list[Variable], memo: dict[int, np.ndarray]) -> list:
    """The nodes the reference evaluated (not those of an ifelse's unselected branch)."""
    return [node for node in toposort(outputs) if id(node.output) in memo]


def _value(v: Variable, memo: dict[int, np.ndarray]) -> np.ndarray | None:
    """``v``'s value in the reference; None in an ifelse's unselected branch."""
    return v.data if isinstance(v, Constant) else memo.get(id(v))


def scale(output: Variable, memo: dict[int, np.ndarray]) -> float:
    """The largest finite magnitude among ``output``'s ancestors, times the largest of their sizes."""
    largest, size = 1.0, 1
    for node in evaluated_nodes([output], memo):
        for v in (*node.inputs, node.output):
            value = _value(v, memo)
            if value is None:
                continue
            finite = np.abs(value[np.isfinite(value)]) if value.dtype.kind == "f" else np.abs(value)
            if finite.size:
                largest = max(largest, float(finite.max()))
            size = max(size, value.size)
    return largest * size


def mismatch(got: np.ndarray, want: np.ndarray, dtype: str, tolerance_scale: float) -> str | None:
    """Why ``got`` is not an acceptable compiled result for the reference ``want`` (None if it is)."""
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"shape/dtype {got.shape} {got.dtype} != reference {want.shape} {want.dtype}"
    if want.dtype.kind != "f":
        return None if np.array_equal(got, want) else f"{got} != {want}"
    nan = np.isnan(want)
    if not np.array_equal(np.isnan(got), nan):
        return f"nan where the reference has none, or the other way round: {got} vs {want}"
    inf = np.isinf(want)
    if not np.array_equal(got[inf], want[inf]):
        return f"infinities differ: {got} vs {want}"
    finite = ~nan & ~inf
    error = np.abs(got[finite].astype("float64") - want[finite].astype("float64"))
    allowed = RTOL[dtype] * (np.abs(want[finite].astype("float64")) + tolerance_scale)
    if np.any(error > allowed):
        worst = int(np.argmax(error - allowed))
        return f"{got[finite][worst]!r} != {want[finite][worst]!r} (error {error[worst]:.3g} > {allowed[worst]:.3g})"
    return None


# ------------------------------------------------------------------------------------------------
# Where gradients are defined

KINK_DISTANCE = 1e-4


def near_kink(outputs: list[Variable], memo: dict[int, np.ndarray]) -> str | None:
    """Why the graph may not be differentiable at this point (None if it is, everywhere)."""

    for node in evaluated_nodes(outputs, memo):
        out = _value(node.output, memo)
        if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
            return "a value is not finite"
        if out.dtype.kind == "f" and np.any(np.abs(out) > 1e6):
            return "a value is too large for finite differences"
        op, args = node.op, [_value(i, memo) for i in node.inputs]
        name = getattr(op, "name", None) or type(op).__name__
        if name == "Reduce" and op.reduction in ("max", "min") and _near_tie(args[0], op.axes):
            return f"{op.reduction} with a near tie"
        if name == "Argmax" and _near_tie(args[0], range(args[0].ndim) if op.axis is None else (op.axis,)):
            return f"{op.which} with a near tie"
        if name == "Reduce" and op.reduction == "prod" and np.any(np.abs(args[0]) < KINK_DISTANCE):
            return "prod of a near-zero value"
        if name == "ArgSort" and np.any(np.diff(np.sort(args[0], op.axis), axis=op.axis) < KINK_DISTANCE):
            return "sort with a near tie"
        if type(op).__name__ != "Elemwise":
            continue
        expr = op.expr
        for kink in _kinks(expr):
            with np.errstate(all="ignore"):
                distance = np.asarray(kink(*args))
            if np.any(np.abs(distance) < KINK_DISTANCE):
                return f"near a kink of {expr}"
    return None


def _near_tie(x: np.ndarray, axes) -> bool:
    """Whether, along ``axes``, the two largest or the two smallest entries are closer than
    KINK_DISTANCE: where max, min, argmax and argmin are not differentiable (or jump)."""
    axes = tuple(axes)
    if not x.size or not axes:
        return False
    moved = np.moveaxis(x, axes, range(-len(axes), 0))
    ordered = np.sort(moved.reshape(*moved.shape[: x.ndim - len(axes)], -1), axis=-1)
    if ordered.shape[-1] < 2:
        return False
    return bool(
        np.any(ordered[..., -1] - ordered[..., -2] < KINK_DISTANCE)
        or np.any(ordered[..., 1] - ordered[..., 0] < KINK_DISTANCE)
    )


def _kinks(expr) -> list:
    """Functions of an elementwise node's inputs that are zero at its non-differentiable points."""
    import sympy

    from symgrad.ops.elemwise import ceil, floor, floor_div, maximum, minimum, mod, sign

    kinks = []
    symbols = sorted(expr.free_symbols, key=lambda s: int(s.name[1:]))
    arity = 1 + max((int(s.name[1:]) for s in symbols), default=-1)
    from symgrad.ops.elemwise import sym

    args = [sym(i) for i in range(arity)]
    for sub in sympy.preorder_traversal(expr):
        if isinstance(sub, (sympy.Abs, sign)):
            kinks.append(sub.args[0])
        elif isinstance(sub, (maximum, minimum)):
            kinks.append(sub.args[0] - sub.args[1])
        elif isinstance(sub, sympy.Piecewise):
            for _, condition in sub.args:
                if isinstance(condition, sympy.core.relational.Relational):
                    kinks.append(condition.lhs - condition.rhs)
        elif isinstance(sub, (floor, ceil)):
            kinks.append(sub.args[0] - sympy.floor(sub.args[0] + sympy.Rational(1, 2)))
        elif isinstance(sub, (floor_div, mod)):
            quotient = sub.args[0] / sub.args[1]
            kinks.append(quotient - sympy.floor(quotient + sympy.Rational(1, 2)))
    return [sympy.lambdify(args, kink, modules="numpy") for kink in kinks]


def differentiable_inputs(inputs: list[Variable]) -> list[Variable]:
    return [v for v in inputs if v.dtype == "float64"]


def gradient_function(inputs: list[Variable], outputs: list[Variable], seed: int):
    """A compiled ``[*outputs, cost, *gradients]`` for ``cost = sum(w * output)``, and the ``w``s."""
    rng = np.random.default_rng(seed)
    weights = [T.tensor("float64", [None] * o.ndim, name=f"w{i}") for i, o in enumerate(outputs)]
    cost = sum(T.sum(w * o) for w, o in zip(weights, outputs))
    grads = T.grad(cost, inputs, disconnected_inputs="ignore")
    f = theano.function([*inputs, *weights], [*outputs, cost, *grads], on_unused_input="ignore")
    return f, weights, rng


def finite_differences(f, args: list[np.ndarray], i: int, n_outputs: int) -> np.ndarray:
    """Central differences of the cost (output ``n_outputs`` of ``f``) with respect to ``args[i]``."""
    x = np.array(args[i], dtype="float64", order="C")
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        step = 1e-6 * max(1.0, abs(old))
        values = []
        for point in (old + step, old - step):
            flat[j] = point
            values.append(float(f(*[x if k == i else a for k, a in enumerate(args)])[n_outputs]))
        flat[j] = old
        g[j] = (values[0] - values[1]) / (2 * step)
    return grad


def check_example(dtype: str, inputs: list[Variable], outputs: list[Variable], values: list[np.ndarray], seed: int,
                  gradients: bool = True) -> str:  # fmt: skip
    """Compile, compare with the reference (and gradients with finite differences); raise an
    AssertionError describing the graph on any mismatch. Returns what was checked: 'error' (both
    refused), 'values' or 'gradients'."""
    try:
        return _check(dtype, inputs, outputs, values, seed, gradients)
    except Exception as err:
        raise AssertionError(f"{type(err).__name__}: {err}\n{describe(inputs, outputs, values)}") from err


def _check(dtype, inputs, outputs, values, seed, gradients) -> str:
    try:
        memo = evaluate(outputs, inputs, values)
    except ValueError as refused:  # max or min over an empty axis: NumPy refuses, and so must we
        f = theano.function(inputs, outputs, on_unused_input="ignore")
        try:
            f(*values)
        except ValueError:
            return "error"
        raise AssertionError(f"the reference raised {refused!r}, the compiled function did not") from None
    check_gradients = gradients and dtype == "float64" and near_kink(outputs, memo) is None
    if check_gradients:
        f, weights, rng = gradient_function(inputs, outputs, seed)
        w_values = [rng.uniform(0.5, 1.5, size=memo[id(o)].shape) for o in outputs]
        results = f(*values, *w_values)
    else:
        results = theano.function(inputs, outputs, on_unused_input="ignore")(*values)
    for k, out in enumerate(outputs):
        problem = mismatch(results[k], memo[id(out)], dtype, scale(out, memo))
        if problem:
            raise AssertionError(f"output {k}: {problem}")
    if not check_gradients:
        return "values"
    args, n = [*values, *w_values], len(outputs)
    cost = float(results[n])
    for i, (var, symbolic) in enumerate(zip(inputs, results[n + 1 :])):
        numeric = finite_differences(f, args, i, n)
        tolerance = 1e-5 * np.abs(numeric) + 1e-6 * max(1.0, abs(cost), float(np.abs(numeric).max(initial=0)))
        if np.any(np.abs(symbolic - numeric) > tolerance):
            raise AssertionError(f"gradient with respect to {var.name}: {symbolic} != finite differences {numeric}")
    return "gradients"


def describe(inputs: list[Variable], outputs: list[Variable], values: list[np.ndarray]) -> str:
    lines = [f"  {v.name}: {v.type} = {np.array2string(value, precision=17, separator=', ')}" for v, value in
             zip(inputs, values)]  # fmt: skip
    lines += [f"  output {k}: {theano.pp(o, simplify=False)}" for k, o in enumerate(outputs)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Second order: the Hessian, the Jacobian of the gradient, Rop, Lop and the Hessian-vector product
# of a random scalar cost, against central differences of its compiled gradient

# The most elements differentiated at once: the numeric Hessian costs two gradient calls each.
MAX_SECOND_ORDER_SIZE = 40


@st.composite
def scalar_graphs(draw, max_depth: int = 3):
    """``(inputs, wrt, cost, values)``: ``cost = sum(w * output)`` of a random float64 graph, for an
    input ``w`` of random values, and the float64 inputs ``wrt`` to differentiate it with respect to."""
    builder = GraphBuilder(draw, "float64")
    ndim = draw(st.integers(0, 3))
    dims = tuple(None if draw(st.integers(0, 4)) == 0 else builder.new_dim() for _ in range(ndim))
    output = builder.expr(dims, draw(st.integers(1, max_depth)))
    w = T.tensor("float64", [None] * output.ndim, name="w")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = [rng.uniform(-3.0, 3.0, size=builder.shape(d)) for _, d in builder.inputs]
    values.append(rng.uniform(0.5, 1.5, size=builder.shape(dims)))
    wrt, size = [], 0
    for v, value in zip(builder.inputs, values):
        if size + value.size <= MAX_SECOND_ORDER_SIZE:
            wrt.append(v[0])
            size += value.size
    return [*(v for v, _ in builder.inputs), w], wrt, T.sum(w * output), values


def check_second_order(inputs: list[Variable], wrt: list[Variable], cost: Variable, values: list[np.ndarray],
                       seed: int) -> str:  # fmt: skip
    """Compile the gradient, Hessian (diagonal blocks), Jacobian of the gradient, Rop, Lop and
    Hessian-vector product of ``cost`` and compare them with the Hessian by central differences of
    the compiled gradient; the Hessian must be symmetric and agree with the Hessian-vector product.
    Returns 'second order', or why the point was skipped ('error', 'kink')."""
    try:
        return _check_second_order(inputs, wrt, cost, values, seed)
    except Exception as err:
        raise AssertionError(f"{type(err).__name__}: {err}\n{describe(inputs, [cost], values)}") from err


def _check_second_order(inputs, wrt, cost, values, seed) -> str:
    try:
        memo = evaluate([cost], inputs, values)
    except ValueError:  # a max over an empty axis: the first-order fuzz checks that it raises
        return "error"
    if not wrt or near_kink([cost], memo) is not None:
        return "kink"
    rng = np.random.default_rng(seed)
    vs = [T.tensor("float64", [None] * x.ndim, name=f"v_{x.name}") for x in wrt]
    us = [T.tensor("float64", [None] * x.ndim, name=f"u_{x.name}") for x in wrt]
    position_of = {id(x): k for k, x in enumerate(inputs)}
    wrt_values = [values[position_of[id(x)]] for x in wrt]
    shapes = [value.shape for value in wrt_values]
    v_values = [rng.uniform(-1.0, 1.0, size=s) for s in shapes]
    u_values = [rng.uniform(-1.0, 1.0, size=s) for s in shapes]
    grads = T.grad(cost, wrt, disconnected_inputs="ignore")
    flat_grad = T.concatenate([T.flatten(g) for g in grads]) if len(grads) > 1 else T.flatten(grads[0])
    derived = {
        "hessian": T.hessian(cost, wrt, disconnected_inputs="ignore"),
        "jacobian": T.jacobian(flat_grad, wrt, disconnected_inputs="ignore"),
        "Rop": T.Rop(grads, wrt, vs, disconnected_outputs="ignore"),
        "Lop": T.Lop(grads, wrt, us, disconnected_inputs="ignore"),
        "hvp": T.hessian_vector_product(cost, wrt, vs, disconnected_inputs="ignore"),
    }
    outputs = [*grads, *(d for group in derived.values() for d in group)]
    f = theano.function([*inputs, *vs, *us], outputs, on_unused_input="ignore")
    results = f(*values, *v_values, *u_values)
    got = {}
    position = len(grads)
    for name, group in derived.items():
        got[name] = results[position : position + len(group)]
        position += len(group)

    def gradient(point: list[np.ndarray]) -> np.ndarray:
        args = list(values)
        for x, value in zip(wrt, point):
            args[position_of[id(x)]] = value
        return np.concatenate([np.ravel(g) for g in f(*args, *v_values, *u_values)[: len(grads)]])

    numeric = _numeric_hessian(gradient, wrt_values)
    g0 = np.concatenate([np.ravel(g) for g in results[: len(grads)]])
    if not np.all(np.isfinite(numeric)) or np.abs(g0).max(initial=0) > 1e6:
        return "kink"
    # Central differences are good to about 1e-5 of the largest derivative; what the compiled
    # derivatives must agree on among themselves, up to rounding, to 1e-8 of it.
    magnitude = max(1.0, float(np.abs(g0).max(initial=0)), float(np.abs(numeric).max(initial=0)))
    tolerance, rounding = 1e-5 * magnitude, 1e-8 * magnitude
    sizes = [int(np.prod(s)) for s in shapes]
    starts = np.cumsum([0, *sizes])
    blocks = [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]
    v_flat = np.concatenate([v.ravel() for v in v_values])
    u_flat = np.concatenate([u.ravel() for u in u_values])
    full_jacobian = np.concatenate([np.reshape(j, (starts[-1], n)) for j, n in zip(got["jacobian"], sizes)], axis=1)

    def agree(what: str, symbolic: np.ndarray, reference: np.ndarray, allowed: float = tolerance) -> None:
        symbolic = np.asarray(symbolic)
        if symbolic.shape != reference.shape or np.any(np.abs(symbolic - reference) > allowed):
            raise AssertionError(f"{what}: {symbolic} != {reference}")

    agree("Jacobian of the gradient vs finite differences", full_jacobian, numeric)
    agree("Jacobian of the gradient: symmetry", full_jacobian, full_jacobian.T, rounding)
    for k, (x, block, shape) in enumerate(zip(wrt, blocks, shapes)):
        agree(f"hessian wrt {x.name}", np.reshape(got["hessian"][k], (sizes[k], sizes[k])), numeric[block, block])
        agree(f"Rop of the gradient wrt {x.name}", np.ravel(got["Rop"][k]), numeric[block] @ v_flat)
        agree(f"Lop of the gradient wrt {x.name}", np.ravel(got["Lop"][k]), u_flat @ numeric[:, block])
        agree(f"hessian_vector_product wrt {x.name}", np.ravel(got["hvp"][k]), numeric[block] @ v_flat)
        agree(f"hessian_vector_product wrt {x.name} vs the Jacobian of the gradient", np.ravel(got["hvp"][k]),
              full_jacobian[block] @ v_flat, rounding * max(1, v_flat.size))  # fmt: skip
        if got["hvp"][k].shape != shape:
            raise AssertionError(f"hessian_vector_product wrt {x.name}: shape {got['hvp'][k].shape} != {shape}")
    return "second order"


def _numeric_hessian(gradient, point: list[np.ndarray]) -> np.ndarray:
    """Central differences of ``gradient`` (a flat array) at ``point``: column j is its derivative
    along the j-th element of the flattened point."""
    point = [np.array(p, dtype="float64", order="C") for p in point]
    columns = []
    for p in point:
        flat = p.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            step = 1e-6 * max(1.0, abs(old))
            flat[j] = old + step
            ahead = gradient(point)
            flat[j] = old - step
            behind = gradient(point)
            flat[j] = old
            columns.append((ahead - behind) / (2 * step))
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))


# ------------------------------------------------------------------------------------------------
# Several outputs, sharing subgraphs, some the gradients of others, and updates of shared variables


@dataclass
class FunctionExample:
    """A random function: inputs (their values in ``values``), shared variables (``shared_values``),
    outputs and updates; ``theano.function(inputs, outputs, updates=updates)``."""

    dtype: str
    inputs: list[Variable]
    values: list[np.ndarray]
    shared: list[Variable]
    shared_values: list[np.ndarray]
    outputs: list[Variable]
    updates: list[tuple[Variable, Variable]]


@st.composite
def functions_with_updates(draw, max_depth: int = 3):
    """A :class:`FunctionExample` with 2 to 5 outputs grown from one pool of subexpressions and
    inputs (about half of them shared variables), and updates of some shared variables; in float64,
    where the graph is differentiable at the drawn point, some outputs are gradients of others and
    some updates gradient steps."""
    dtype = draw(st.sampled_from(["float64", "float32"]))
    builder = GraphBuilder(draw, dtype, shared=True, pool=[])
    outputs, n = [], draw(st.integers(2, 5))
    gradients = draw(st.integers(0, 5 - n)) if dtype == "float64" else 0
    for _ in range(n):
        ndim = draw(st.integers(0, 3))
        dims = tuple(None if draw(st.integers(0, 4)) == 0 else builder.new_dim() for _ in range(ndim))
        outputs.append(builder.expr(dims, draw(st.integers(0, max_depth))))
    updates = [(v, dims) for v, dims in builder.inputs if isinstance(v, SharedVariable) and draw(st.booleans())]
    updates = [(v, builder.expr(dims, draw(st.integers(0, max_depth)))) for v, dims in updates]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    every_value = [rng.uniform(-3.0, 3.0, size=builder.shape(dims)).astype(dtype) for _, dims in builder.inputs]
    every_input = [v for v, _ in builder.inputs]
    try:
        memo = evaluate([*outputs, *(u for _, u in updates)], every_input, every_value)
        smooth = near_kink([*outputs, *(u for _, u in updates)], memo) is None
    except ValueError:  # a max over an empty axis: the function must raise too
        smooth = False
    if smooth:
        for _ in range(gradients):
            of = builder.pick(outputs)
            wrt = builder.pick(every_input)
            cost = T.sum(of * of) if draw(st.booleans()) else T.sum(of)
            outputs.insert(draw(st.integers(0, len(outputs))), T.grad(cost, wrt, disconnected_inputs="ignore"))
        for j, (target, _) in enumerate(updates):
            if dtype == "float64" and draw(st.integers(0, 2)) == 0:
                step = T.grad(T.sum(builder.pick(outputs)), target, disconnected_inputs="ignore")
                updates[j] = (target, target - 0.125 * step)
    shared = [k for k, v in enumerate(every_input) if isinstance(v, SharedVariable)]
    plain = [k for k in range(len(every_input)) if k not in shared]
    return FunctionExample(dtype, [every_input[k] for k in plain], [every_value[k] for k in plain],
                           [every_input[k] for k in shared], [every_value[k] for k in shared], outputs,
                           updates)  # fmt: skip


def check_updates(example: FunctionExample, calls: int = 2) -> str:
    """Call the compiled function ``calls`` times, each time comparing its outputs with the reference
    computed from the shared variables' values before the call, and then their new values with the
    updates' reference (the same old values); returns 'updates', or 'error' where both raised."""
    try:
        return _check_updates(example, calls)
    except Exception as err:
        updates = [f"  update {s.name} <- {theano.pp(u, simplify=False)}" for s, u in example.updates]
        text = describe([*example.inputs, *example.shared], example.outputs, [*example.values, *example.shared_values])
        raise AssertionError(f"{type(err).__name__}: {err}\n{text}\n" + "\n".join(updates)) from err


def _check_updates(example: FunctionExample, calls: int) -> str:
    for var, value in zip(example.shared, example.shared_values):
        var.set_value(value)
    f = theano.function(example.inputs, example.outputs, updates=example.updates, on_unused_input="ignore")
    updated = {id(s): u for s, u in example.updates}
    for call in range(calls):
        old = [s.get_value() for s in example.shared]
        every = [*example.inputs, *example.shared]
        try:
            memo = evaluate([*example.outputs, *updated.values()], every, [*example.values, *old])
        except ValueError as refused:
            try:
                f(*example.values)
            except ValueError:
                if not all(np.array_equal(s.get_value(), value) for s, value in zip(example.shared, old)):
                    raise AssertionError("a call that raised changed a shared variable") from None
                return "error"
            raise AssertionError(f"the reference raised {refused!r}, the compiled function did not") from None
        results = f(*example.values)
        for k, out in enumerate(example.outputs):
            problem = mismatch(results[k], memo[id(out)], example.dtype, scale(out, memo))
            if problem:
                raise AssertionError(f"call {call}, output {k}: {problem}")
        for s, value in zip(example.shared, old):
            new = s.get_value()
            if id(s) not in updated:
                if not np.array_equal(new, value):
                    raise AssertionError(f"call {call}: {s.name}, not updated, changed: {value} -> {new}")
                continue
            want = memo[id(updated[id(s)])]
            problem = mismatch(new, want, example.dtype, scale(updated[id(s)], memo))
            if problem:
                raise AssertionError(f"call {call}, update of {s.name}: {problem}")
            s.set_value(want)  # the next call starts from the reference's values
    return "updates"


# ------------------------------------------------------------------------------------------------
# Every backend: the same graph compiled for another device gives the CPU's results


def check_on_device(device: str, dtype: str, inputs: list[Variable], outputs: list[Variable],
                    values: list[np.ndarray], seed: int) -> str:  # fmt: skip
    """Compile the graph (with its gradients where they are defined) for the CPU and for
    ``device``, and compare the results by the rules of :func:`mismatch`. Returns 'gradients' or
    'values' for what was compared, 'error' where both refused, or 'domain error' where Numba's CUDA
    simulator raised Python's ValueError "math domain error" (it runs ``math.sqrt``, ``math.log``,
    ``math.asin``... outside their domain as Python, where the GPU gives nan, as the CPU does)."""
    try:
        return _check_on_device(device, dtype, inputs, outputs, values, seed)
    except Exception as err:
        raise AssertionError(f"{type(err).__name__}: {err}\n{describe(inputs, outputs, values)}") from err


def _check_on_device(device, dtype, inputs, outputs, values, seed) -> str:
    try:
        memo = evaluate(outputs, inputs, values)
    except ValueError:
        memo = None
    wanted, args, what = list(outputs), list(values), "values"
    if memo is not None and dtype == "float64" and near_kink(outputs, memo) is None:
        rng = np.random.default_rng(seed)
        weights = [T.tensor("float64", [None] * o.ndim, name=f"w{i}") for i, o in enumerate(outputs)]
        cost = sum(T.sum(w * o) for w, o in zip(weights, outputs))
        wanted += [cost, *T.grad(cost, inputs, disconnected_inputs="ignore")]
        inputs = [*inputs, *weights]
        args += [rng.uniform(0.5, 1.5, size=memo[id(o)].shape) for o in outputs]
        what = "gradients"
        memo = evaluate(wanted, inputs, args)  # the gradients' intermediates, for their tolerances
    results = {}
    for where in ("cpu", device):
        f = theano.function(inputs, wanted, on_unused_input="ignore", device=where)
        try:
            results[where] = f(*args)
        except ValueError as err:
            results[where] = err
    cpu, other = results["cpu"], results[device]
    if isinstance(other, ValueError) and "math domain error" in str(other):
        return "domain error"
    if isinstance(cpu, ValueError) or isinstance(other, ValueError):
        if isinstance(cpu, ValueError) and isinstance(other, ValueError):
            return "error"
        raise AssertionError(f"only one raised: cpu {cpu!r}, {device} {other!r}")
    for k, (got, want) in enumerate(zip(other, cpu)):
        tolerance = scale(wanted[k], memo) if memo is not None and id(wanted[k]) in memo else 1.0
        problem = mismatch(got, want, dtype, tolerance)
        if problem:
            raise AssertionError(f"output {k} on {device}: {problem}")
    return what


# ------------------------------------------------------------------------------------------------
# Batches, for the long run: each in a process of its own, since Numba keeps the machine code of
# every function compiled for the life of the process (about a MiB each)

KINDS = {
    "first order": (lambda: graphs(), lambda example, seed: check_example(*example, seed=seed)),
    "arrays": (lambda: graphs(max_depth=3, arrays=True), lambda example, seed: check_example(*example, seed=seed)),
    "second order": (lambda: scalar_graphs(), lambda example, seed: check_second_order(*example, seed=seed)),
    "updates": (lambda: functions_with_updates(), lambda example, seed: check_updates(example)),
    "cuda": (lambda: graphs(max_depth=2), lambda example, seed: check_on_device("cuda", *example, seed=seed)),
    "scan": (lambda: _scan_graphs(), lambda example, seed: check_example(*example, seed=seed)),
    "cuda scan": (lambda: _scan_graphs(), lambda example, seed: check_on_device("cuda", *example, seed=seed)),
}
BATCH = 100
#: An example (its compile and its checks) running longer is reported as hung, and the batch goes
#: on: a hang would otherwise stop a long run for good (one did, in SymPy: test_fuzz.py has it).
EXAMPLE_SECONDS = 600


class _Hung(BaseException):
    """Raised by the alarm inside a check; a BaseException, so that no check reports it as its own."""


def _alarm(signum, frame):
    raise _Hung


def _example_text(example) -> str:
    """An example as the failure reports show it."""
    if isinstance(example, tuple) and len(example) == 4 and isinstance(example[0], str):
        return describe(*example[1:])  # (dtype, inputs, outputs, values)
    return repr(example)


def _scan_graphs():
    from .fuzz_scan import scan_graphs  # it builds on GraphBuilder, above

    return scan_graphs()


def run_batch(kind: str, examples: int, seed: int) -> tuple[collections.Counter, str | None]:
    """Check ``examples`` random examples of a kind of :data:`KINDS`, drawn from ``seed``: what
    was checked (as the check functions name it), and Hypothesis's report of the first failure
    (shrunk) or None."""
    strategy, check = KINDS[kind]
    checked: collections.Counter = collections.Counter()
    hung: list[str] = []  # not shrunk: each try of a smaller example could take as long again
    previous = signal.signal(signal.SIGALRM, _alarm)

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                         suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
    @hypothesis.given(strategy(), st.integers(0, 2**32 - 1))
    def run(example, example_seed):
        # Again every few seconds after the first: an alarm landing where Python ignores exceptions
        # (a weakref's callback) is lost.
        signal.setitimer(signal.ITIMER_REAL, EXAMPLE_SECONDS, min(10, EXAMPLE_SECONDS))
        try:
            checked[check(example, example_seed)] += 1
        except _Hung:
            signal.setitimer(signal.ITIMER_REAL, 0)
            hung.append(f"an example ran over {EXAMPLE_SECONDS} s (seed {example_seed}):\n{_example_text(example)}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    try:
        run()
    except Exception as err:  # the shrunk examples' reports, with the blobs that reproduce them
        errors = getattr(err, "exceptions", None) or [err]  # an ExceptionGroup: several distinct bugs
        reports = ["".join(traceback.format_exception_only(e)) + "\n".join(getattr(e, "__notes__", [])) for e in errors]
        return checked, "\n\n".join(hung + reports)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return checked, "\n\n".join(hung) or None


def run_long(kind: str, total: int) -> tuple[collections.Counter, list[str]]:
    """``total`` examples of ``kind`` in batches of :data:`BATCH`, each in a fresh process (as
    many at once as there are cores), from random seeds: the counts, and the failures' reports."""
    seeds = [int.from_bytes(os.urandom(4), "little") for _ in range(0, total, BATCH)]
    sizes = [min(BATCH, total - start) for start in range(0, total, BATCH)]
    checked: collections.Counter = collections.Counter()
    failures = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(os.cpu_count(), mp_context=context, max_tasks_per_child=1) as pool:
        batches = pool.map(run_batch, [kind] * len(seeds), sizes, seeds)
        for done, (seed, (counts, failure)) in enumerate(zip(seeds, batches), 1):
            checked.update(counts)
            if failure:
                failures.append(f"{kind}, batch seed {seed}:\n{failure}")
                print(failures[-1], flush=True)  # now: a long run takes hours
            print(f"fuzz, {kind}: {done}/{len(seeds)} batches, {sum(checked.values())} checked, "
                  f"{len(failures)} failing", flush=True)  # fmt: skip
    return checked, failures
