//! Manifests: raw serde/schemars types, loading a directory, and validation into the model.
