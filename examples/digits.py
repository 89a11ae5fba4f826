"""A softmax classifier with one hidden layer on scikit-learn's handwritten digits.

    pip install -e ".[examples]"            # scikit-learn, which ships the data set (no download)
    python examples/digits.py               # 30 epochs of minibatch Adam
    python examples/digits.py --epochs 10   # fewer, for a quick run

The 1797 8x8 images of ``sklearn.datasets.load_digits`` are split into 1347 for training and 450
for testing (stratified, fixed seed) and scaled to [0, 1]. The model is ``softmax(tanh(x @ w1 + b1)
@ w2 + b2)`` with shared weights; ``optim.adam`` updates them in place at each minibatch step, and
the loss is the cross-entropy of the integer labels (``T.nnet.categorical_crossentropy``) plus a
small L2 penalty. The accuracy on the held-out test images is printed at the end.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import symgrad as theano
import symgrad.tensor as T
from symgrad import optim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64, help="minibatch size")
    parser.add_argument("--lr", type=float, default=0.005)
    args = parser.parse_args()

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, stratify=digits.target, random_state=0
    )
    n_features, n_classes = x_train.shape[1], 10
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of {n_features} pixels")

    rng = np.random.default_rng(0)
    w1 = theano.shared(rng.standard_normal((n_features, args.hidden)) / np.sqrt(n_features), name="w1")
    b1 = theano.shared(np.zeros(args.hidden), name="b1")
    w2 = theano.shared(rng.standard_normal((args.hidden, n_classes)) / np.sqrt(args.hidden), name="w2")
    b2 = theano.shared(np.zeros(n_classes), name="b2")
    params = [w1, b1, w2, b2]

    x, y = T.dmatrix("x"), T.lvector("y")
    probabilities = T.nnet.softmax(T.tanh(x @ w1 + b1) @ w2 + b2)
    loss = T.mean(T.nnet.categorical_crossentropy(probabilities, y)) + 1e-4 * (T.sum(w1**2) + T.sum(w2**2))
    train = theano.function([x, y], loss, updates=optim.adam(loss, params, learning_rate=args.lr), name="train")
    predict = theano.function([x], T.argmax(probabilities, axis=1), name="predict")

    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        losses = [train(x_train[batch], y_train[batch]) for batch in np.array_split(order, len(order) // args.batch)]
        if epoch % max(args.epochs // 5, 1) == 0 or epoch == args.epochs - 1:
            test_accuracy = float(np.mean(predict(x_test) == y_test))
            print(f"epoch {epoch:3d}  training loss {np.mean(losses):.4f}  test accuracy {test_accuracy:.1%}")
    seconds = time.perf_counter() - start

    train_accuracy = float(np.mean(predict(x_train) == y_train))
    test_accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"training accuracy {train_accuracy:.1%}  test accuracy {test_accuracy:.1%}  "
          f"({seconds:.1f} s for {args.epochs} epochs, compilation included)")  # fmt: skip


if __name__ == "__main__":
    main()
