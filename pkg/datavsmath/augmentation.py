"""Data augmentation inside the networks: the augmentation lever ("more data for free").

``cnn_aug`` and ``dnn_aug`` (registered in :mod:`datavsmath.models`) are R's CNN and DNN with
their recipes unchanged (network, optimizer, loss, epochs, batch, validation split), each
trained on images moved a little at random at every step: random shifts of up to 10% of the
height and width, and random horizontal flips where a mirrored image keeps its label.

The augmentation is a pair of keras preprocessing layers at the start of the network, so that
it runs on the fly inside the model, in a naive fit and in the fused programs alike
(:mod:`datavsmath.training.fused` builds its copies from the same factory, and copies each
fresh build's state, the layers' seed generators included). Keras' random preprocessing layers
transform only when called with ``training=True``: at inference the augmented network computes
exactly what the plain network with the same weights computes.

Why these settings: they are keras-io's usual choices for small grey images (a
``RandomTranslation`` of 0.1, ``RandomFlip("horizontal")`` where mirroring keeps the class).
At 28x28 a shift of 0.1 is up to 2.8 pixels, about the play in how Fashion-MNIST's items and
MNIST's digits are centred in their frames; the uncovered border is filled with 0, the black
background of both. Rotations and zooms are left out: at 28x28 their interpolation blurs more
than it adds. Flips depend on the dataset (:data:`FLIP_KEEPS_LABEL`): a mirrored shirt, shoe or
bag is still one, a mirrored digit is not a digit (or is another one), and a dataset of one's
own is not flipped unless its name is added there. Augmentation needs images: on feature rows
the models raise a ValueError that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .networks import ShapedBuild

__all__ = ["SHIFT_FACTOR", "FLIP_KEEPS_LABEL", "flips_keep_labels", "augmentation_layers",
           "AugmentedBuild", "augmented", "check_images"]

#: largest random shift, as a share of the image's height and width (keras'
#: ``RandomTranslation`` factor): 0.1 moves a 28x28 image by up to 2.8 pixels each way
SHIFT_FACTOR = 0.1

#: whether a horizontal flip keeps an image's label, per dataset (``Dataset.name``); a dataset
#: not listed (a file of one's own) is not flipped: ``FLIP_KEEPS_LABEL["mine"] = True`` flips it
FLIP_KEEPS_LABEL: dict[str, bool] = {"fashion": True, "mnist": False, "digits": False}


def flips_keep_labels(dataset: str | None) -> bool:
    """Whether the augmented models flip the images of ``dataset`` horizontally.

    Parameters
    ----------
    dataset : a dataset's short name ("fashion", "mnist", a file's stem), or None

    Returns
    -------
    bool : :data:`FLIP_KEEPS_LABEL`'s entry; False for a dataset not listed, or None
    """
    return bool(FLIP_KEEPS_LABEL.get(dataset, False)) if dataset is not None else False


def check_images(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) of image examples; ValueError for feature rows, which cannot be shifted
    or flipped.

    Parameters
    ----------
    input_shape : shape of one example, (h, w) for images or (p,) for feature rows

    Returns
    -------
    (h, w) : ints
    """
    if len(input_shape) != 2:
        raise ValueError(f"augmentation (random shifts and flips) needs images (height, width); this "
                         f"dataset's examples have shape {tuple(input_shape)} (feature rows): leave out "
                         "the augmented models (cnn_aug, dnn_aug) and run the plain ones")
    return int(input_shape[0]), int(input_shape[1])


def augmentation_layers(flip: bool, shift: float = SHIFT_FACTOR) -> list:
    """The training-time augmentation as keras layers, identities unless called with
    ``training=True``.

    Parameters
    ----------
    flip : also flip half the images horizontally (``RandomFlip("horizontal")``)
    shift : largest shift as a share of height and width (``RandomTranslation``, bilinear,
        the uncovered border filled with 0)

    Returns
    -------
    list of keras layers, each (batch, h, w, 1) -> (batch, h, w, 1)
    """
    from keras import layers

    out = [layers.RandomTranslation(shift, shift, fill_mode="constant", fill_value=0.0, name="shift")]
    if flip:
        out.append(layers.RandomFlip("horizontal", name="flip"))
    return out


@dataclass(frozen=True)
class AugmentedBuild:
    """A network factory: ``build``'s network (``build_dnn`` or ``build_cnn``) with the
    augmentation layers (:func:`augmentation_layers`) in front.

    The plain network is built first, so that from one seed its initial weights are the plain
    model's; the augmentation's seeds are drawn after. A flat-input network (the DNN, h*w
    features) gets its features reshaped to the image for the augmentation and flattened back.
    A frozen dataclass rather than a closure, so that equal factories are equal and the fused
    programs built from them are reused (their cache keys on the factory).

    Parameters
    ----------
    build : (n_classes, input_shape) -> keras model, the plain network
    input_shape : (height, width) of the grey images
    flip : whether to flip horizontally (:func:`flips_keep_labels`)
    """

    build: Callable
    input_shape: tuple[int, ...] = (28, 28)
    flip: bool = False

    def __call__(self, n_classes: int = 10):
        """The augmented network, (batch, *the plain network's input) -> (batch, n_classes)
        probabilities; the plain network is its last layer."""
        import keras
        from keras import layers

        h, w = check_images(self.input_shape)
        base = self.build(n_classes, (h, w))
        flat = len(base.inputs[0].shape) == 2
        front = [keras.Input(shape=(h * w,)), layers.Reshape((h, w, 1))] if flat else [keras.Input(shape=(h, w, 1))]
        back = [layers.Flatten()] if flat else []
        return keras.Sequential([*front, *augmentation_layers(self.flip), *back, base], name=f"{base.name}_aug")


def augmented(plain: str, plain_make: Callable) -> Callable:
    """The ``make`` of an augmented model, for :func:`datavsmath.models.register`.

    Parameters
    ----------
    plain : the plain model's registered name ("dnn", "cnn"), for the function's name
    plain_make : its registered ``make`` ((seed, n_classes, input_shape) -> KerasNet), passed
        in so that this module needs nothing from the registry

    Returns
    -------
    make : (seed, n_classes, input_shape, dataset=None) -> KerasNet, the plain model (its
        network, optimizer, loss, features, epochs and batch) with its network wrapped in
        :class:`AugmentedBuild`, flipping by dataset (:func:`flips_keep_labels`)
    """

    def make(seed: int, k: int, shape=(28, 28), dataset: str | None = None):
        shape = tuple(int(d) for d in shape)
        check_images(shape)
        net = plain_make(seed, k, shape)
        build = net.build.build if isinstance(net.build, ShapedBuild) else net.build
        net.build = AugmentedBuild(build, shape, flips_keep_labels(dataset))
        return net

    make.__name__ = make.__qualname__ = f"make_{plain}_aug"
    return make
