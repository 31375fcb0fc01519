"""Model builders for ``tests/test_convert.py`` beyond ``tutorial.py``. Needs MXNet 1.9.1.

Every function returns a new Gluon Block; ``paramtool.model.load_model`` calls it inside a fresh
``mx.name.NameManager()``, and the tests build the same nets the same way.
"""

from mxnet import gluon


def mobilenet_features(multiplier=0.25, classes=1000):
    """The ``features`` sub-block of model-zoo ``mobilenet<multiplier>``: what a user loads a
    whole-model checkpoint into when only the feature extractor is wanted. Its structural keys
    lack the whole model's leading ``features.`` (``0.weight``, not ``features.0.weight``); its
    prefixed names are the whole model's (``mobilenet0_conv0_weight``)."""
    net = gluon.model_zoo.vision.get_model(
        "mobilenet%s" % multiplier, pretrained=False, classes=classes
    )
    return net.features
