"""A bridge to ``scipy.optimize.minimize``: a symbolic cost compiled into the callables SciPy wants.

    from symgrad.optimize import objective

    x = T.dvector("x")
    obj = objective(T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), x)
    scipy.optimize.minimize(obj.fun, x0, jac=True, hess=obj.hess)   # or obj.hessp
    obj.minimize(x0, method="trust-ncg")                             # the same, Hessian picked for the method

``obj.fun(x, *args)`` returns ``(value, gradient)`` from one compiled function (the value and the
gradient share their kernels, so the forward pass runs once), which is what SciPy's ``jac=True``
asks for. ``obj.hess(x, *args)`` is the dense Hessian (``T.hessian``) and ``obj.hessp(x, p, *args)``
the Hessian-vector product (``T.hessian_vector_product``, a few gradients' cost). Each is compiled
the first time it is read, so an objective used only with L-BFGS-B never compiles a Hessian.

The data in ``args`` may be Dask arrays chunked along their rows, when the cost is a sum or a mean
over them (``symgrad.distributed``): then ``fun`` computes the value and the gradient in one pass
over the chunks (``dask.compute`` of both, on the active ``distributed.Client`` if there is one),
so a model can be fitted to data that do not fit in memory.

The callables are the compiled functions plus one small frame: SciPy calls them thousands of times,
and the compiled entry already checks its arguments inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import tensor as T
from .function import function
from .graph import Constant, Variable

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

# Methods of scipy.optimize.minimize that use second derivatives: those that accept a
# Hessian-vector product get one (it never forms the n x n matrix), the others the dense Hessian.
_HESSP_METHODS = frozenset({"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"})
_HESS_METHODS = frozenset({"dogleg", "trust-exact"})


def _check_input(var: Any, what: str) -> Variable:
    if not isinstance(var, Variable) or var.owner is not None or isinstance(var, Constant):
        raise TypeError(f"symgrad.optimize.objective: {what} must be a free symbolic variable such as "
                        f"T.dvector('x'), got {var!r}")  # fmt: skip
    return var


class Objective:
    """A scalar cost of a float64 vector ``x`` (and of data ``args``), compiled for SciPy on demand.

    ``fun``, ``hess`` and ``hessp`` have SciPy's signatures; pass the data as ``args=`` to
    ``scipy.optimize.minimize`` (or to :meth:`minimize`), in the order of the symbolic ``args``.
    """

    def __init__(
        self, cost: Variable, x: Variable, args: Variable | Sequence[Variable] = (), name: str | None = None
    ) -> None:
        x = _check_input(x, "x")
        if x.dtype != "float64" or x.ndim != 1:
            raise TypeError(
                f"symgrad.optimize.objective: x must be a float64 vector (SciPy works on 1-d float64 "
                f"arrays), got {x!r} ({x.type}); for a matrix parameter W of shape (a, b), take "
                f"W = x[:a * b].reshape((a, b))"
            )
        cost = T.as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(f"symgrad.optimize.objective: the cost must be a scalar (0-d), got {cost!r} "
                            f"({cost.type}); reduce it first (e.g. T.sum)")  # fmt: skip
        self.cost = T.cast(cost, "float64")
        self.x = x
        args = [args] if isinstance(args, Variable) else list(args)
        self.args = [_check_input(a, f"args[{i}]") for i, a in enumerate(args)]
        self.name = name or "objective"
        self._fun: Callable[..., tuple[float, np.ndarray]] | None = None
        self._hess: Callable[..., np.ndarray] | None = None
        self._hessp: Callable[..., np.ndarray] | None = None

    @property
    def fun(self) -> Callable[..., tuple[float, np.ndarray]]:
        """``fun(x, *args) -> (value, gradient)``: a Python float and a 1-d float64 array."""
        if self._fun is None:
            compiled = function([self.x, *self.args], [self.cost, T.grad(self.cost, self.x)], name=self.name)

            def fun(x: np.ndarray, *args: Any) -> tuple[float, np.ndarray]:
                value, grad = compiled(x, *args)
                if type(value) is not np.ndarray:  # Dask arrays in args: one pass computes both
                    import dask

                    value, grad = dask.compute(value, grad)
                return float(value), grad

            self._fun = fun
        return self._fun

    @property
    def hess(self) -> Callable[..., np.ndarray]:
        """``hess(x, *args)``: the dense Hessian, an (n, n) float64 array."""
        if self._hess is None:
            # A cost linear in some data has a Hessian that does not read it; SciPy passes it anyway.
            self._hess = function([self.x, *self.args], T.hessian(self.cost, self.x), name=f"{self.name}_hess",
                                  on_unused_input="ignore")  # fmt: skip
        return self._hess

    @property
    def hessp(self) -> Callable[..., np.ndarray]:
        """``hessp(x, p, *args)``: the Hessian times the vector ``p``, without forming the Hessian."""
        if self._hessp is None:
            p = T.dvector("p")
            product = T.hessian_vector_product(self.cost, self.x, p)
            self._hessp = function([self.x, p, *self.args], product, name=f"{self.name}_hessp",
                                   on_unused_input="ignore")  # fmt: skip
        return self._hessp

    def minimize(self, x0: Any, method: str | None = None, args: Sequence[Any] = (), **kwargs: Any) -> OptimizeResult:
        """``scipy.optimize.minimize(self.fun, x0, args=args, jac=True, method=method, ...)``.

        Methods that use second derivatives get ``hessp`` (Newton-CG, trust-ncg, trust-krylov,
        trust-constr) or ``hess`` (dogleg, trust-exact) unless ``kwargs`` gives one; other keyword
        arguments (``bounds``, ``tol``, ``options``, ...) go to SciPy unchanged. Returns SciPy's
        ``OptimizeResult``.
        """
        import scipy.optimize

        wanted = (method or "").lower()
        if "hess" not in kwargs and "hessp" not in kwargs:
            if wanted in _HESSP_METHODS:
                kwargs["hessp"] = self.hessp
            elif wanted in _HESS_METHODS:
                kwargs["hess"] = self.hess
        return scipy.optimize.minimize(self.fun, x0, args=tuple(args), method=method, jac=True, **kwargs)


def objective(
    cost: Variable, x: Variable, args: Variable | Sequence[Variable] = (), name: str | None = None
) -> Objective:
    """Compile-on-demand SciPy callables for the scalar ``cost`` as a function of the float64 vector ``x``.

    ``args`` lists the other symbolic inputs of ``cost`` (data), whose values SciPy passes through
    its own ``args=``. Shared variables need no listing: their current values are read at each call.
    See :class:`Objective`.
    """
    return Objective(cost, x, args, name)
