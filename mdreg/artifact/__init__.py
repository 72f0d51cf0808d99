"""The model artifact as a thing: layout, runtime.yaml, schemas, manifest, metadata, ignore rules, zip."""
