"""PyTorch: TorchScript archives, ``torch.export`` programs (``.pt2``), whole pickled
modules (``torch.save(model)``) and state_dicts rebuilt through ``--model-class``.

What goes into the artifact, and how score.py gets the model back:

=================  ===============================  =========================================
input              artifact                         score.py
=================  ===============================  =========================================
TorchScript        ``model.pt`` (the user's bytes)  ``torch.jit.load(map_location=device)``
``.pt2``           ``model.pt2`` (the user's bytes) ``torch.export.load`` + move to device
pickled module     ``model.pt`` + the model's code  ``torch.load(weights_only=True)`` with the
                                                    pickle's classes allow-listed by name
state_dict         ``model.pt`` + the model's code  ``Class()`` then
                                                    ``load_state_dict(torch.load(weights_only=True))``
=================  ===============================  =========================================

A pickled module needs the module that defines its class. ``--model-code FILE.py`` copies
that file next to score.py (under its own name, so ``import FILE`` works there) and maps
the pickle's references onto it, including classes that were defined in the training
script itself: those are pickled as ``__main__.Class``, a name that no other process can
resolve, so without ``--model-code`` such a file is refused with a message saying so.

Loading never unpickles more than it must: state_dicts and pickled modules are read with
``weights_only=True`` (torch's restricted unpickler), the module's classes passed to it by
the names the pickle uses. Only a module that holds other objects (a function stored as
an attribute, say) falls back to ``weights_only=False`` -- after mdreg's safety gate has
judged the pickle's globals, or the user passed ``--trust``. A ``.pt2`` archive can hold
nested ``torch.save`` files that ``torch.export.load`` unpickles with
``weights_only=False``; they are scanned here before anything is loaded.

Inputs are tensors. A tabular sample gets the usual one-column-per-feature schema; a
sample of higher rank (images: ``(N, C, H, W)``) is described by ``schema.tensor_schema``: one
column for the whole tensor, whose constraint ``$x.shape[1:] == (C, H, W)`` score.py
reads to accept a single item without its batch axis.

The modules, by concern: ``plugin`` (the Framework), ``model`` (what ``load`` returns),
``files`` (TorchScript, ``.pt2`` archives and their members), ``pickled`` (pickled modules,
their remapping onto the user's code, state_dicts), ``layers`` (the model's layers, for
its description) and ``inputs`` (its forward's inputs, dtypes and static batch, read
once). Each imports only the standard library at module level: torch is imported where it
is used. The sample is fed to the model by score.py itself (``mdreg.artifact.scoring``).
"""
