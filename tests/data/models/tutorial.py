"""Model builders for ``paramtool --model`` tests (``tests/test_model.py``). Needs MXNet 1.9.1.

``Model`` is the Gluon naming tutorial's model (``../make_fixtures.py`` imports it from here)
(https://mxnet.apache.org/versions/1.9.1/api/python/docs/tutorials/packages/gluon/blocks/naming.html):
built first in a fresh process its prefix is ``model0_`` and its parameters are the names in
``../tutorial-model0.params``.

Every ``build*`` function returns a new Gluon Block; ``paramtool.model.load_model`` calls it
inside a fresh ``mx.name.NameManager()``, and the tests build the same nets the same way.
"""

import mxnet as mx
from mxnet import gluon


class Model(gluon.Block):
    def __init__(self, **kwargs):
        super(Model, self).__init__(**kwargs)
        with self.name_scope():
            self.dense0 = gluon.nn.Dense(20)
            self.dense1 = gluon.nn.Dense(20)
            self.mydense = gluon.nn.Dense(20, prefix="mydense_")

    def forward(self, x):
        x = mx.nd.relu(self.dense0(x))
        x = mx.nd.relu(self.dense1(x))
        return mx.nd.relu(self.mydense(x))


def build(**kwargs):
    """The tutorial's ``Model()`` (prefix ``model0_`` in a fresh name scope)."""
    return Model(**kwargs)


def build_sequential(units=8):
    """``nn.Sequential`` (not hybrid) of two Dense layers built in its name scope."""
    net = gluon.nn.Sequential()
    with net.name_scope():
        net.add(gluon.nn.Dense(units, activation="relu"))
        net.add(gluon.nn.Dense(2))
    return net


def build_alexnet_new_output(classes=100):
    """Model-zoo alexnet whose ``output`` is replaced by ``Dense(classes)`` created outside the
    net's name scope: its parameters are ``dense0_weight``/``dense0_bias``, not ``alexnet0_...``
    (the fine-tuning recipe of the Gluon model-zoo docs)."""
    net = gluon.model_zoo.vision.get_model("alexnet", pretrained=False)
    net.output = gluon.nn.Dense(classes)
    return net


def build_batchnorm(channels=4):
    """``HybridSequential`` with Conv2D, BatchNorm, relu, Flatten, Dense(3): the net behind
    ``../hybrid-symbol.json`` / ``../hybrid-0000.params`` (prefix ``hybridsequential0_``)."""
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(
            gluon.nn.Conv2D(channels, 3),
            gluon.nn.BatchNorm(),
            gluon.nn.Activation("relu"),
            gluon.nn.Flatten(),
            gluon.nn.Dense(3),
        )
    return net


class Tied(gluon.HybridBlock):
    """Two Dense layers sharing one weight and bias (``params=self.a.params``), plus an own
    parameter registered as an attribute: ``save_parameters`` writes ``a.weight`` and
    ``b.weight`` for the one shared Parameter."""

    def __init__(self, **kwargs):
        super(Tied, self).__init__(**kwargs)
        with self.name_scope():
            self.a = gluon.nn.Dense(4, in_units=4)
            self.b = gluon.nn.Dense(4, in_units=4, params=self.a.params)
            self.scale = self.params.get("scale", shape=(1,), init=mx.init.One())

    def hybrid_forward(self, F, x, scale):
        return F.broadcast_mul(self.b(self.a(x)), scale)


def build_tied():
    return Tied()


class TwoInputs(gluon.HybridBlock):
    """A two-input HybridBlock with deferred shapes: ``dense0(x) + dense1(y)``."""

    def __init__(self, **kwargs):
        super(TwoInputs, self).__init__(**kwargs)
        with self.name_scope():
            self.dense0 = gluon.nn.Dense(5)
            self.dense1 = gluon.nn.Dense(5)

    def hybrid_forward(self, F, x, y):
        return self.dense0(x) + self.dense1(y)


def not_a_block():
    """Returns something that is not a Block."""
    return {"weight": 1}


def broken(**kwargs):
    raise RuntimeError("builder exploded on purpose")


class Orphan(gluon.Block):
    """A Parameter assigned as an attribute without ``self.params.get``: it is in
    ``_reg_params`` (so ``save_parameters`` writes ``w``) but not in ``collect_params()``."""

    def __init__(self, **kwargs):
        super(Orphan, self).__init__(**kwargs)
        with self.name_scope():
            self.dense = gluon.nn.Dense(2, in_units=3)
        self.w = gluon.Parameter("w", shape=(2,))

    def forward(self, x):
        return self.dense(x) + self.w.data()
