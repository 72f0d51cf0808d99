"""A model's inputs: the tensors it takes, as the tensor frameworks (PyTorch, Keras)
describe them.

A plugin reads them once per loaded model and keeps them on it (``TorchModel.inputs``,
``LoadedModel.inputs``); ``describe``, ``predict`` and ``template_context`` all read that
one description. ``ModelInputs.input_names`` is what ``ModelFacts.input_names`` carries: the
inputs fed one array each, by name (an ``.npz`` sample, a JSON object per request).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class InputSpec:
    """One tensor a model takes (or returns): its name, its shape (None: unknown; a None
    dimension: any size, such as the batch) and its dtype (None: the model does not fix it)."""

    name: str
    shape: tuple[int | None, ...] | None = None
    dtype: str | None = None

    def as_tuple(self) -> tuple[str, list[int | None] | None, str | None]:
        return (self.name, list(self.shape) if self.shape is not None else None, self.dtype)

    @property
    def is_column(self) -> bool:
        """One value per row: shape ``(N,)`` or ``(N, 1)``."""
        shape = self.shape
        return shape is not None and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))


@dataclass(frozen=True)
class ModelInputs:
    """The model's inputs, in the order it takes them (a forward's arguments, a Keras
    model's inputs, a signature's names)."""

    specs: tuple[InputSpec, ...] = ()
    #: The dtype the model's input must have when the model says so as a whole (PyTorch:
    #: a .pt2's one input dtype, int64 before an embedding layer); None: it does not.
    dtype: str | None = None
    #: Several inputs of one column each, fed a request's columns by input name (Keras).
    by_column: bool = False

    @classmethod
    def of(
        cls, specs: Iterable[InputSpec], *, columns: bool = False, dtype: str | None = None
    ) -> ModelInputs:
        """``columns``: the framework feeds several one-column inputs a table's columns
        by name (``by_column``) rather than one array each."""
        specs = tuple(specs)
        by_column = columns and len(specs) > 1 and all(s.is_column for s in specs)
        return cls(specs, dtype, by_column)

    def __iter__(self) -> Iterator[InputSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, index: int) -> InputSpec:
        return self.specs[index]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def input_names(self) -> list[str]:
        """The inputs' names when the model takes several, each fed one array by name (the
        sample an .npz, a request one value per name); [] for a model of one input, or of
        inputs fed a table's columns."""
        return self.names if len(self.specs) > 1 and not self.by_column else []

    @property
    def dtypes(self) -> dict[str, str]:
        """Each input's dtype where the model fixes it, by name."""
        return {s.name: s.dtype for s in self.specs if s.dtype}

    @property
    def static_batch(self) -> int | None:
        """The batch size every input fixes, when they agree on one (a .pt2 exported
        without ``dynamic_shapes``); None when any size goes or the model does not say."""
        firsts = [s.shape[0] for s in self.specs if s.shape]
        if firsts and all(isinstance(f, int) for f in firsts) and len(set(firsts)) == 1:
            return firsts[0]
        return None

    @property
    def n_features(self) -> int | None:
        """Features per row of a model of one 2-D input of fixed width."""
        if len(self.specs) == 1:
            shape = self.specs[0].shape
            if shape is not None and len(shape) == 2 and isinstance(shape[1], int):
                return shape[1]
        return None
