"""TensorFlow / Keras: ``.keras`` zips, legacy ``.h5`` files and SavedModel folders.

Detection reads bytes only:

- ``.keras`` (Keras 3, also Keras 2.13+): a zip holding ``config.json`` with
  ``metadata.json`` / ``model.weights.h5`` (the probe's zip walk names it "keras-zip").
- legacy ``.h5``: the HDF5 signature, then a bounded search of the first
  ``H5_SEARCH_BYTES`` for the attribute names Keras writes on the root group
  (``model_config``, ``keras_version``). HDF5 attribute *values* are not at a fixed
  place (strings live in the global heap), but the names of a small group's
  attributes sit in its object header near the start of the file, which is evidence
  enough without h5py. An HDF5 file without them is claimed weakly (it may be a
  weights-only file, which ``load`` then refuses with a clear message).
- SavedModel: a folder holding ``saved_model.pb`` (and, usually, ``variables/``);
  this includes Keras 3 ``model.export()`` output.

The artifact keeps the user's own bytes: ``model.keras``, ``model.h5``, or the
SavedModel folder copied as ``saved_model/``. Keras files are loaded with
``compile=False`` (nothing of training is needed to serve) and in Keras's safe mode,
which refuses Python lambdas in the model; SavedModels are loaded with
``tf.saved_model.load`` and called through a serving signature (``serving_default``),
which needs no Python code at all.

The modules, by concern: ``plugin`` (the Framework), ``model`` (what ``load`` returns),
``files`` (what the bytes say: detection, the compile config, an HDF5 file's model),
``loading`` (Keras and SavedModel loads and the inputs they read) and ``facts`` (the
model's description). Each imports only the standard library at module level. The sample
is fed to the model by score.py itself (``mdreg.artifact.scoring``).
"""
