"""The model artifact as a thing: layout, runtime.yaml, schemas, samples, manifest, metadata,
ignore rules, which files ship, zipping and safe unzipping. The workflows that build and
move artifacts are in ``mdreg.flows``."""
